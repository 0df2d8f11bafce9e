package pipeline

import (
	"fmt"
	"path"
)

// HostAPIServer is the api-server's hostname (the spec's compose service name).
const HostAPIServer = "airflow-apiserver"

// HostFlower is Flower's hostname.
const HostFlower = "airflow-flower"

// JobInit is the one-shot init; services that need it start after it finished.
const JobInit = "airflow-init"

// Ports of the Airflow services in their containers.
const (
	PortAPIServer = 8080
	PortScheduler = 8974 // scheduler health endpoint
	PortWorkerLog = 8793 // worker log server
	PortFlower    = 5555
)

// AirflowEnv is the spec's x-airflow-common environment, derived from the
// configuration. Values that carry credentials come from withCredentials.
func AirflowEnv(c Config) map[string]string {
	return map[string]string{
		"AIRFLOW__CORE__EXECUTOR":                    "CeleryExecutor",
		"AIRFLOW__CORE__AUTH_MANAGER":                "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
		"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
		"AIRFLOW__CORE__LOAD_EXAMPLES":               "false",
		"AIRFLOW__CORE__EXECUTION_API_SERVER_URL":    c.apiServerURL() + "/execution/",
		"AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK":    "true",
		"AIRFLOW__API_AUTH__JWT_ISSUER":              c.AirflowJWTIssuer,
		"AIRFLOW_CONFIG":                             AirflowHome + "/config/airflow.cfg",
		"AIRFLOW_HOME":                               AirflowHome,
		// Where the example DAGs write and dbt reads (see dags/).
		"ANALYTICS_RAW_SCHEMA": "raw",
		// The project's dbt, for DAGs that run it (the example's, with
		// Cosmos): its live folder, and the schema dbt builds in.
		"DBT_PROJECT_DIR": DbtProject,
		"DBT_SCHEMA":      c.DbtSchema,
	}
}

// apiServerURL is where Airflow containers reach the api-server: by name
// in the stack, at the stack's address and host port on a worker node.
func (c Config) apiServerURL() string {
	if c.stack != "" {
		return fmt.Sprintf("http://%s:%d", c.stack, c.AirflowAPIPort)
	}
	return fmt.Sprintf("http://%s:%d", HostAPIServer, PortAPIServer)
}

// airflowCredential is the Airflow variable that carries each secret.
var airflowCredential = map[string]string{
	SecretSQLAlchemyConn: "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
	SecretResultBackend:  "AIRFLOW__CELERY__RESULT_BACKEND",
	SecretBrokerURL:      "AIRFLOW__CELERY__BROKER_URL",
	SecretFernetKey:      "AIRFLOW__CORE__FERNET_KEY",
	SecretJWTSecret:      "AIRFLOW__API_AUTH__JWT_SECRET",
	SecretFlowerAuth:     "AIRFLOW__CELERY__FLOWER_BASIC_AUTH",
	SecretLogServerKey:   "AIRFLOW__API__SECRET_KEY",
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

// withCredentials gives an Airflow container exactly the credentials its
// process needs, by secret name (or Connections), each as a secret env var.
// A Fernet key or JWT secret the user did not give is generated once per
// project (see Init) and mounted from its key volume; Airflow reads it
// itself when it needs it (its setting's _CMD, as in the compose
// reference), so it never passes through the module and every process of
// the container has it, a `shell ... with-exec` too.
func withCredentials(c Config, s Spec, names ...string) Spec {
	for _, name := range names {
		switch {
		case name == Connections:
			s.SecretEnv[airflowCredential[SecretAnalyticsConn]] = SecretAnalyticsConn
			for k := range c.AirflowSecrets {
				s.SecretEnv[k] = passThroughSecret(k)
			}
		case c.generated(name):
			s.Volumes = append(s.Volumes, c.keyVolume(name))
			s.Env[airflowCredential[name]+"_CMD"] = "cat " + c.keyFile(name)
		default:
			s.SecretEnv[airflowCredential[name]] = name
		}
	}
	return s
}

// generated: the key named by secret is not given and so generated per project.
func (c Config) generated(secret string) bool {
	return secret == SecretFernetKey && c.AirflowFernetKey == "" || secret == SecretJWTSecret && c.AirflowJWTSecret == "" ||
		secret == SecretLiveKey
}

// airflow builds one Airflow container from the shared settings, without
// credentials (see withCredentials). Every Airflow container runs as
// AIRFLOW_UID:0 and shares one logs volume, so the api-server reads the
// stack's task logs from disk rather than from the workers (a worker
// node's come from its log server, see Node); each sees the project's
// dags/ and plugins/ live (see LiveFolders), and the parse stamps. Image is
// AIRFLOW_IMAGE_NAME, which the Dagger layer builds into the project's
// image (see ImageSteps). Airflow's plain settings from
// .env (AIRFLOW__*) reach every Airflow container, as with compose's env_file.
func airflow(c Config, name string, kind Kind, args []string, needs ...string) Spec {
	env := AirflowEnv(c)
	// The edit loop; .env may say otherwise. New DAG files are looked for
	// every 5 s, not 300. A DAG's tasks (its serialized form, what the
	// scheduler runs and the UI draws) are stored at every parse that
	// changed them: Airflow's default skips that for 30 s after the last
	// store, so a second save within 30 s changed the DAG's tags at once but
	// its tasks only at a later parse of the file, minutes later here.
	env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] = "5"
	env["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"] = "0"
	// No bytecode in the live folders: Python trusts a .pyc whose source
	// has the same size and the same whole second of modification time,
	// so a same-size save within a second of a parse would run the old
	// code, for good. The image's own packages keep their bytecode.
	env["PYTHONDONTWRITEBYTECODE"] = "1"
	for k, v := range c.AirflowSettings {
		env[k] = v
	}
	return Spec{
		Name:         name,
		Kind:         kind,
		BootsLate:    kind == Service,
		Image:        c.AirflowImage,
		ProjectImage: true,
		Args:         args,
		User:         c.AirflowUser(),
		Env:          env,
		SecretEnv:    map[string]string{},
		Volumes:      []Volume{c.logsVolume(), c.liveVolume("dags"), c.liveVolume("plugins"), c.liveVolume("dbt"), c.stampsVolume()},
		Mounts: []Mount{
			// config/ of AIRFLOW_PROJ_DIR as it is when the container starts.
			{Path: AirflowHome + "/config", Source: path.Join(c.ProjDir(), "config"), Dir: true, Optional: true},
		},
		Needs: needs,
	}
}

