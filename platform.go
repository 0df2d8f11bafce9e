package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

// platform turns pipeline definitions into Dagger containers and services.
// It holds no logic of its own beyond that translation.
type platform struct {
	// ctx is the context of the one function call this platform serves.
	ctx     context.Context
	cfg     pipeline.Config
	source  *dagger.Directory
	secrets map[string]*dagger.Secret
	// runID changes on every call, so one-shot jobs (init, dbt, the CLI)
	// really run instead of being answered from Dagger's cache.
	runID string
	built map[string]*dagger.Service
	// done: one-shot jobs (init) that already succeeded in this call.
	done map[string]bool
	// db, when set, replaces the postgres service for one-shot jobs: the
	// database of a stack already running in another session. (Its data
	// volume is locked to that stack's server.)
	db *dagger.Service
}

func newPlatform(ctx context.Context, cfg pipeline.Config, source *dagger.Directory, now time.Time) *platform {
	secrets := map[string]*dagger.Secret{}
	for name, value := range pipeline.Secrets(cfg) {
		secrets[name] = dag.SetSecret("dataplatform-"+cfg.ProjectName+"-"+name, value)
	}
	return &platform{ctx: ctx, cfg: cfg, source: source, secrets: secrets,
		runID: fmt.Sprint(now.UnixNano()), built: map[string]*dagger.Service{}, done: map[string]bool{}}
}

// stack returns the gateway, whose bindings start every service in order.
// (Starting PostgreSQL and Valkey early with Service.Start, beside init,
// was tried: a service started from the function's own client is stopped
// minutes later, while the gateway still uses it.)
func (p *platform) stack(workers int, flower bool) (*dagger.Service, error) {
	return p.service(pipeline.HostGateway, workers, flower)
}

// service builds the named service of a stack, with everything it needs.
func (p *platform) service(name string, workers int, flower bool) (*dagger.Service, error) {
	stack, err := pipeline.Stack(p.cfg, workers, flower)
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.StartOrder(stack); err != nil {
		return nil, err
	}
	return p.build(stack, name)
}

func (p *platform) build(stack map[string]pipeline.Service, name string) (*dagger.Service, error) {
	if svc, ok := p.built[name]; ok {
		return svc, nil
	}
	def, ok := stack[name]
	if !ok {
		return nil, fmt.Errorf("no service %q", name)
	}
	ctr, err := p.container(def, stack)
	if err != nil {
		return nil, err
	}
	svc := ctr.AsService(dagger.ContainerAsServiceOpts{Args: def.Command()})
	if reached(stack, name) {
		// Its name resolves in the whole session, bound or not (Reaches).
		svc = svc.WithHostname(name)
	}
	p.built[name] = svc
	return svc, nil
}

// reached: some service of the stack calls this one by name without binding it.
func reached(stack map[string]pipeline.Service, name string) bool {
	for _, s := range stack {
		if slices.Contains(s.Reaches, name) {
			return true
		}
	}
	return false
}

