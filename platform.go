package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

// platform is one call of the module: its configuration, loaded and
// validated before anything starts, and the translation of plans
// (pipeline.Plan) into Dagger containers and services.
type platform struct {
	// ctx is the context of the one function call this platform serves.
	ctx    context.Context
	cfg    pipeline.Config
	source *dagger.Directory
	// runID changes on every call, so one-shot jobs (init, dbt, the CLI)
	// really run instead of being answered from Dagger's cache.
	runID string
	// secrets: Dagger secrets by their name, made once a call (see secret);
	// locked, as plans may be made on two goroutines at once (see plan).
	secrets   map[string]*dagger.Secret
	secretsMu sync.Mutex
	// held: who holds the project's data, once read (see holders).
	held map[string]pipeline.Holding
	// healthchecks: whether the engine reads image health checks, once
	// asked (see asService).
	healthchecks *bool
	// images: the project's Airflow image, by its base, once built (see
	// projectImage).
	images map[string]*dagger.Container
}

// load reads and validates the configuration: .env, --set and the secret
// arguments. Nothing starts before it; every problem is in its one error.
// (It runs in each function rather than once in New: the validation needs
// the secrets' values, which must never be stored in the module's object,
// whose fields Dagger keeps in the call's ID.)
func (m *DataPlatform) load(ctx context.Context, source *dagger.Directory) (*platform, error) {
	dotenv := ""
	if ok, err := source.Exists(ctx, ".env"); err != nil {
		return nil, err
	} else if ok {
		if dotenv, err = source.File(".env").Contents(ctx); err != nil {
			return nil, fmt.Errorf(".env: %w", err)
		}
	}
	settings := ""
	if ok, err := source.Exists(ctx, pipeline.SettingsFile); err != nil {
		return nil, err
	} else if ok {
		if settings, err = source.File(pipeline.SettingsFile).Contents(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", pipeline.SettingsFile, err)
		}
	}
	secrets := map[string]string{}
	for name, s := range m.secretArgs() {
		v, err := s.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		secrets[name] = strings.TrimRight(v, "\r\n")
	}
	cfg, err := pipeline.LoadConfig(ctx, pipeline.Input{Dotenv: dotenv, Set: m.Set, Secrets: secrets, Settings: settings})
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	return &platform{ctx: ctx, cfg: cfg, source: source, runID: fmt.Sprint(time.Now().UnixNano())}, nil
}

// secretArgs are the secret arguments given to the constructor, by
// variable: each secret row of the table names its field.
func (m *DataPlatform) secretArgs() map[string]*dagger.Secret {
	given := map[string]*dagger.Secret{}
	obj := reflect.ValueOf(m).Elem()
	for _, v := range pipeline.SecretVariables() {
		field := strings.ToUpper(v.Secret[:1]) + v.Secret[1:]
		if s, _ := obj.FieldByName(field).Interface().(*dagger.Secret); s != nil {
			given[v.Name] = s
		}
	}
	return given
}

// runEnv carries the run id: a step that must run on every call (it works
// on volumes, whose content is no part of Dagger's cache key, or on a live
// database) gets a value no earlier call had.
const runEnv = "DATAPLATFORM_RUN"

// fresh makes the container's next steps run again on this call.
func (p *platform) fresh(ctr *dagger.Container) *dagger.Container {
	return ctr.WithEnvVariable(runEnv, p.runID)
}

