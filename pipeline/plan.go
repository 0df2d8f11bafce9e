package pipeline

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ProjectEnv names the project in every container of a plan, as compose's
// project label does: a stack's processes can be told from another's.
const ProjectEnv = "DATAPLATFORM_PROJECT"

// Options say what a call's plan starts besides its target.
type Options struct {
	// Workers is the number of Celery workers (1-16) and Flower says
	// whether Flower runs, when the target needs the whole stack.
	Workers int
	Flower  bool
	// RemoteWorkers puts Valkey on the host (VALKEY_PORT), for workers of
	// other machines (Node); they reach PostgreSQL and the api-server
	// through the ports the stack has on the host anyway.
	RemoteWorkers bool
	// Node, when set, makes the plan a worker node's instead of the
	// stack's: Workers Celery workers on this machine that join the stack
	// of another.
	Node *Node
	// Database is the address of a running stack's PostgreSQL the call
	// uses instead of starting its own (see the data lock); "" for its own.
	Database string
	// DbtServer is the address of a running stack's warm dbt the call's
	// dbt commands go through (see DbtCommand); "" for a dbt of its own.
	DbtServer string
	// Holder is who holds the data of the plan's PostgreSQL: HolderStack
	// (up and the services, which other calls may use) or HolderCall (a
	// one-shot call's own, which other calls wait for).
	Holder string
}

// Plan is what one call starts, and in which order: its target and every
// container the target needs, in stages. A stage starts once the stages
// before it are ready: its services' ports answer, its jobs have succeeded.
type Plan struct {
	Target string
	Specs  map[string]Spec
	Stages [][]string
	// Config is the configuration the specs were made from (with the
	// plan's database, or a worker node's stack and project): the secrets
	// come from it (Secrets).
	Config Config
}

// StackPlan plans one container of the stack, target (the gateway for
// the whole stack), with everything it needs.
func StackPlan(c Config, o Options, target string) (Plan, error) {
	return compile(c, o, target, nil)
}

// JobPlan plans a container that is not part of the stack (a one-shot
// job, or a service such as dbt-docs), made by spec from the plan's
// configuration, with what it needs of the stack.
func JobPlan(c Config, o Options, spec func(Config) Spec) (Plan, error) {
	return JobsPlan(c, o, func(c Config) []Spec { return []Spec{spec(c)} })
}

// JobsPlan is JobPlan of containers not part of the stack: the last one
// is the target, the others what it needs.
func JobsPlan(c Config, o Options, specs func(Config) []Spec) (Plan, error) {
	if o.Workers == 0 {
		o.Workers = 1 // what a job needs of the stack runs one worker
	}
	return compile(c, o, "", specs)
}

func compile(c Config, o Options, target string, extra func(Config) []Spec) (Plan, error) {
	if o.Workers < 1 || o.Workers > 16 {
		return Plan{}, fmt.Errorf("workers: %d is out of range (1-16)", o.Workers)
	}
	if o.Flower && strings.Contains(c.AirflowWWWPassword, ",") {
		// Flower reads its logins as a comma-separated list.
		return Plan{}, fmt.Errorf("AIRFLOW_WWW_PASSWORD: Flower's login (the admin's) cannot hold a ','; change the password or run without --flower")
	}
	if o.RemoteWorkers {
		if err := c.checkShared("--remote-workers"); err != nil {
			return Plan{}, err
		}
	}
	if o.Holder == "" {
		o.Holder = HolderStack
	}
	c.database, c.dbtServer = o.Database, o.DbtServer
	var all []Spec
	if o.Node != nil {
		if err := o.Node.check(); err != nil {
			return Plan{}, err
		}
		if err := c.checkShared("worker-node"); err != nil {
			return Plan{}, err
		}
		c = o.Node.config(c)
		all = o.Node.specs(c, o.Workers)
	} else {
		all = stack(c, o)
	}
	if extra != nil {
		more := extra(c)
		target = more[len(more)-1].Name
		all = append(all, more...)
	}
	specs := map[string]Spec{}
	for _, s := range all {
		s = s.clone()
		if o.Database != "" {
			// The running stack's PostgreSQL, at its address: nothing to
			// bind; its init has run.
			s.Needs = slices.DeleteFunc(s.Needs, func(n string) bool { return n == HostPostgres || n == JobInit })
			if s.Name == HostPostgres {
				continue
			}
		}
		if s.Holds != "" {
			s.HeldBy = o.Holder
		}
		if s.Restart {
			s = keepingOutput(c, s)
		}
		s.Env[ProjectEnv] = c.ProjectName
		specs[s.Name] = withScripts(s)
	}
	if _, ok := specs[target]; !ok {
		return Plan{}, fmt.Errorf("no container %q in the stack", target)
	}
	needed := map[string]bool{}
	var need func(name string)
	need = func(name string) {
		if needed[name] {
			return
		}
		needed[name] = true
		for _, n := range append(slices.Clone(specs[name].Needs), specs[name].Reaches...) {
			need(n)
		}
	}
	need(target)
	for name := range specs {
		if !needed[name] {
			delete(specs, name)
		}
	}
	for _, s := range specs {
		for _, r := range s.Reaches {
			if named, ok := specs[r]; ok {
				named.Named = true
				specs[r] = named
			}
		}
	}
	stages, err := StartOrder(specs)
	if err != nil {
		return Plan{}, err
	}
	// A job on the way (init) waits for every service of the stages before
	// it, not only those it uses: binding them starts them all at once
	// (Valkey beside PostgreSQL, rather than after init).
	var earlier []string
	for _, stage := range stages {
		for _, name := range stage {
			if s := specs[name]; s.Kind == Job && name != target {
				for _, e := range earlier {
					if !slices.Contains(s.Needs, e) {
						s.Needs = append(s.Needs, e)
					}
				}
				specs[name] = s
			}
		}
		for _, name := range stage {
			if specs[name].Kind == Service {
				earlier = append(earlier, name)
			}
		}
	}
	return Plan{Target: target, Specs: specs, Stages: stages, Config: c}, nil
}

