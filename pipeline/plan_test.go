package pipeline

import (
	"slices"
	"strings"
	"testing"
)

// A plan holds its target and what it needs, nothing more: a dbt call
// starts PostgreSQL alone, the scheduler the databases, init and the dbt
// job.
func TestPlanHoldsWhatItsTargetNeeds(t *testing.T) {
	c := mustDefault(t)
	dbt, err := JobPlan(c, Options{}, func(c Config) Spec { return Dbt(c, []string{"test"}) })
	if err != nil {
		t.Fatal(err)
	}
	if got := dbt.Stages; len(got) != 2 || !slices.Equal(got[0], []string{HostPostgres}) || !slices.Equal(got[1], []string{"dbt"}) {
		t.Errorf("dbt's plan: %v", got)
	}
	if dbt.Specs[HostPostgres].HeldBy != HolderStack || dbt.Target != "dbt" {
		t.Errorf("dbt's plan: target %q, postgres held by %q", dbt.Target, dbt.Specs[HostPostgres].HeldBy)
	}
	sched, err := StackPlan(c, Options{Workers: 1}, "airflow-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{HostPostgres, HostValkey}, {JobInit, JobDbtPrepare}, {"airflow-scheduler"}}
	if !slices.EqualFunc(sched.Stages, want, slices.Equal) {
		t.Errorf("the scheduler's plan: %v, want %v", sched.Stages, want)
	}
	// Init waits for Valkey too, so that it starts beside PostgreSQL.
	if needs := sched.Specs[JobInit].Needs; !slices.Contains(needs, HostValkey) || !slices.Contains(needs, HostPostgres) {
		t.Errorf("init needs %v, want both of stage 0", needs)
	}
	if _, err := StackPlan(c, Options{Workers: 1}, "nope"); err == nil || !strings.Contains(err.Error(), `no container "nope"`) {
		t.Errorf("an unknown target: %v", err)
	}
}

// Beside a running stack a call uses its PostgreSQL: the plan has no
// PostgreSQL of its own, binds none, and every connection names the
// running one's address; its own is held by the call otherwise.
func TestPlanOnARunningStacksDatabase(t *testing.T) {
	c := mustDefault(t)
	cli, err := JobPlan(c, Options{Database: "10.87.0.9"}, func(c Config) Spec { return CLI(c, []string{"dags", "list"}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, own := cli.Specs[HostPostgres]; own || len(cli.Stages) != 1 || len(cli.Specs["airflow-cli"].Needs) != 0 {
		t.Errorf("beside a stack, the CLI's plan: %v, needs %v", cli.Stages, cli.Specs["airflow-cli"].Needs)
	}
	if url := cli.Secrets()[SecretSQLAlchemyConn]; url != "postgresql+psycopg2://airflow:airflow@10.87.0.9:5432/airflow" {
		t.Errorf("the metadata URL beside a stack: %q", url)
	}
	dbt, _ := JobPlan(c, Options{Database: "10.87.0.9"}, func(c Config) Spec { return Dbt(c, nil) })
	if host := dbt.Specs["dbt"].Env["DBT_DB_HOST"]; host != "10.87.0.9" {
		t.Errorf("dbt's host beside a stack: %q", host)
	}
	own, _ := JobPlan(c, Options{Holder: HolderCall}, func(c Config) Spec { return Dbt(c, nil) })
	if own.Specs[HostPostgres].HeldBy != HolderCall || own.Secrets()[SecretAnalyticsConn] != "postgresql://dbt:changeme@postgres:5432/analytics" {
		t.Errorf("a call's own PostgreSQL: held by %q", own.Specs[HostPostgres].HeldBy)
	}
	if Secrets(c)[SecretSQLAlchemyConn] != "postgresql+psycopg2://airflow:airflow@postgres:5432/airflow" {
		t.Error("planning changed the configuration it was given")
	}
}

// A service some other container reaches by name is named in the plan, so
// its name resolves there without a binding (the api-server for the
// workers, the warm dbt for the live receiver); the others are not.
func TestPlanNamesWhatIsReached(t *testing.T) {
	for name, s := range stackSpecs(t, mustDefault(t), 2, false) {
		if s.Named != (name == HostAPIServer || name == HostDbtServer) {
			t.Errorf("%s: named %v", name, s.Named)
		}
	}
}

// Nothing waits for the Airflow services' ports (they answer 10-20 s after
// start): only the gateway binds them, and the gateway opens the host
// ports at once. The databases are waited for: init binds them and needs
// them answering. Every container of every function is checked.
func TestOnlyTheGatewayBindsWhatBootsLate(t *testing.T) {
	c := mustDefault(t)
	stack := stackSpecs(t, c, 2, true)
	late := map[string]bool{}
	for name, s := range stack {
		if s.BootsLate {
			late[name] = true
		}
	}
	for _, name := range []string{HostAPIServer, "airflow-scheduler", "airflow-worker-1", HostFlower} {
		if !late[name] {
			t.Errorf("%s: waited for by its binders", name)
		}
	}
	for _, name := range []string{HostPostgres, HostValkey, HostLive, HostGateway} {
		if late[name] {
			t.Errorf("%s: not waited for, but init or the host ports need it answering", name)
		}
	}
	for _, s := range everySpec(t, c) {
		for _, n := range s.Needs {
			if late[n] && s.Name != HostGateway {
				t.Errorf("%s binds %s, which nothing waits for", s.Name, n)
			}
		}
	}
}

// Every container gets the scripts and names its project.
func TestPlanGivesEveryContainerTheScripts(t *testing.T) {
	c := mustDefault(t)
	for name, s := range stackSpecs(t, c, 1, true) {
		if !slices.Contains(s.Mounts, scriptsMount()) || s.Env[ProjectEnv] != c.ProjectName {
			t.Errorf("%s: mounts %v, project %q", name, s.Mounts, s.Env[ProjectEnv])
		}
	}
}

// A plan says which data its servers would hold: only that data, held by a
// running stack, makes a call that starts servers refuse (postgres beside
// a running valkey is no second server on any data).
func TestPlanSaysWhichDataItHolds(t *testing.T) {
	c := mustDefault(t)
	stack := func(target string) func() (Plan, error) {
		return func() (Plan, error) { return StackPlan(c, Options{Workers: 1}, target) }
	}
	job := func(o Options, spec func(Config) Spec) func() (Plan, error) {
		return func() (Plan, error) { return JobPlan(c, o, spec) }
	}
	cli := func(c Config) Spec { return CLI(c, []string{"version"}) }
	for name, tc := range map[string]struct {
		plan func() (Plan, error)
		want []string
	}{
		// The warm dbt holds its place as the servers hold their data.
		"up":                       {stack(HostGateway), []string{HostDbtServer, HostPostgres, HostValkey}},
		"postgres":                 {stack(HostPostgres), []string{HostPostgres}},
		"valkey":                   {stack(HostValkey), []string{HostValkey}},
		"init":                     {job(Options{}, Init), []string{HostPostgres}},
		"airflow-cli, own data":    {job(Options{}, cli), []string{HostPostgres}},
		"airflow-cli beside stack": {job(Options{Database: "10.87.0.9"}, cli), nil},
		"wipe":                     {job(Options{}, Wipe), nil},
	} {
		p, err := tc.plan()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := p.Held(); !slices.Equal(got, tc.want) {
			t.Errorf("%s holds %v, want %v", name, got, tc.want)
		}
	}
}
