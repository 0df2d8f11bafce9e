package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Each container receives only the credentials its process needs; no
// secret of one service is in another's definition beyond this list. The
// table is docs/security.md's list: keep both in step.
func TestEachServiceGetsOnlyItsOwnSecrets(t *testing.T) {
	const (
		sql      = SecretSQLAlchemyConn
		broker   = SecretBrokerURL
		results  = SecretResultBackend
		conn     = SecretAnalyticsConn
		fernet   = SecretFernetKey + " (generated)"
		jwt      = SecretJWTSecret + " (generated)"
		userConn = "env-airflow-conn-warehouse"
		logKey   = SecretLogServerKey
		liveKey  = SecretLiveKey + " (generated)"
	)
	want := map[string][]string{
		HostPostgres:            {SecretPostgresPassword, SecretAirflowDBPassword, SecretDbtDBPassword},
		HostValkey:              {SecretValkeyPassword, SecretValkeyConf},
		JobInit:                 {sql, SecretWWWPassword, fernet, jwt, liveKey}, // makes the keys
		HostAPIServer:           {sql, fernet, jwt, conn, userConn},             // logKey too with --remote-workers (TestRemoteWorkersOpenOnlyValkey)
		"airflow-scheduler":     {sql, broker, results, fernet, jwt},            // signs the tasks' tokens
		"airflow-dag-processor": {sql, fernet, conn, userConn},
		"airflow-triggerer":     {sql, fernet, conn, userConn},
		"airflow-worker-1":      {sql, broker, results, conn, userConn}, // a worker node's too
		// A worker node's (everySpec has them too).
		JobRemoteCheck:  {sql, broker},
		HostLogServer:   {logKey},
		HostFlower:      {sql, broker, SecretFlowerAuth},
		HostGateway:     nil,
		HostLive:        {liveKey}, // a key of its own, never a password
		"airflow-cli":   {sql, broker, results, fernet, conn, userConn},
		"airflow-shell": {sql, broker, results, fernet, conn, userConn},
		"dbt":           {SecretDbtDBPassword},
		"dbt-ci":        {SecretDbtDBPassword},
		JobDbtPrepare:   {SecretDbtDBPassword}, // dbt parse renders the profile
		HostDbtServer:   {SecretDbtDBPassword}, // the dbt role's own, nothing else
		"dbt-docs":      {SecretDbtDBPassword},
		"elt-check":     {SecretDbtDBPassword, SecretWWWPassword},
		"sync":          {sql, conn, userConn}, // parses the DAGs
		"dag-check":     {sql, conn, userConn},
		"find-holders":  nil,
		"logs":          nil,
		"wipe":          {fernet, jwt, liveKey}, // mounts every volume, to empty it
		"live-key":      {liveKey},
	}
	c, err := load(t, "AIRFLOW_CONN_WAREHOUSE=postgresql://u:p@db/w")
	if err != nil {
		t.Fatal(err)
	}
	secrets := Secrets(c)
	for _, s := range everySpec(t, c) {
		if s.Name == "airflow-worker-2" {
			s.Name = "airflow-worker-1" // the same list
		}
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("%s: not in the list", s.Name)
			continue
		}
		w = slices.Clone(w)
		slices.Sort(w)
		if got := s.Credentials(); !slices.Equal(got, w) {
			t.Errorf("%s receives %v, its list is %v", s.Name, got, w)
		}
		for _, name := range s.Credentials() {
			if _, ok := secrets[name]; !ok && !strings.HasSuffix(name, " (generated)") {
				t.Errorf("%s: secret %q has no value", s.Name, name)
			}
		}
	}
	// DAG code runs in the workers, the dag-processor and the triggerer:
	// never with the key that signs API tokens.
	stack := stackSpecs(t, c, 1, false)
	for _, name := range []string{"airflow-worker-1", "airflow-dag-processor", "airflow-triggerer"} {
		if slices.Contains(stack[name].Credentials(), jwt) {
			t.Errorf("%s can sign API tokens", name)
		}
	}
}