// AirflowUser is the user:group every Airflow container runs as.
func (c Config) AirflowUser() string { return itoa(c.AirflowUID) + ":0" }

// ownVolumes is the root step giving the logs volume and the live folders
// to AIRFLOW_UID (scripts/own-volumes.sh).
func ownVolumes(c Config) []string {
	return append([]string{"sh", ownVolumesScript, c.AirflowUser(), "--logs", c.logsVolume().Path}, liveTrees(c)...)
}

// Init is the one-shot airflow-init: migrate the metadata database, create the
// admin user if missing, warn when the machine is under the spec's minimum.
// Unlike the official image it fails on any error, and a second run on the
// same data succeeds without changing anything. As root first, it gives
// the volumes to AIRFLOW_UID and makes the keys not given in .env, once per
// project (random, kept in their volumes, readable only by AIRFLOW_UID;
// wipe removes them); it makes the live folders exactly the project's.
func Init(c Config) Spec {
	s := withCredentials(c, airflow(c, JobInit, Job, []string{"bash", airflowInitScript}, HostPostgres), SecretSQLAlchemyConn)
	root := ownVolumes(c)
	for _, name := range []string{SecretFernetKey, SecretJWTSecret, SecretLiveKey} {
		if c.generated(name) {
			s.Volumes = append(s.Volumes, c.keyVolume(name))
			root = append(root, "--key", c.keyFile(name))
		}
	}
	s.AsRoot = root
	s = withLiveFolders(c, s, "", "dags", "plugins") // dbt/: the dbt job's
	s.Env["_AIRFLOW_WWW_USER_USERNAME"] = c.AirflowWWWUser
	s.Env["_AIRFLOW_DB_MIGRATE"] = "true"
	s.Env["_AIRFLOW_WWW_USER_CREATE"] = "true"
	s.SecretEnv["_AIRFLOW_WWW_USER_PASSWORD"] = SecretWWWPassword
	return s
}

// airflowService is a long-running Airflow service after init and the dbt
// job, with its credentials, under its supervisor.
func airflowService(c Config, name string, args []string, credentials ...string) Spec {
	return supervise(withCredentials(c, airflow(c, name, Service, args, HostPostgres, HostValkey, JobInit, JobDbtPrepare), credentials...), "TERM")
}

