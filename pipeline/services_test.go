package pipeline

import (
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestStartOrderFollowsTheSpec(t *testing.T) {
	plan, err := StackPlan(mustDefault(t), Options{Workers: 2, Flower: true}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	order := plan.Stages
	want := [][]string{
		{"postgres", "valkey"},
		// The dbt job beside init: the DAGs that run dbt find the
		// project's, its packages installed, when they are parsed.
		{"airflow-init", "dbt-prepare"},
		// Workers start beside the api-server: they only reach it by name.
		{"airflow-apiserver", "airflow-dag-processor", "airflow-flower", "airflow-scheduler", "airflow-triggerer",
			"airflow-worker-1", "airflow-worker-2", "dbt-server", "live"},
		{"gateway"},
	}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("start order\n got %v\nwant %v", order, want)
	}
}

func TestStartOrderRejectsCyclesAndUnknownNeeds(t *testing.T) {
	cyc := map[string]Spec{"a": {Name: "a", Needs: []string{"b"}}, "b": {Name: "b", Needs: []string{"a"}}}
	if _, err := StartOrder(cyc); err == nil || !strings.Contains(err.Error(), "circular") {
		t.Fatalf("cycle not reported: %v", err)
	}
	missing := map[string]Spec{"a": {Name: "a", Needs: []string{"nope"}}}
	unreached := map[string]Spec{"a": {Name: "a", Reaches: []string{"gone"}}}
	if _, err := StartOrder(unreached); err == nil || !strings.Contains(err.Error(), `reaches "gone", which is not in the plan`) {
		t.Errorf("unknown reach: %v", err)
	}
	if _, err := StartOrder(missing); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown need not reported: %v", err)
	}
}

func TestWorkersRange(t *testing.T) {
	for _, n := range []int{0, -1, 17} {
		if _, err := StackPlan(mustDefault(t), Options{Workers: n}, HostGateway); err == nil || !strings.Contains(err.Error(), "workers") {
			t.Errorf("workers=%d accepted (err %v)", n, err)
		}
	}
	stack := stackSpecs(t, mustDefault(t), 3, false)
	for i, name := range []string{"airflow-worker-1", "airflow-worker-2", "airflow-worker-3"} {
		w, ok := stack[name]
		if !ok {
			t.Fatalf("missing %s", name)
		}
		if got := w.Args[len(w.Args)-1]; got != name+"@%h" {
			t.Errorf("worker %d hostname arg %q", i+1, got)
		}
	}
	if _, ok := stack[HostFlower]; ok {
		t.Error("flower runs without --flower")
	}
}

func TestImagesAndCommandLines(t *testing.T) {
	c := mustDefault(t)
	cases := []struct {
		svc   Spec
		image string
		args  string
		ports []int
	}{
		{Postgres(c), "postgres:16", "sh /usr/local/lib/dataplatform/postgres-start.sh", []int{5432}},
		{Valkey(c), "valkey/valkey:9.0.2", "valkey-server /run/secrets/valkey.conf --appendonly yes --maxmemory 256mb --maxmemory-policy noeviction --dir /data", []int{6379}},
		{Init(c), "apache/airflow:3.1.7", "bash /usr/local/lib/dataplatform/airflow-init.sh", nil},
		{APIServer(c), "apache/airflow:3.1.7", "airflow api-server --port 8080", []int{8080}},
		{Scheduler(c), "apache/airflow:3.1.7", "airflow scheduler", []int{8974}},
		{DagProcessor(c), "apache/airflow:3.1.7", "airflow dag-processor", nil},
		{Triggerer(c), "apache/airflow:3.1.7", "airflow triggerer", nil},
		{Worker(c, 1), "apache/airflow:3.1.7", "airflow celery worker --celery-hostname airflow-worker-1@%h", []int{8793}},
		{Flower(c), "apache/airflow:3.1.7", "airflow celery flower --port 5555", []int{5555}},
		{CLI(c, []string{"dags", "list"}), "apache/airflow:3.1.7", "airflow dags list", nil},
		{Dbt(c, []string{"docs", "generate"}), "ghcr.io/dbt-labs/dbt-postgres:1.9.0", "dbt docs generate", nil},
		{DbtDocs(c), "ghcr.io/dbt-labs/dbt-postgres:1.9.0", "sh /usr/local/lib/dataplatform/dbt-docs.sh 8081", []int{8081}},
		{EltCheck(c), "ghcr.io/dbt-labs/dbt-postgres:1.9.0", "python3 " + eltCheckScript, nil},
	}
	for _, tc := range cases {
		if tc.svc.Image != tc.image {
			t.Errorf("%s image %q, want %q", tc.svc.Name, tc.svc.Image, tc.image)
		}
		if got := strings.Join(tc.svc.Args, " "); got != tc.args {
			t.Errorf("%s args\n got %q\nwant %q", tc.svc.Name, got, tc.args)
		}
		if !slices.Equal(tc.svc.Ports, tc.ports) {
			t.Errorf("%s ports %v, want %v", tc.svc.Name, tc.svc.Ports, tc.ports)
		}
	}
}