// run runs a one-shot container made by spec, with what it needs, and
// returns its output; on a non-zero exit the error carries the output.
func (p *platform) run(ctx context.Context, b pipeline.Beside, spec func(pipeline.Config) pipeline.Spec) (string, error) {
	ctr, s, err := p.job(ctx, b, spec)
	if err != nil {
		return "", err
	}
	out := ctr.WithExec(s.Command(), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
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
	return "", fmt.Errorf("%s exited with %d:\n%s", s.Name, code, strings.TrimRight(stdout+stderr, "\n"))
}

// job is a container made by spec, with what it needs of the stack
// started, ready for its command; b says what it does beside a running
// stack.
func (p *platform) job(ctx context.Context, b pipeline.Beside, spec func(pipeline.Config) pipeline.Spec) (*dagger.Container, pipeline.Spec, error) {
	return p.jobs(ctx, b, func(c pipeline.Config) []pipeline.Spec { return []pipeline.Spec{spec(c)} })
}

// jobs is job of several containers not part of the stack: the last one
// is returned, ready for its command; the others are what it needs.
func (p *platform) jobs(ctx context.Context, b pipeline.Beside, specs func(pipeline.Config) []pipeline.Spec) (*dagger.Container, pipeline.Spec, error) {
	plan, err := p.plan(ctx, b, pipeline.Options{Holder: pipeline.HolderCall}, func(o pipeline.Options) (pipeline.Plan, error) {
		return pipeline.JobsPlan(p.cfg, o, specs)
	})
	if err != nil {
		return nil, pipeline.Spec{}, err
	}
	ctr, err := p.start(plan)
	return ctr, plan.Specs[plan.Target], err
}

// start walks a plan's stages: each service is built (Dagger starts it when
// something binds it, and waits for its ports), the jobs of a stage run at
// once, each to success before anything of a later stage is built. It
// returns the target's container, ready for its command.
func (p *platform) start(plan pipeline.Plan) (*dagger.Container, error) {
	services := map[string]*dagger.Service{}
	var target *dagger.Container
	for _, stage := range plan.Stages {
		jobs, ctx := errgroup.WithContext(p.ctx)
		for _, name := range stage {
			spec := plan.Specs[name]
			ctr, err := p.container(plan, spec, services)
			if err != nil {
				return nil, err
			}
			switch {
			case name == plan.Target:
				target = ctr
			case spec.Kind == pipeline.Job:
				jobs.Go(func() error {
					if _, err := ctr.WithExec(spec.Command()).Sync(ctx); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					return nil
				})
			default:
				svc, err := p.asService(ctr, spec.Command())
				if err != nil {
					return nil, err
				}
				if spec.Named {
					// Its name resolves in the whole session, bound or not.
					svc = svc.WithHostname(name)
				}
				services[name] = svc
			}
		}
		if err := jobs.Wait(); err != nil {
			return nil, err
		}
	}
	return target, nil
}

// container applies a spec: image, env, secrets, volumes, project files,
// ports, the services it needs bound by their names, its root step.
func (p *platform) container(plan pipeline.Plan, spec pipeline.Spec, services map[string]*dagger.Service) (*dagger.Container, error) {
	ctr := dag.Container().From(spec.Image)
	if spec.ProjectImage {
		var err error
		if ctr, err = p.projectImage(p.ctx, spec.Image); err != nil {
			return nil, err
		}
		if ctr, err = p.withSteps(p.ctx, ctr, spec.ImageSteps); err != nil {
			return nil, err
		}
	}
	for _, kv := range spec.SortedEnv() {
		ctr = ctr.WithEnvVariable(kv[0], kv[1])
	}
	for _, kv := range spec.SortedSecretEnv() {
		ctr = ctr.WithSecretVariable(kv[0], p.secret(plan, kv[1]))
	}
	for _, kv := range spec.SortedSecretFiles() {
		ctr = ctr.WithMountedSecret(kv[0], p.secret(plan, kv[1]), dagger.ContainerWithMountedSecretOpts{Owner: spec.User})
	}
	for _, v := range spec.Volumes {
		ctr = withVolume(ctr, v)
	}
	for _, m := range spec.Mounts {
		from, err := p.mountSource(m)
		if err != nil {
			return nil, err
		}
		switch {
		case from == nil: // an optional file the project lacks
		case m.Dir:
			ctr = ctr.WithDirectory(m.Path, from.Directory(m.Source), dagger.ContainerWithDirectoryOpts{Owner: spec.User})
		default:
			ctr = ctr.WithFile(m.Path, from.File(m.Source), dagger.ContainerWithFileOpts{Owner: spec.User, Permissions: 0o755})
		}
	}
	for _, port := range spec.Ports {
		ctr = ctr.WithExposedPort(port, dagger.ContainerWithExposedPortOpts{ExperimentalSkipHealthcheck: spec.BootsLate})
	}
	for _, need := range spec.Needs {
		if svc, ok := services[need]; ok {
			ctr = ctr.WithServiceBinding(need, svc)
		}
	}
	if spec.AsRoot != nil {
		// Never from cache: it works on volumes (e.g. makes missing keys
		// after a wipe), whose content is not part of Dagger's cache key.
		ctr = p.fresh(ctr).WithUser("0:0").WithExec(spec.AsRoot)
	}
	if spec.User != "" {
		ctr = ctr.WithUser(spec.User)
	}
	if spec.Kind == pipeline.Job {
		ctr = p.fresh(ctr)
	}
	return ctr, nil
}

// mountSource is the directory a mount copies from: the project, or the
// module's own source (never the project's copy of a module file); nil
// for an optional file the project lacks.
func (p *platform) mountSource(m pipeline.Mount) (*dagger.Directory, error) {
	if m.From == pipeline.FromModule {
		return dag.CurrentModule().Source(), nil
	}
	if !m.Optional && m.From == pipeline.FromProject {
		return p.source, nil
	}
	ok, err := p.source.Exists(p.ctx, m.Source)
	switch {
	case err != nil:
		return nil, err
	case ok:
		return p.source, nil
	case m.From == pipeline.FromProjectOrModule:
		return dag.CurrentModule().Source(), nil
	}
	return nil, nil
}

// secret is one secret value of a plan, as a Dagger secret. Its name is
// the call's own (the run id): a name given to SetSecret stands for one
// value in the engine, and a container this call returns (shell) is run
// after it, by name; a value of another call (another password, another
// database address) must never answer for it. Jobs never come from cache
// and services are never cached, so a name per call costs nothing.
func (p *platform) secret(plan pipeline.Plan, name string) *dagger.Secret {
	key := "dataplatform-" + plan.Config.ProjectName + "-" + name + "-" + p.runID
	if db := plan.Config.DatabaseHost(); db != pipeline.HostPostgres {
		key += "-on-" + db
	}
	p.secretsMu.Lock()
	defer p.secretsMu.Unlock()
	if p.secrets == nil {
		p.secrets = map[string]*dagger.Secret{}
	}
	if s, ok := p.secrets[key]; ok {
		return s
	}
	s := dag.SetSecret(key, plan.Secrets()[name])
	p.secrets[key] = s
	return s
}

// withVolume mounts a persistent volume; an exclusive one is locked to one
// container at a time, so two sessions never run a database on the same
// files. Every mount of a volume goes through here, with the same sharing
// and no owner: Dagger v0.21 keys a volume by those too.
func withVolume(ctr *dagger.Container, v pipeline.Volume) *dagger.Container {
	sharing := dagger.CacheSharingModeShared
	if v.Exclusive {
		sharing = dagger.CacheSharingModeLocked
	}
	return ctr.WithMountedCache(v.Path, dag.CacheVolume(v.Key), dagger.ContainerWithMountedCacheOpts{Sharing: sharing})
}