// APIServer serves the UI, the REST API v2 and the Execution API workers use.
func APIServer(c Config) Spec {
	s := airflowService(c, HostAPIServer, []string{"airflow", "api-server", "--port", itoa(PortAPIServer)},
		SecretSQLAlchemyConn, SecretFernetKey, SecretJWTSecret, Connections)
	s.Ports = []int{PortAPIServer}
	return s
}

// Scheduler, with its health endpoint on 8974. Like the dag-processor and
// the triggerer it talks to the database, not to the api-server, so (as in
// the spec) it starts beside the api-server rather than after it.
func Scheduler(c Config) Spec {
	s := airflowService(c, "airflow-scheduler", []string{"airflow", "scheduler"},
		SecretSQLAlchemyConn, SecretBrokerURL, SecretResultBackend, SecretFernetKey, SecretJWTSecret)
	s.Ports = []int{PortScheduler}
	return s
}

// DagProcessor parses dags/ (a separate process since Airflow 3); it runs
// callbacks through an in-process Execution API.
// It stamps every DAG file it compiles (see ParseStamps).
func DagProcessor(c Config) Spec {
	return withStamps(airflowService(c, "airflow-dag-processor", []string{"airflow", "dag-processor"},
		SecretSQLAlchemyConn, SecretFernetKey, Connections))
}

// Triggerer runs the event loops of deferred tasks (in-process Execution API).
func Triggerer(c Config) Spec {
	return airflowService(c, "airflow-triggerer", []string{"airflow", "triggerer"},
		SecretSQLAlchemyConn, SecretFernetKey, Connections)
}

// Worker is Celery worker number i (1-based), with a hostname of its own so
// Celery and Flower tell the workers apart, and its tasks are recorded
// under its name (the UI says which worker ran a task; a Dagger container's
// own hostname is "localhost"). Its tasks report to the api-server's
// Execution API, but the worker itself never calls it: it reaches the
// api-server by name and starts beside it, not after it.
// DUMB_INIT_SETSID=0 lets Celery finish running tasks on SIGTERM, as in the spec.
func Worker(c Config, i int) Spec {
	s := celeryWorker(c, i, "%h")
	return reportedAs(s, s.Name)
}

// reportedAs makes Airflow in s record its tasks under host
// (python/worker_hostname.py of the module's scripts).
func reportedAs(s Spec, host string) Spec {
	s.Env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = WorkerHostnameCallable
	s.Env["DATAPLATFORM_WORKER_HOSTNAME"] = host
	s.Env["PYTHONPATH"] = PythonDir
	return s
}

// celeryWorker is worker i, known to Celery as airflow-worker-i@host;
// more are more options of `airflow celery worker`.
func celeryWorker(c Config, i int, host string, more ...string) Spec {
	name := fmt.Sprintf("airflow-worker-%d", i)
	s := airflowService(c, name, append([]string{"airflow", "celery", "worker", "--celery-hostname", name + "@" + host}, more...),
		SecretSQLAlchemyConn, SecretBrokerURL, SecretResultBackend, Connections)
	s.Reaches = []string{HostAPIServer}
	s.Env["DUMB_INIT_SETSID"] = "0"
	s.Ports = []int{PortWorkerLog}
	return s
}

// Flower is the optional Celery dashboard, behind a login (the admin's user
// and password); its API is not opened anonymously.
func Flower(c Config) Spec {
	s := supervise(withCredentials(c, airflow(c, HostFlower, Service, []string{"airflow", "celery", "flower", "--port", itoa(PortFlower)},
		HostValkey, JobInit), SecretSQLAlchemyConn, SecretBrokerURL, SecretFlowerAuth), "TERM")
	s.Ports = []int{PortFlower}
	return s
}

// CLI is the spec's airflow-cli: one ad-hoc `airflow ...` command.
func CLI(c Config, args []string) Spec {
	s := withCredentials(c, airflow(c, "airflow-cli", Job, append([]string{"airflow"}, args...), HostPostgres),
		SecretSQLAlchemyConn, SecretBrokerURL, SecretResultBackend, SecretFernetKey, Connections)
	s.Env["CONNECTION_CHECK_MAX_COUNT"] = "0"
	return s
}

// Shell is the airflow-cli container as an interactive shell (bash), with
// the project's settings and the CLI's credentials.
func Shell(c Config) Spec {
	s := CLI(c, nil)
	s.Name = "airflow-shell"
	s.Args = []string{"bash"}
	return s
}