// Flower asks for a login: the admin's user and password, from a secret.
func TestFlowerBehindALogin(t *testing.T) {
	c := mustDefault(t)
	f := Flower(c)
	if f.SecretEnv["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] != SecretFlowerAuth || Secrets(c)[SecretFlowerAuth] != "airflow:airflow" {
		t.Errorf("flower login: %v", f.SecretEnv)
	}
	if _, open := f.Env["FLOWER_UNAUTHENTICATED_API"]; open {
		t.Error("Flower's API is opened anonymously")
	}
	comma, _ := load(t, "AIRFLOW_WWW_PASSWORD=a,b")
	if _, err := StackPlan(comma, Options{Workers: 1, Flower: true}, HostGateway); err == nil || !strings.Contains(err.Error(), "AIRFLOW_WWW_PASSWORD: Flower") {
		t.Errorf("a comma in Flower's password: %v", err)
	}
	if _, err := StackPlan(comma, Options{Workers: 1}, HostGateway); err != nil {
		t.Errorf("a comma refused without Flower: %v", err)
	}
}

// A postmaster.pid found when PostgreSQL's container starts is stale and
// removed; on a restart inside the same container it is kept, so a new
// postmaster never starts beside a live one. The container's real command
// runs here, with a stand-in for the image's entrypoint.
func TestStalePostmasterPidRemovedOnlyInANewContainer(t *testing.T) {
	dir := t.TempDir()
	pgdata := filepath.Join(dir, "data")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{pgdata, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The stand-in entrypoint notes whether a pid file is there, leaves one
	// (as a crashed postmaster does) and exits.
	entry := `#!/bin/sh
if [ -e "$PGDATA/postmaster.pid" ]; then echo kept >> "$PGDATA/starts"; else echo none >> "$PGDATA/starts"; fi
echo 4242 > "$PGDATA/postmaster.pid"
exit 1
`
	if err := os.WriteFile(filepath.Join(bin, "docker-entrypoint.sh"), []byte(entry), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pgdata, "postmaster.pid"), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err) // left by a killed session
	}
	cmd := onHost(t, Postgres(mustDefault(t)), PGData, pgdata)
	run := exec.Command(cmd[0], cmd[1:]...)
	run.Env = append(os.Environ(), "PGDATA="+pgdata, "PATH="+bin+":"+os.Getenv("PATH"),
		"RESTART_QUICK=30", "RESTART_TRIES=1", RunDirEnv+"="+t.TempDir())
	out, err := run.CombinedOutput()
	if err == nil {
		t.Fatalf("the failing stand-in did not fail the service:\n%s", out)
	}
	starts, _ := os.ReadFile(filepath.Join(pgdata, "starts"))
	if string(starts) != "none\nkept\n" {
		t.Errorf("starts saw the pid file as %q, want none (new container) then kept (restart)\n%s", starts, out)
	}
}