// container applies a definition: image, env, secrets, volumes, project
// files, ports, and its needs (services bound by hostname, jobs finished).
func (p *platform) container(def pipeline.Service, stack map[string]pipeline.Service) (*dagger.Container, error) {
	ctr := dag.Container().From(def.Image)
	for _, kv := range def.SortedEnv() {
		ctr = ctr.WithEnvVariable(kv[0], kv[1])
	}
	for _, kv := range def.SortedSecretEnv() {
		ctr = ctr.WithSecretVariable(kv[0], p.secrets[kv[1]])
	}
	for _, kv := range def.SortedSecretFiles() {
		ctr = ctr.WithMountedSecret(kv[0], p.secrets[kv[1]], dagger.ContainerWithMountedSecretOpts{Owner: def.User})
	}
	for _, v := range def.Volumes {
		ctr = withVolume(ctr, v)
	}
	for _, m := range def.Mounts {
		if m.Optional {
			ok, err := p.source.Exists(p.ctx, m.Source)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		if m.Dir {
			ctr = ctr.WithDirectory(m.Path, p.source.Directory(m.Source), dagger.ContainerWithDirectoryOpts{Owner: def.User})
		} else {
			ctr = ctr.WithFile(m.Path, p.source.File(m.Source), dagger.ContainerWithFileOpts{Owner: def.User, Permissions: 0o755})
		}
	}
	for _, port := range def.Ports {
		ctr = ctr.WithExposedPort(port)
	}
	for _, need := range def.Needs {
		if need == pipeline.JobInit {
			// Init runs to success before this container is even defined (in
			// this very call: init never comes from cache).
			if err := p.runOnce(stack[need]); err != nil {
				return nil, err
			}
			continue
		}
		svc, err := p.build(stack, need)
		if err != nil {
			return nil, err
		}
		ctr = ctr.WithServiceBinding(need, svc)
	}
	if def.AsRoot != nil {
		// Never from cache: it works on volumes (e.g. makes missing keys
		// after a wipe), whose content is not part of Dagger's cache key.
		ctr = ctr.WithEnvVariable("DATAPLATFORM_RUN", p.runID).WithUser("0:0").WithExec(def.AsRoot)
	}
	if def.User != "" {
		ctr = ctr.WithUser(def.User)
	}
	return ctr, nil
}

// attach makes a running PostgreSQL (e.g. a host tunnel to the port of a
// stack running in another session) the database of this call's jobs. A
// relay puts it on postgres:5432 whatever port it listens on, so the
// connection settings stay the same.
func (p *platform) attach(ctx context.Context, db *dagger.Service) error {
	if db == nil {
		return nil
	}
	// A --db flag comes started; one from .env (a user default) does not.
	if _, err := db.Start(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "note: the --db / DB address does not start (%v): using the project's own PostgreSQL\n", err)
		return nil
	}
	ports, err := db.Ports(ctx)
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	if len(ports) == 0 {
		return fmt.Errorf("--db: the service exposes no port")
	}
	port, err := ports[0].Port(ctx)
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	relay := dag.Container().From(pipeline.SocatImage).
		WithServiceBinding("db", db).
		WithExposedPort(pipeline.PortPostgres).
		AsService(dagger.ContainerAsServiceOpts{Args: pipeline.Forward(pipeline.PortPostgres, "db", port)})
	// Nothing answering there (no stack running): this call's own PostgreSQL.
	code, err := dag.Container().From(p.cfg.PostgresImage).
		WithServiceBinding(pipeline.HostPostgres, relay).
		WithEnvVariable("DATAPLATFORM_RUN", p.runID).
		WithExec([]string{"pg_isready", "-q", "-h", pipeline.HostPostgres, "-t", "5"}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny}).
		ExitCode(ctx)
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "note: no PostgreSQL answers on the --db / DB address (port %d): using the project's own\n", port)
		return nil
	}
	p.db = relay
	return nil
}

// lockWait is how long a call waits for the project's PostgreSQL data before
// it concludes that another call (a running stack) holds it.
const lockWait = 5 * time.Second

// dataFree fails when another call holds the project's PostgreSQL data: a
// probe mounts its volume, which is locked to one container at a time, and
// would wait for as long as a running stack holds it. After lockWait the
// call says so and what to do, instead of waiting silently.
func (p *platform) dataFree(ctx context.Context) error {
	// The image is pulled and a container started once outside the timed
	// wait (a cached step afterwards): on a fresh engine the pull alone takes
	// longer than lockWait. From().Sync would resolve only the image's config.
	base := dag.Container().From(p.cfg.PostgresImage)
	if _, err := base.WithExec([]string{"true"}).Sync(ctx); err != nil {
		return err
	}
	probe := withVolume(base.WithEnvVariable("DATAPLATFORM_RUN", p.runID), p.cfg.PostgresVolume()).
		WithExec([]string{"true"})
	waited, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	if _, err := probe.Sync(waited); err != nil {
		if waited.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("the PostgreSQL data of project %q is in use by another call (a stack running with `dagger call up`?): "+
				"stop it first, or reach its database with --db tcp://localhost:%d (dbt, dbt-ci, airflow-cli)",
				p.cfg.ProjectName, p.cfg.PostgresPort)
		}
		return err
	}
	return nil
}