func TestOverridesReachServices(t *testing.T) {
	c, err := load(t, "VALKEY_MAXMEMORY=1gb\nAIRFLOW_IMAGE_NAME=example/airflow:3.1.7-custom\nAIRFLOW_UID=1000\nAIRFLOW_PROJ_DIR=sub\nCOMPOSE_PROJECT_NAME=demo")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(Valkey(c).Args, "1gb") {
		t.Errorf("maxmemory not applied: %v", Valkey(c).Args)
	}
	api := APIServer(c)
	if api.Image != "example/airflow:3.1.7-custom" || api.User != "1000:0" {
		t.Errorf("api-server image %q user %q", api.Image, api.User)
	}
	if api.Mounts[0].Source != "sub/config" {
		t.Errorf("config comes from %q, want sub/config", api.Mounts[0].Source)
	}
	for _, m := range Init(c).Mounts {
		if m.Path == projectCopy+"/dags" && m.Source != "sub/dags" {
			t.Errorf("init syncs dags from %q, want sub/dags", m.Source)
		}
	}
	for _, v := range c.Volumes() {
		if !strings.HasPrefix(v.Key, "dataplatform-demo-") {
			t.Errorf("volume %q not keyed by project", v.Key)
		}
	}
	if got := Gateway(c, Options{}).Ports; !slices.Equal(got, []int{8080, 5432, 8090}) {
		t.Errorf("gateway ports %v", got)
	}
	// _PIP_ADDITIONAL_REQUIREMENTS is a layer of the image, never a step of
	// a container's start.
	pip, _ := load(t, "_PIP_ADDITIONAL_REQUIREMENTS=apache-airflow-providers-http==5.0.0")
	if args := strings.Join(Scheduler(pip).Command(), " "); strings.Contains(args, "pip") || strings.Contains(args, "providers-http") {
		t.Errorf("the scheduler installs packages at its start: %v", args)
	}
	steps := ImageSteps(pip, ImageFiles{})
	if len(steps) != 1 || steps[0].What != "_PIP_ADDITIONAL_REQUIREMENTS" || steps[0].Args[len(steps[0].Args)-1] != "apache-airflow-providers-http==5.0.0" {
		t.Errorf("pip requirements not a layer of the image: %+v", steps)
	}
}

