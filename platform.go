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
	// held: who holds the project's data, once read (see holders).
	held map[string]pipeline.Holding
	// healthchecks: whether the engine reads image health checks, once
	// asked (see asService).
	healthchecks *bool
}

func newPlatform(ctx context.Context, cfg pipeline.Config, source *dagger.Directory, now time.Time) *platform {
	return &platform{ctx: ctx, cfg: cfg, source: source,
		runID: fmt.Sprint(now.UnixNano()), built: map[string]*dagger.Service{}, done: map[string]bool{}}
}

// secret is one secret value of the configuration, as a Dagger secret.
// They are made once a call, on first use: a secret name registered twice
// in one session keeps its first value, so nothing that changes a value
// (useRunningStack) may come after.
func (p *platform) secret(name string) *dagger.Secret {
	if p.secrets == nil {
		p.secrets = map[string]*dagger.Secret{}
		for n, value := range pipeline.Secrets(p.cfg) {
			p.secrets[n] = dag.SetSecret("dataplatform-"+p.cfg.ProjectName+"-"+n, value)
		}
	}
	return p.secrets[name]
}

// runEnv carries the run id: a step that must run on every call (it works
// on volumes, whose content is no part of Dagger's cache key, or on a live
// database) gets a value no earlier call had.
const runEnv = "DATAPLATFORM_RUN"

// fresh makes the container's next steps run again on this call.
func fresh(ctr *dagger.Container, runID string) *dagger.Container {
	return ctr.WithEnvVariable(runEnv, runID)
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
	svc, err := p.asService(ctr, def.Command())
	if err != nil {
		return nil, err
	}
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
		ctr = ctr.WithSecretVariable(kv[0], p.secret(kv[1]))
	}
	for _, kv := range def.SortedSecretFiles() {
		ctr = ctr.WithMountedSecret(kv[0], p.secret(kv[1]), dagger.ContainerWithMountedSecretOpts{Owner: def.User})
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
		ctr = fresh(ctr, p.runID).WithUser("0:0").WithExec(def.AsRoot)
	}
	if def.User != "" {
		ctr = ctr.WithUser(def.User)
	}
	return ctr, nil
}

// holders reads who holds the project's data now (see pipeline.Holders),
// once per call; it never waits on the data itself.
func (p *platform) holders(ctx context.Context) (map[string]pipeline.Holding, error) {
	if p.held != nil {
		return p.held, nil
	}
	def := pipeline.Holders(p.cfg)
	ctr, err := p.container(def, nil)
	if err != nil {
		return nil, err
	}
	out, err := fresh(ctr, p.runID).WithExec(def.Command()).Stdout(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding out whether project %q's stack runs: %w", p.cfg.ProjectName, err)
	}
	if p.held, err = pipeline.ParseHolders(out); err != nil {
		return nil, err
	}
	return p.held, nil
}

// useRunningStack makes the PostgreSQL of the project's running stack, if
// one runs, the database of this call's jobs: they reach it at its address
// on the engine's network, as they would reach their own.
func (p *platform) useRunningStack(ctx context.Context) error {
	held, err := p.holders(ctx)
	if err != nil {
		return err
	}
	if pg := held[pipeline.HostPostgres]; pg.Holder == pipeline.HolderStack {
		if p.secrets != nil {
			return fmt.Errorf("internal error: the database was chosen after the secrets were made")
		}
		p.cfg.DatabaseHost = pg.Address
		fmt.Fprintf(os.Stderr, "note: using the PostgreSQL of project %q's running stack (%s)\n", p.cfg.ProjectName, pg.Address)
	}
	return nil
}

// stackStopped fails when the project's stack runs: what would start a
// second server on its data (another up, init, the ELT check) says so at
// once instead of waiting for the data.
func (p *platform) stackStopped(ctx context.Context) error {
	held, err := p.holders(ctx)
	if err != nil {
		return err
	}
	for _, name := range []string{pipeline.HostPostgres, pipeline.HostValkey} {
		if h := held[name]; h.Holder == pipeline.HolderStack {
			return fmt.Errorf("the data of project %q is in use by its running stack (%s at %s, started by `dagger call up` or `dagger call %s`): "+
				"stop it first; dbt, dbt-ci, airflow-cli and shell use it as it runs", p.cfg.ProjectName, name, h.Address, name)
		}
	}
	return nil
}

// dataFree fails while any server (a stack's, or a one-shot call's own)
// holds the project's data: wipe never deletes data under a server.
func (p *platform) dataFree(ctx context.Context) error {
	if err := p.stackStopped(ctx); err != nil {
		return err
	}
	for name, h := range p.held {
		if h.Holder != "" {
			return fmt.Errorf("the data of project %q is in use by another call (its own %s at %s): wait for it to end", p.cfg.ProjectName, name, h.Address)
		}
	}
	return nil
}

// jobBase is a one-shot definition's container, ready to run, with a fresh
// run id so its exec never comes from cache. What it needs comes from a
// stack of this call (one worker, no Flower), whose PostgreSQL is held by
// this call (it waits while another call's holds the data), unless the
// call uses a running stack's (useRunningStack).
func (p *platform) jobBase(def pipeline.Service) (*dagger.Container, error) {
	stack, err := pipeline.Stack(p.cfg, 1, false)
	if err != nil {
		return nil, err
	}
	pg := stack[pipeline.HostPostgres]
	pg.HeldBy = pipeline.HolderCall
	stack[pipeline.HostPostgres] = pg
	if p.cfg.DatabaseHost != "" {
		def.Needs = slices.DeleteFunc(slices.Clone(def.Needs), func(n string) bool { return n == pipeline.HostPostgres })
	}
	ctr, err := p.container(def, stack)
	if err != nil {
		return nil, err
	}
	return fresh(ctr, p.runID), nil
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
	ctr := fresh(dag.Container().From(p.cfg.PostgresImage), p.runID)
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