// jobBase is a one-shot definition's container, ready to run, with a fresh
// run id so its exec never comes from cache. What it needs comes from a
// stack of this call (one worker, no Flower) unless attach replaced it; a
// PostgreSQL of its own only when no other call holds the data.
func (p *platform) jobBase(def pipeline.Service) (*dagger.Container, error) {
	stack, err := pipeline.Stack(p.cfg, 1, false)
	if err != nil {
		return nil, err
	}
	if p.db != nil {
		p.built[pipeline.HostPostgres] = p.db
	} else if slices.Contains(def.Needs, pipeline.HostPostgres) && !p.done["data-free"] {
		if err := p.dataFree(p.ctx); err != nil {
			return nil, err
		}
		p.done["data-free"] = true
	}
	ctr, err := p.container(def, stack)
	if err != nil {
		return nil, err
	}
	return ctr.WithEnvVariable("DATAPLATFORM_RUN", p.runID), nil
}

// job returns the container after a run of a one-shot definition.
func (p *platform) job(def pipeline.Service) (*dagger.Container, error) {
	ctr, err := p.jobBase(def)
	if err != nil {
		return nil, err
	}
	return ctr.WithExec(def.Command()), nil
}

// runOnce runs a one-shot definition that services need, once per call, and
// fails with its output if it fails.
func (p *platform) runOnce(def pipeline.Service) error {
	if p.done[def.Name] {
		return nil
	}
	ctr, err := p.job(def)
	if err != nil {
		return err
	}
	if _, err := ctr.Sync(p.ctx); err != nil {
		return fmt.Errorf("%s: %w", def.Name, err)
	}
	p.done[def.Name] = true
	return nil
}

// run executes a one-shot definition and returns its combined output; on a
// non-zero exit the error carries that output.
func (p *platform) run(ctx context.Context, def pipeline.Service) (string, error) {
	base, err := p.jobBase(def)
	if err != nil {
		return "", err
	}
	out := base.WithExec(def.Command(), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := out.ExitCode(ctx)
	if err != nil {
		return "", err
	}
	stdout, err := out.Stdout(ctx)
	if err != nil {
		return "", err
	}
	if code == 0 {
		return stdout, nil
	}
	// On failure the logs on stderr usually hold the reason: show both.
	stderr, err := out.Stderr(ctx)
	if err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s exited with %d:\n%s", def.Name, code, strings.TrimRight(stdout+stderr, "\n"))
}

// wipe empties every data volume of the project, mounting each exactly as the
// services do (same key, sharing and owner: otherwise it is another volume).
func (p *platform) wipe(ctx context.Context) (string, error) {
	if err := p.cfg.CheckWipe(); err != nil {
		return "", err
	}
	if err := p.dataFree(ctx); err != nil {
		return "", err
	}
	ctr := dag.Container().From(p.cfg.PostgresImage).WithEnvVariable("DATAPLATFORM_RUN", p.runID)
	var report []string
	for _, v := range p.cfg.Volumes() {
		ctr = withVolume(ctr, v).
			WithExec([]string{"sh", "-c", `find "$0" -mindepth 1 -delete`, v.Path})
		report = append(report, "wiped "+v.Key)
	}
	if _, err := ctr.Sync(ctx); err != nil {
		return "", err
	}
	return strings.Join(report, "\n"), nil
}

// withVolume mounts a persistent volume; an exclusive one is locked to one
// container at a time, so two sessions never run a database on the same files.
func withVolume(ctr *dagger.Container, v pipeline.Volume) *dagger.Container {
	sharing := dagger.CacheSharingModeShared
	if v.Exclusive {
		sharing = dagger.CacheSharingModeLocked
	}
	return ctr.WithMountedCache(v.Path, dag.CacheVolume(v.Key),
		dagger.ContainerWithMountedCacheOpts{Sharing: sharing, Owner: v.Owner})
}
