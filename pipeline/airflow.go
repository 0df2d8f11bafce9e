package pipeline

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// AirflowEnv is the spec's x-airflow-common environment, derived from the
// configuration. Values that carry credentials come from withCredentials.
func AirflowEnv(c Config) map[string]string {
	return map[string]string{
		"AIRFLOW__CORE__EXECUTOR":                    "CeleryExecutor",
		"AIRFLOW__CORE__AUTH_MANAGER":                "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
		"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
		"AIRFLOW__CORE__LOAD_EXAMPLES":               "false",
		"AIRFLOW__CORE__EXECUTION_API_SERVER_URL":    fmt.Sprintf("http://%s:%d/execution/", HostAPIServer, PortAPIServer),
		"AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK":    "true",
		"AIRFLOW__API_AUTH__JWT_ISSUER":              c.AirflowJWTIssuer,
		"AIRFLOW_CONFIG":                             AirflowHome + "/config/airflow.cfg",
		"AIRFLOW_HOME":                               AirflowHome,
		// Where the example DAGs write and dbt reads (see dags/).
		"ANALYTICS_RAW_SCHEMA": "raw",
	}
}

// airflowCredential is the Airflow variable that carries each secret.
var airflowCredential = map[string]string{
	SecretSQLAlchemyConn: "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
	SecretResultBackend:  "AIRFLOW__CELERY__RESULT_BACKEND",
	SecretBrokerURL:      "AIRFLOW__CELERY__BROKER_URL",
	SecretFernetKey:      "AIRFLOW__CORE__FERNET_KEY",
	SecretJWTSecret:      "AIRFLOW__API_AUTH__JWT_SECRET",
	SecretFlowerAuth:     "AIRFLOW__CELERY__FLOWER_BASIC_AUTH",
	// The analytics database as an Airflow connection, for the DAGs.
	SecretAnalyticsConn: "AIRFLOW_CONN_ANALYTICS",
}

// Connections is not a secret but the set of connection-like secrets DAG code
// reads: AIRFLOW_CONN_ANALYTICS and the user's AIRFLOW_CONN_* / AIRFLOW_VAR_*
// (and secret-looking settings) from .env.
const Connections = "connections"

// DerivedAirflowNames are the Airflow variables the module sets itself; the
// same names in .env are ignored.
func DerivedAirflowNames() map[string]bool {
	names := map[string]bool{}
	for n := range AirflowEnv(Config{}) {
		names[n] = true
	}
	for _, n := range airflowCredential {
		names[n] = true
		names[n+"_CMD"] = true
		names[n+"_SECRET"] = true
	}
	return names
}

// withCredentials gives an Airflow service exactly the credentials its
// process needs, by secret name (or Connections), each as a secret env var.
// A Fernet key or JWT secret the user did not give is generated once per
// project (see Init) and read from its key volume when the container starts.
func withCredentials(c Config, s Service, names ...string) Service {
	for _, name := range names {
		switch {
		case name == Connections:
			s.SecretEnv[airflowCredential[SecretAnalyticsConn]] = SecretAnalyticsConn
			for k := range c.AirflowSecrets {
				s.SecretEnv[k] = passThroughSecret(k)
			}
		case c.generated(name):
			key := c.keyVolume(name)
			s.Volumes = append(s.Volumes, key)
			s.Prepare = append(s.Prepare, fmt.Sprintf(
				`%s=$(cat %s/key) || { echo "%s: no generated key yet: start the stack (up) or run init first" >&2; exit 1; }; export %s`,
				airflowCredential[name], key.Path, s.Name, airflowCredential[name]))
		default:
			s.SecretEnv[airflowCredential[name]] = name
		}
	}
	return s
}

// airflow builds one Airflow service from the shared settings, without
// credentials (see withCredentials). Every Airflow container runs as
// AIRFLOW_UID:0 and shares one logs volume, so the api-server reads task
// logs from disk rather than from the workers. Airflow's plain settings from
// .env (AIRFLOW__*) reach every Airflow container, as with compose's env_file.
func airflow(c Config, name string, args []string, needs ...string) Service {
	env := AirflowEnv(c)
	// New DAG files are looked for every 5 s, not 300 (the edit loop);
	// .env may say otherwise.
	env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] = "5"
	for k, v := range c.AirflowSettings {
		env[k] = v
	}
	return Service{
		Name:      name,
		Image:     c.AirflowImage,
		Args:      withPipRequirements(c, args),
		User:      c.AirflowUser(),
		Env:       env,
		SecretEnv: map[string]string{},
		Volumes:   []Volume{c.logsVolume(), c.liveVolume("dags"), c.liveVolume("plugins")},
		Mounts:    airflowMounts(c),
		Needs:     needs,
	}
}