// stack is every container of `up`: the spec's compose services with
// o.Workers Celery workers and, when asked, Flower; the one-shot init; and
// the gateway, which needs every long-running one.
func stack(c Config, o Options) []Spec {
	api := APIServer(c)
	if o.RemoteWorkers {
		// It signs its requests for a worker node's task logs (see logServerKey).
		api = withCredentials(c, api, SecretLogServerKey)
	}
	all := []Spec{Postgres(c), Valkey(c), Init(c), DbtPrepare(c), DbtServer(c), api, Scheduler(c), DagProcessor(c), Triggerer(c), Live(c)}
	gw := Gateway(c, o)
	if c.Settings != nil {
		all = append(all, ApplySettings(c))
		gw.Needs = append(gw.Needs, JobSettings) // up is up once they are applied
	}
	for i := 1; i <= o.Workers; i++ {
		all = append(all, Worker(c, i))
	}
	if o.Flower {
		all = append(all, Flower(c))
	}
	return withGateway(all, gw)
}

// withGateway adds gw to all, needing every long-running container: starting
// it starts them all.
func withGateway(all []Spec, gw Spec) []Spec {
	for _, s := range all {
		if s.Kind == Service {
			gw.Needs = append(gw.Needs, s.Name)
		}
	}
	return append(all, gw)
}

// StartOrder groups specs into stages: each starts once everything it
// needs (previous stages) is ready. It fails on a missing or circular need.
func StartOrder(specs map[string]Spec) ([][]string, error) {
	stage := map[string]int{}
	var visit func(name string, path []string) (int, error)
	visit = func(name string, path []string) (int, error) {
		if st, ok := stage[name]; ok {
			return st, nil
		}
		if slices.Contains(path, name) {
			return 0, fmt.Errorf("circular start order: %v", append(path, name))
		}
		s, ok := specs[name]
		if !ok {
			return 0, fmt.Errorf("%s needs %q, which is not in the plan", path[len(path)-1], name)
		}
		for _, r := range s.Reaches {
			if _, ok := specs[r]; !ok {
				return 0, fmt.Errorf("%s reaches %q, which is not in the plan", name, r)
			}
		}
		st := 0
		for _, n := range s.Needs {
			ns, err := visit(n, append(path, name))
			if err != nil {
				return 0, err
			}
			st = max(st, ns+1)
		}
		stage[name] = st
		return st, nil
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	var order [][]string
	for _, n := range names {
		st, err := visit(n, nil)
		if err != nil {
			return nil, err
		}
		for len(order) <= st {
			order = append(order, nil)
		}
		order[st] = append(order[st], n)
	}
	return order, nil
}

// Secrets are the plan's secret values, by name (see Secrets).
func (p Plan) Secrets() map[string]string { return Secrets(p.Config) }