// On a data directory that exists, PostgreSQL's start gives the three roles
// the passwords of .env first (in single-user mode, before any connection),
// quoting any character; a role that is missing stops the start with what
// to do. Stand-ins for postgres and setpriv record what they are given.
func TestRolesGetThePasswordsOfDotenv(t *testing.T) {
	dir := t.TempDir()
	pgdata, bin := filepath.Join(dir, "data"), filepath.Join(dir, "bin")
	for _, d := range []string{pgdata, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(pgdata, "PG_VERSION"), []byte("16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stubs := map[string]string{
		// postgres --single: keep the SQL and the arguments; fail on request.
		"postgres": `#!/bin/sh
echo "$*" > "$PGDATA/args"; cat > "$PGDATA/sql"
[ -z "${FAIL_ROLE:-}" ] || echo "ERROR:  role \"$FAIL_ROLE\" does not exist"`,
		"setpriv":              "#!/bin/sh\nwhile [ \"${1#--}\" != \"$1\" ]; do shift; done\nexec \"$@\"",
		"docker-entrypoint.sh": "#!/bin/sh\necho server-started",
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PGDATA="+pgdata, "PATH="+bin+":"+os.Getenv("PATH"),
		"POSTGRES_USER=app", "AIRFLOW_DB_USER=airflow", "DBT_DB_USER=dbt",
		"POSTGRES_PASSWORD=it's a \"new\" one $HOME \\x", "AIRFLOW_DB_PASSWORD=a@b/c:d%41", "DBT_DB_PASSWORD=plain")
	run := func(extra ...string) (string, error) {
		cmd := exec.Command("sh", "scripts/postgres-start.sh")
		cmd.Env = append(env, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "server-started") {
		t.Fatalf("start failed: %v\n%s", err, out)
	}
	sql, _ := os.ReadFile(filepath.Join(pgdata, "sql"))
	for _, want := range []string{
		`ALTER ROLE "app" PASSWORD 'it''s a "new" one $HOME \x';`,
		`ALTER ROLE "airflow" PASSWORD 'a@b/c:d%41';`,
		`ALTER ROLE "dbt" PASSWORD 'plain';`,
	} {
		if !strings.Contains(string(sql), want+"\n\n") {
			t.Errorf("SQL lacks %s:\n%s", want, sql)
		}
	}
	if args, _ := os.ReadFile(filepath.Join(pgdata, "args")); !strings.Contains(string(args), "--single") ||
		!strings.Contains(string(args), "log_min_error_statement=panic") || strings.Contains(string(args), "new") {
		t.Errorf("postgres arguments: %s", args)
	}
	out, err = run("FAIL_ROLE=airflow")
	if err == nil || strings.Contains(out, "server-started") {
		t.Fatalf("a missing role did not stop the start:\n%s", out)
	}
	for _, want := range []string{`role "airflow" does not exist`, "ALTER ROLE old RENAME TO new", "dagger call wipe"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "a@b/c") {
		t.Errorf("a password in the error output:\n%s", out)
	}
}

// Each password still at the spec's default is named once, with the way out.
func TestDefaultPasswordsWarned(t *testing.T) {
	c, err := load(t, "POSTGRES_PASSWORD=mine\nAIRFLOW_WWW_PASSWORD=airflow")
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings, "\n")
	for _, name := range []string{"VALKEY_PASSWORD", "AIRFLOW_DB_PASSWORD", "DBT_DB_PASSWORD", "AIRFLOW_WWW_PASSWORD"} {
		if strings.Count(w, name+" is the spec's default password") != 1 || !strings.Contains(w, "--"+strings.ToLower(strings.ReplaceAll(name, "_", "-"))+" env://VAR") {
			t.Errorf("no single warning for %s:\n%s", name, w)
		}
	}
	if strings.Contains(w, "POSTGRES_PASSWORD is") {
		t.Errorf("a changed password warned:\n%s", w)
	}
}

// Without COMPOSE_PROJECT_NAME the data is shared with every other checkout
// on the engine that has none: say so.
func TestDefaultProjectNameWarned(t *testing.T) {
	c := mustDefault(t)
	if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, "COMPOSE_PROJECT_NAME is not set: every checkout without one shares this data") {
		t.Errorf("no warning about the shared default project:\n%s", w)
	}
	named, _ := load(t, "COMPOSE_PROJECT_NAME=mine")
	if w := strings.Join(named.Warnings, "\n"); strings.Contains(w, "COMPOSE_PROJECT_NAME") {
		t.Errorf("warned although named:\n%s", w)
	}
}

// wipe never guesses whose data the shared default project holds.
func TestWipeNeedsANamedProject(t *testing.T) {
	if err := mustDefault(t).CheckWipe(); err == nil || !strings.Contains(err.Error(), "COMPOSE_PROJECT_NAME: wipe deletes the data of project \"dataplatform\"") {
		t.Errorf("wipe of the default project: %v", err)
	}
	for _, c := range []Input{{Dotenv: "COMPOSE_PROJECT_NAME=dataplatform"}, {Set: []string{"COMPOSE_PROJECT_NAME=mine"}}} {
		cfg, err := LoadConfig(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.CheckWipe(); err != nil {
			t.Errorf("wipe of a named project refused: %v", err)
		}
	}
}

// No container gets one variable twice (plain and secret, or exported by
// its preparation as well): Dagger v0.19 lets the secret win but picks
// between two secrets of one name by chance, v0.21 lets the later call win.
// With each name set once, every engine gives the container the same env.
func TestNoVariableSetTwice(t *testing.T) {
	c, err := load(t, "AIRFLOW_CONN_WAREHOUSE=postgresql://u:p@db/w\nAIRFLOW__CORE__PARALLELISM=8")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range everySpec(t, c) {
		for name := range s.SecretEnv {
			if _, twice := s.Env[name]; twice {
				t.Errorf("%s: %s is both a plain and a secret variable", s.Name, name)
			}
		}
		for name := range s.Env {
			if setting, ok := strings.CutSuffix(name, "_CMD"); ok {
				if _, secret := s.SecretEnv[setting]; secret {
					t.Errorf("%s: %s is both given and read from a generated key", s.Name, setting)
				}
			}
		}
	}
}