// airflowMounts: dags/, plugins/ and config/ from AIRFLOW_PROJ_DIR, as in the
// spec's compose file, plus the init script.
func airflowMounts(c Config) []Mount {
	return []Mount{
		{Path: AirflowHome + "/config", Source: path.Join(c.ProjDir(), "config"), Dir: true, Optional: true},
		{Path: AirflowHome + "/init/airflow-init.sh", Source: "init/airflow-init.sh"},
	}
}

// LiveFolders are the project's folders that every Airflow container of the
// project sees live, from volumes: init and `sync` make them exactly the
// project's, so an edit reaches the running stack without a restart.
var LiveFolders = []string{"dags", "plugins"}

// projectCopy is where init and sync find the project's folders.
const projectCopy = "/tmp/dataplatform-project"

// liveVolume holds one live folder of the project.
func (c Config) liveVolume(folder string) Volume {
	return c.volume("live-"+folder, AirflowHome+"/"+folder, "", false)
}

// projectCopies are the mounts of the project's live folders for a sync.
func projectCopies(c Config) []Mount {
	var out []Mount
	for _, f := range LiveFolders {
		out = append(out, Mount{Path: projectCopy + "/" + f, Source: path.Join(c.ProjDir(), f), Dir: true, Optional: f != "dags"})
	}
	return out
}

// syncFolders makes each live folder exactly the project's: new and changed
// files are copied over (with the copy's time, so Airflow parses them again),
// files no longer in the project removed; the folder is never empty between.
func syncFolders() string {
	var lines []string
	for _, f := range LiveFolders {
		lines = append(lines, fmt.Sprintf(`mkdir -p %[1]s && cp -R %[1]s/. %[2]s/ && (cd %[2]s && `+
			`find . -type f ! -path '*/__pycache__/*' | while IFS= read -r f; do [ -e "%[1]s/$f" ] || rm -f "$f"; done && `+
			`find . -mindepth 1 -type d -empty -delete) || { echo "sync: copying %[3]s/ failed" >&2; exit 1; }`,
			projectCopy+"/"+f, AirflowHome+"/"+f, f))
	}
	return strings.Join(lines, "\n")
}

// Sync makes the project's dags/ and plugins/ live in the project's stack,
// running or not, then parses the DAGs and fails naming every file that
// does not import (as the dag-processor will report it).
func Sync(c Config) Service {
	s := withCredentials(c, airflow(c, "sync", []string{"python3", "/opt/airflow/scripts/check_dags.py", AirflowHome + "/dags"}),
		SecretSQLAlchemyConn, Connections)
	s.Mounts = append(append(s.Mounts, projectCopies(c)...),
		Mount{Path: "/opt/airflow/scripts/check_dags.py", Source: "scripts/check_dags.py"})
	s.Prepare = append(s.Prepare, syncFolders())
	s.AsRoot = []string{"sh", "-c", liveOwner(c)} // also before the stack's first start
	return s
}

// liveOwner gives the live folders to AIRFLOW_UID.
func liveOwner(c Config) string {
	var cmds []string
	for _, f := range LiveFolders {
		cmds = append(cmds, fmt.Sprintf("chown -R %s %s", c.AirflowUser(), c.liveVolume(f).Path))
	}
	return strings.Join(cmds, " && ")
}

// withPipRequirements honours _PIP_ADDITIONAL_REQUIREMENTS as the official
// image does: packages installed at every start (for quick trials only).
func withPipRequirements(c Config, args []string) []string {
	if c.PipAdditionalReqs == "" {
		return args
	}
	return append([]string{"bash", "-c",
		`pip install --quiet --no-cache-dir ` + c.PipAdditionalReqs + ` && exec "$@"`, "--"}, args...)
}