// Every Airflow container gets the same settings; credentials only as secrets.
func TestAirflowEnvAndSecrets(t *testing.T) {
	c := mustDefault(t)
	env := AirflowEnv(c)
	want := map[string]string{
		"AIRFLOW__CORE__EXECUTOR":                    "CeleryExecutor",
		"AIRFLOW__CORE__AUTH_MANAGER":                "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
		"AIRFLOW__CORE__EXECUTION_API_SERVER_URL":    "http://airflow-apiserver:8080/execution/",
		"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
		"AIRFLOW__CORE__LOAD_EXAMPLES":               "false",
		"AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK":    "true",
		"AIRFLOW_CONFIG":                             "/opt/airflow/config/airflow.cfg",
		"AIRFLOW__API_AUTH__JWT_ISSUER":              "airflow",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	sec := Secrets(c)
	if sec[SecretSQLAlchemyConn] != "postgresql+psycopg2://airflow:airflow@postgres:5432/airflow" ||
		sec[SecretResultBackend] != "db+postgresql://airflow:airflow@postgres:5432/airflow" ||
		sec[SecretBrokerURL] != "redis://:changeme@valkey:6379/0" {
		t.Errorf("connection strings: %q %q %q", sec[SecretSQLAlchemyConn], sec[SecretResultBackend], sec[SecretBrokerURL])
	}
}

// The edit loop's settings reach the dag-processor, and .env overrides them.
func TestEditLoopSettings(t *testing.T) {
	env := DagProcessor(mustDefault(t)).Env
	if env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] != "5" || env["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"] != "0" {
		t.Errorf("refresh interval %q, serialized DAG update interval %q", env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"], env["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"])
	}
	c, err := load(t, "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL=30")
	if err != nil {
		t.Fatal(err)
	}
	if got := DagProcessor(c).Env["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"]; got != "30" {
		t.Errorf(".env's interval not honoured: %q", got)
	}
}

// No password of the configuration appears in any plain env var or argument.
func TestNoSecretInPlainEnvOrArgs(t *testing.T) {
	c, err := load(t, `POSTGRES_PASSWORD=pg-Secret-1
VALKEY_PASSWORD=vk-Secret-2
AIRFLOW_DB_PASSWORD=af-Secret-3
DBT_DB_PASSWORD=dbt-Secret-4
AIRFLOW_WWW_PASSWORD=www-Secret-5
AIRFLOW_JWT_SECRET=jwt-Secret-6-0123456789
AIRFLOW_CONN_WAREHOUSE=postgresql://u:conn-Secret-7@db/x
AIRFLOW_VAR_TOKEN=var-Secret-8`)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"pg-Secret-1", "vk-Secret-2", "af-Secret-3", "dbt-Secret-4", "www-Secret-5", "jwt-Secret-6",
		"conn-Secret-7", "var-Secret-8"}
	for _, s := range everySpec(t, c) {
		plain := strings.Join(s.Command(), " ") + " " + strings.Join(s.AsRoot, " ")
		for k, v := range s.Env {
			plain += " " + k + "=" + v
		}
		for _, sec := range secrets {
			if strings.Contains(plain, sec) {
				t.Errorf("%s exposes a secret in plain env or args", s.Name)
			}
		}
		for _, ref := range append(mapValues(s.SecretEnv), mapValues(s.SecretFile)...) {
			if _, ok := Secrets(c)[ref]; !ok {
				t.Errorf("%s refers to unknown secret %q", s.Name, ref)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// The ELT check talks to the stack through the gateway and to the analytics
// database as dbt; its only credentials are secrets.
func TestEltCheckDefinition(t *testing.T) {
	c, _ := load(t, "AIRFLOW_API_PORT=9999")
	e := EltCheck(c)
	if e.Env["API_URL"] != "http://gateway:9999" {
		t.Errorf("API_URL %q", e.Env["API_URL"])
	}
	if !slices.Equal(e.Needs, []string{HostPostgres, HostGateway}) {
		t.Errorf("needs %v", e.Needs)
	}
	if e.SecretEnv["AIRFLOW_WWW_PASSWORD"] != SecretWWWPassword || e.SecretEnv["DBT_DB_PASSWORD"] != SecretDbtDBPassword {
		t.Errorf("secrets %v", e.SecretEnv)
	}
}

// The shared logs volume gets no Dagger owner (concurrent mounts with an
// owner collide in the engine); init makes it writable for AIRFLOW_UID.
func TestLogsVolumeMadeWritableByInit(t *testing.T) {
	c, _ := load(t, "AIRFLOW_UID=1234")
	if v := APIServer(c).Volumes[0]; v.Path != AirflowHome+"/logs" || v.Exclusive {
		t.Errorf("logs volume %+v", v)
	}
	if got := strings.Join(Init(c).AsRoot, " "); !strings.HasPrefix(got, "sh "+ownVolumesScript+" 1234:0 --logs /opt/airflow/logs ") {
		t.Errorf("init root step %q", got)
	}
}

func TestPostgresAndDbtEnv(t *testing.T) {
	c := mustDefault(t)
	pg := Postgres(c)
	for k, v := range map[string]string{"POSTGRES_USER": "app", "POSTGRES_DB": "app", "AIRFLOW_DB_USER": "airflow",
		"AIRFLOW_DB_NAME": "airflow", "DBT_DB_USER": "dbt", "DBT_DB_NAME": "analytics"} {
		if pg.Env[k] != v {
			t.Errorf("postgres %s = %q, want %q", k, pg.Env[k], v)
		}
	}
	for _, k := range []string{"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "DBT_DB_PASSWORD"} {
		if pg.SecretEnv[k] == "" {
			t.Errorf("postgres lacks secret %s", k)
		}
	}
	if !pg.Volumes[0].Exclusive || !Valkey(c).Volumes[0].Exclusive {
		t.Error("database volumes must be exclusive")
	}
	dbt := Dbt(c, []string{"debug"})
	if dbt.Env["DBT_DB_HOST"] != "postgres" || dbt.Env["DBT_DB_NAME"] != "analytics" || dbt.Env["DBT_SCHEMA"] != "public" ||
		dbt.SecretEnv["DBT_DB_PASSWORD"] != SecretDbtDBPassword {
		t.Errorf("dbt env %v secrets %v", dbt.Env, dbt.SecretEnv)
	}
}

// init-db.sh gives each role only its own database.
func TestInitDBLeastPrivilege(t *testing.T) {
	data, err := os.ReadFile("../" + InitDBFile)
	if err != nil {
		t.Fatal(err)
	}
	sql := string(data)
	for _, want := range []string{
		`CREATE ROLE :"airflow_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'airflow_password';`,
		`CREATE ROLE :"dbt_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'dbt_password';`,
		`CREATE DATABASE :"airflow_db" OWNER :"airflow_user";`,
		`CREATE DATABASE :"dbt_db" OWNER :"dbt_user";`,
		`REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;`,
		`REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;`,
		`REVOKE ALL ON DATABASE :"dbt_db" FROM PUBLIC;`,
		"ON_ERROR_STOP=1",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("init-db.sh lacks %s", want)
		}
	}
	for _, bad := range []string{"SUPERUSER ", "CREATEDB ", "GRANT ALL", "$AIRFLOW_DB_PASSWORD", "$DBT_DB_PASSWORD"} {
		if regexp.MustCompile(`(?m)^[^\\#]*\b` + regexp.QuoteMeta(bad)).MatchString(strings.ReplaceAll(strings.ReplaceAll(sql, "NOSUPERUSER", ""), "NOCREATEDB", "")) {
			t.Errorf("init-db.sh contains %q", bad)
		}
	}
	// Every variable it reads is one the postgres service sets.
	pg := Postgres(mustDefault(t))
	for _, m := range regexp.MustCompile(`\\getenv \w+ (\w+)`).FindAllStringSubmatch(sql, -1) {
		if _, ok := pg.Env[m[1]]; !ok {
			if _, ok := pg.SecretEnv[m[1]]; !ok {
				t.Errorf("init-db.sh reads %s, which the postgres service does not set", m[1])
			}
		}
	}
}

func TestSplitArgs(t *testing.T) {
	cases := map[string][]string{
		"test":                               {"test"},
		"run --select staging":               {"run", "--select", "staging"},
		`run --vars '{"day": "2024-01-01"}'`: {"run", "--vars", `{"day": "2024-01-01"}`},
		`  docs   generate  `:                {"docs", "generate"},
		`a "b c" d`:                          {"a", "b c", "d"},
	}
	for in, want := range cases {
		got, err := SplitArgs("cmd", in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `run 'open`} {
		if _, err := SplitArgs("cmd", bad); err == nil || !strings.Contains(err.Error(), "--cmd") {
			t.Errorf("SplitArgs(%q) error %v should name --cmd", bad, err)
		}
	}
}

func TestEveryContainerNamesItsProject(t *testing.T) {
	c := mustDefault(t)
	c.ProjectName = "shop"
	for name, s := range stackSpecs(t, c, 2, true) {
		if s.Env[ProjectEnv] != "shop" {
			t.Errorf("%s: %s=%q, want shop", name, ProjectEnv, s.Env[ProjectEnv])
		}
	}
}

// A container's root step (own-volumes.sh) works only on volumes the
// container mounts: a path it names but does not mount stops the call.
func TestRootStepsWorkOnMountedVolumes(t *testing.T) {
	for _, s := range everySpec(t, mustDefault(t)) {
		if len(s.AsRoot) < 2 || s.AsRoot[1] != ownVolumesScript {
			continue
		}
		for i := 3; i+1 < len(s.AsRoot); i += 2 {
			target := s.AsRoot[i+1]
			if s.AsRoot[i] == "--key" {
				target = path.Dir(target)
			}
			if !slices.ContainsFunc(s.Volumes, func(v Volume) bool { return v.Path == target }) {
				t.Errorf("%s: its root step's %s %s is no volume it mounts", s.Name, s.AsRoot[i], s.AsRoot[i+1])
			}
		}
	}
}

// No Airflow process that imports from the live folders writes bytecode
// there: Python trusts a .pyc whose source has the same size and the same
// second of modification time, so a same-size save within a second would
// run the old code for good. (dbt reads the live dbt/ but imports nothing
// from it.)
func TestNoBytecodeInTheLiveFolders(t *testing.T) {
	c := mustDefault(t)
	var live []Volume
	for _, f := range LiveFolders {
		live = append(live, c.liveVolume(f))
	}
	seen := 0
	for _, s := range everySpec(t, c) {
		if !s.ProjectImage || !slices.ContainsFunc(s.Volumes, func(v Volume) bool { return slices.Contains(live, v) }) {
			continue
		}
		seen++
		if s.Env["PYTHONDONTWRITEBYTECODE"] != "1" {
			t.Errorf("%s sees the live folders and may write bytecode there: PYTHONDONTWRITEBYTECODE=%q", s.Name, s.Env["PYTHONDONTWRITEBYTECODE"])
		}
	}
	if seen < 6 {
		t.Errorf("only %d containers see the live folders; the stack's Airflow services alone are more", seen)
	}
}

// A project without one of the live folders (dags/ included) runs with it
// empty, as compose's bind mount of a missing folder does: no container
// fails on a folder the project lacks.
func TestLiveFoldersMayBeMissing(t *testing.T) {
	seen := 0
	for _, s := range everySpec(t, mustDefault(t)) {
		for _, m := range s.Mounts {
			if strings.HasPrefix(m.Path, projectCopy+"/") {
				seen++
				if !m.Optional {
					t.Errorf("%s: the project's %s must be optional", s.Name, m.Source)
				}
			}
		}
	}
	if seen == 0 {
		t.Error("no container copies the project's live folders")
	}
}