// Init is the one-shot airflow-init: migrate the metadata database, create the
// admin user if missing, warn when the machine is under the spec's minimum.
// Unlike the official image it fails on any error, and a second run on the
// same data succeeds without changing anything.
func Init(c Config) Service {
	s := withCredentials(c, airflow(c, JobInit, []string{"bash", AirflowHome + "/init/airflow-init.sh"}, HostPostgres),
		SecretSQLAlchemyConn)
	logs := c.logsVolume().Path
	root := []string{fmt.Sprintf("chown %s %s && chmod 2775 %s", c.AirflowUser(), logs, logs)}
	// The live folders: AIRFLOW_UID's, and exactly the project's on every start.
	root = append(root, liveOwner(c))
	s.Mounts = append(s.Mounts, projectCopies(c)...)
	s.Prepare = append(s.Prepare, syncFolders())
	// Keys not given in .env are made here, once per project: random, kept
	// in their volumes (wipe removes them), readable only by AIRFLOW_UID.
	for _, name := range []string{SecretFernetKey, SecretJWTSecret} {
		if c.generated(name) {
			key := c.keyVolume(name)
			s.Volumes = append(s.Volumes, key)
			root = append(root, fmt.Sprintf(`[ -s %[1]s/key ] || { umask 077; head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n' > %[1]s/key.new && mv %[1]s/key.new %[1]s/key; }; chown %[2]s %[1]s/key && chmod 0400 %[1]s/key`,
				key.Path, c.AirflowUser()))
		}
	}
	s.AsRoot = []string{"sh", "-c", strings.Join(root, "\n")}
	s.Env["_AIRFLOW_WWW_USER_USERNAME"] = c.AirflowWWWUser
	s.Env["_AIRFLOW_DB_MIGRATE"] = "true"
	s.Env["_AIRFLOW_WWW_USER_CREATE"] = "true"
	s.SecretEnv["_AIRFLOW_WWW_USER_PASSWORD"] = SecretWWWPassword
	return s
}

// APIServer serves the UI, the REST API v2 and the Execution API workers use.
func APIServer(c Config) Service {
	s := withCredentials(c, airflow(c, HostAPIServer, []string{"airflow", "api-server", "--port", fmt.Sprint(PortAPIServer)},
		HostPostgres, HostValkey, JobInit),
		SecretSQLAlchemyConn, SecretFernetKey, SecretJWTSecret, Connections)
	s.Ports = []int{PortAPIServer}
	return supervise(s, "TERM")
}

// Scheduler, with its health endpoint on 8974. Like the dag-processor and
// the triggerer it talks to the database, not to the api-server, so (as in
// the spec) it starts beside the api-server rather than after it.
func Scheduler(c Config) Service {
	s := withCredentials(c, airflow(c, "airflow-scheduler", []string{"airflow", "scheduler"},
		HostPostgres, HostValkey, JobInit),
		SecretSQLAlchemyConn, SecretBrokerURL, SecretResultBackend, SecretFernetKey, SecretJWTSecret)
	s.Ports = []int{PortScheduler}
	return supervise(s, "TERM")
}

// DagProcessor parses dags/ (a separate process since Airflow 3); it runs
// callbacks through an in-process Execution API.
func DagProcessor(c Config) Service {
	s := withCredentials(c, airflow(c, "airflow-dag-processor", []string{"airflow", "dag-processor"},
		HostPostgres, HostValkey, JobInit),
		SecretSQLAlchemyConn, SecretFernetKey, Connections)
	return supervise(s, "TERM")
}

// Triggerer runs the event loops of deferred tasks (in-process Execution API).
func Triggerer(c Config) Service {
	s := withCredentials(c, airflow(c, "airflow-triggerer", []string{"airflow", "triggerer"},
		HostPostgres, HostValkey, JobInit),
		SecretSQLAlchemyConn, SecretFernetKey, Connections)
	return supervise(s, "TERM")
}

// Worker is Celery worker number i (1-based), with a hostname of its own so
// Celery and Flower tell the workers apart. Its tasks report to the
// api-server's Execution API, so it starts once the api-server is up.
// DUMB_INIT_SETSID=0 lets Celery finish running tasks on SIGTERM, as in the spec.
func Worker(c Config, i int) Service {
	name := fmt.Sprintf("airflow-worker-%d", i)
	s := withCredentials(c, airflow(c, name, []string{"airflow", "celery", "worker", "--celery-hostname", name + "@%h"},
		HostPostgres, HostValkey, JobInit),
		SecretSQLAlchemyConn, SecretBrokerURL, SecretResultBackend, Connections)
	// Tasks report to the api-server's Execution API, but the worker itself
	// never calls it: it starts beside the api-server, not after it.
	s.Reaches = []string{HostAPIServer}
	s.Env["DUMB_INIT_SETSID"] = "0"
	s.Ports = []int{PortWorkerLog}
	return supervise(s, "TERM")
}

// Flower is the optional Celery dashboard, behind a login (the admin's user
// and password); its API is not opened anonymously.
func Flower(c Config) Service {
	s := withCredentials(c, airflow(c, HostFlower, []string{"airflow", "celery", "flower", "--port", fmt.Sprint(PortFlower)},
		HostValkey, JobInit),
		SecretSQLAlchemyConn, SecretBrokerURL, SecretFlowerAuth)
	s.Ports = []int{PortFlower}
	return supervise(s, "TERM")
}

// CLI is the spec's airflow-cli: one ad-hoc `airflow ...` command.
func CLI(c Config, args []string) Service {
	s := withCredentials(c, airflow(c, "airflow-cli", append([]string{"airflow"}, args...), HostPostgres),
		SecretSQLAlchemyConn, SecretBrokerURL, SecretResultBackend, SecretFernetKey, Connections)
	s.Env["CONNECTION_CHECK_MAX_COUNT"] = "0"
	return s
}

// dbtDeps gives dbt the project's packages (packages.yml): from the
// project's packages volume when packages.yml and package-lock.yml are as
// when it was filled, otherwise from `dbt deps`, which then refills it.
// (dbt deps removes its install folder, so the volume cannot be that folder.)
var dbtDeps = strings.Join([]string{
	`cd ` + DbtProject,
	`if [ -f packages.yml ]; then`,
	`  h=$(cat packages.yml package-lock.yml 2>/dev/null | sha256sum)`,
	`  if [ "$(cat ` + DbtPackagesCache + `/installed 2>/dev/null)" = "$h" ]; then`,
	`    rm -rf dbt_packages && cp -a ` + DbtPackagesCache + `/dbt_packages dbt_packages || exit 1`,
	`  else`,
	`    dbt deps >&2 || exit 1`,
	`    rm -rf ` + DbtPackagesCache + `/dbt_packages && cp -a dbt_packages ` + DbtPackagesCache + `/ && echo "$h" > ` + DbtPackagesCache + `/installed || exit 1`,
	`  fi`,
	`fi`,
}, "\n")

// Shell is the airflow-cli container as an interactive shell (bash), with
// the project's settings and the CLI's credentials.
func Shell(c Config) Service {
	s := CLI(c, nil)
	s.Name = "airflow-shell"
	s.Args = []string{"bash"}
	return s
}

// Dbt runs one dbt command line against the analytics database; profiles.yml
// reads the DBT_* variables with env_var(). Packages are installed first,
// into a volume of the project, only when packages.yml changed.
func Dbt(c Config, args []string) Service {
	return Service{
		Name:    "dbt",
		Image:   c.DbtImage,
		Args:    append([]string{"dbt"}, args...),
		Prepare: []string{dbtDeps},
		Volumes: []Volume{c.dbtPackagesVolume()},
		Env: map[string]string{
			"DBT_PROFILES_DIR": DbtProject,
			"DBT_DB_HOST":      c.dbHost(),
			"DBT_DB_PORT":      fmt.Sprint(PortPostgres),
			"DBT_DB_USER":      c.DbtDBUser,
			"DBT_DB_NAME":      c.DbtDBName,
			"DBT_SCHEMA":       c.DbtSchema,
		},
		SecretEnv: map[string]string{"DBT_DB_PASSWORD": SecretDbtDBPassword},
		Mounts:    []Mount{{Path: DbtProject, Source: "dbt", Dir: true}},
		Needs:     []string{HostPostgres},
	}
}

// Where dbt-ci finds an earlier run's artifacts and leaves its own.
const (
	DbtCIState     = "/ci/state"
	DbtCIArtifacts = "/ci/artifacts"
)

var schemaSuffixRe = regexp.MustCompile(`^[a-z0-9_]{1,20}$`)

// DbtCI runs scripts/dbt-ci.sh: build (state-aware when DbtCIState holds
// a manifest), optionally source freshness, docs; artifacts and a summary
// in DbtCIArtifacts. suffix is appended to the target schema (DBT_SCHEMA),
// so parallel runs never share tables.
func DbtCI(c Config, suffix string, freshness bool) (Service, error) {
	s := Dbt(c, nil)
	s.Name = "dbt-ci"
	s.Args = []string{"bash", "/usr/app/dbt-ci.sh"}
	if err := withSchemaSuffix(c, &s, suffix); err != nil {
		return Service{}, err
	}
	if freshness {
		s.Env["DBT_CI_FRESHNESS"] = "true"
	}
	s.Mounts = append(s.Mounts,
		Mount{Path: "/usr/app/dbt-ci.sh", Source: "scripts/dbt-ci.sh"},
		Mount{Path: "/usr/app/dbt_summary.py", Source: "scripts/dbt_summary.py"})
	return s, nil
}

// DbtDropSchemas drops the target schema of a suffix and every schema
// derived from it (macro drop_target_schemas).
func DbtDropSchemas(c Config, suffix string) (Service, error) {
	s := Dbt(c, []string{"run-operation", "drop_target_schemas"})
	s.Name = "dbt-drop-schemas"
	return s, withSchemaSuffix(c, &s, suffix)
}

// withSchemaSuffix checks a schema suffix and gives it to dbt; the longest
// schema it makes (<DBT_SCHEMA>_<suffix>_reference) must fit PostgreSQL's 63.
func withSchemaSuffix(c Config, s *Service, suffix string) error {
	if suffix == "" {
		return nil
	}
	if !schemaSuffixRe.MatchString(suffix) {
		return fmt.Errorf("--schema-suffix: %q must be 1-20 lowercase letters, digits or _", suffix)
	}
	if n := len(c.DbtSchema + "_" + suffix + "_reference"); n > 63 {
		return fmt.Errorf("--schema-suffix: with DBT_SCHEMA %q the schema names would be %d characters long (PostgreSQL allows 63)", c.DbtSchema, n)
	}
	s.Env["DBT_SCHEMA_SUFFIX"] = suffix
	return nil
}

// DbtDocs generates dbt's documentation site and serves it on PortDbtDocs.
func DbtDocs(c Config) Service {
	s := Dbt(c, nil)
	s.Name = "dbt-docs"
	s.Args = []string{"sh", "-c", fmt.Sprintf("dbt docs generate && exec dbt docs serve --host 0.0.0.0 --port %d --no-browser", PortDbtDocs)}
	s.Ports = []int{PortDbtDocs}
	return s
}

// EltCheck runs scripts/elt_check.py in the dbt image next to a live stack
// (through the gateway): the example DAG via the REST API, then dbt build,
// then the marts compared with the loaded rows.
func EltCheck(c Config) Service {
	s := Dbt(c, nil)
	s.Name = "elt-check"
	s.Args = []string{"python3", "/usr/app/elt_check.py"}
	s.Env["API_URL"] = fmt.Sprintf("http://%s:%d", HostGateway, c.AirflowAPIPort)
	s.Env["AIRFLOW_WWW_USER"] = c.AirflowWWWUser
	s.SecretEnv["AIRFLOW_WWW_PASSWORD"] = SecretWWWPassword
	s.Mounts = append(s.Mounts, Mount{Path: "/usr/app/elt_check.py", Source: "scripts/elt_check.py"})
	s.Needs = []string{HostPostgres, HostGateway}
	return s
}

// Gateway forwards the host-facing ports to their services, so that one
// service carries the whole stack's ports to `dagger call up up`.
// Container-side ports equal the configured host ports.
func Gateway(c Config, flower bool) Service {
	type fwd struct {
		port int
		host string
		to   int
	}
	fwds := []fwd{{c.AirflowAPIPort, HostAPIServer, PortAPIServer}, {c.PostgresPort, HostPostgres, PortPostgres}}
	if flower {
		fwds = append(fwds, fwd{c.FlowerPort, HostFlower, PortFlower})
	}
	var script []string
	s := Service{Name: HostGateway, Image: SocatImage}
	for _, f := range fwds {
		script = append(script, strings.Join(Forward(f.port, f.host, f.to), " ")+" &")
		s.Ports = append(s.Ports, f.port)
	}
	s.Args = []string{"sh", "-c", strings.Join(append(script, "wait"), "\n")}
	return s
}

// Forward is the socat command line relaying TCP port listen to host:port.
func Forward(listen int, host string, port int) []string {
	return []string{"socat", fmt.Sprintf("TCP-LISTEN:%d,fork,reuseaddr", listen), fmt.Sprintf("TCP:%s:%d", host, port)}
}

// SocatImage is the helper image of the gateway.
const SocatImage = "alpine/socat:1.8.0.3"

// DagCheck parses every DAG under dags/ and fails on import errors, naming
// each file. dir overrides the folder (a path inside the project).
func DagCheck(c Config, dir string) Service {
	if dir == "" {
		dir = path.Join(c.ProjDir(), "dags")
	}
	s := withCredentials(c, airflow(c, "dag-check", []string{"python3", "/opt/airflow/scripts/check_dags.py", AirflowHome + "/dags"}),
		SecretSQLAlchemyConn, Connections)
	s.Mounts = []Mount{
		{Path: AirflowHome + "/dags", Source: dir, Dir: true},
		{Path: "/opt/airflow/scripts/check_dags.py", Source: "scripts/check_dags.py"},
	}
	s.Volumes = nil
	return s
}
