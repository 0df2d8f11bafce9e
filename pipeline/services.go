package pipeline

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Hostnames, as the services see each other (the spec's compose service names).
const (
	HostPostgres  = "postgres"
	HostValkey    = "valkey"
	HostAPIServer = "airflow-apiserver"
)

// Container-side ports.
const (
	PortPostgres  = 5432
	PortValkey    = 6379
	PortAPIServer = 8080
	PortScheduler = 8974 // scheduler health endpoint
	PortWorkerLog = 8793 // worker log server
	PortFlower    = 5555
	PortDbtDocs   = 8081
)

// Paths inside the containers.
const (
	AirflowHome  = "/opt/airflow"
	PGData       = "/var/lib/postgresql/data"
	ValkeyData   = "/data"
	DbtProject   = "/usr/app/dbt"
	SecretsDir   = "/run/secrets"
	InitDBScript = "/docker-entrypoint-initdb.d/init-db.sh"
	// PostgresStartScript starts PostgreSQL with the roles' passwords of .env.
	PostgresStartScript = "/usr/local/lib/dataplatform/postgres-start.sh"
)

// Secret names: keys of Secrets(cfg), values reach containers only as
// secret env vars or mounted secret files.
const (
	SecretPostgresPassword  = "postgres-password"
	SecretAirflowDBPassword = "airflow-db-password"
	SecretDbtDBPassword     = "dbt-db-password"
	SecretValkeyPassword    = "valkey-password"
	SecretValkeyConf        = "valkey-auth-conf"
	SecretWWWPassword       = "airflow-www-password"
	SecretSQLAlchemyConn    = "airflow-sql-alchemy-conn"
	SecretResultBackend     = "airflow-celery-result-backend"
	SecretBrokerURL         = "airflow-celery-broker-url"
	SecretFernetKey         = "airflow-fernet-key"
	SecretJWTSecret         = "airflow-jwt-secret"
	SecretAnalyticsConn     = "airflow-conn-analytics"
	SecretFlowerAuth        = "airflow-flower-basic-auth"
)

// Secrets computes every secret value from the configuration, by name.
// Credentials are percent-encoded inside connection URLs, so any printable
// character works in a password (and none can redirect a connection).
func Secrets(c Config) map[string]string {
	airflowDB := dbURL("postgresql+psycopg2", c.dbHost(), c.AirflowDBUser, c.AirflowDBPassword, c.AirflowDBName)
	secrets := map[string]string{
		SecretPostgresPassword:  c.PostgresPassword,
		SecretAirflowDBPassword: c.AirflowDBPassword,
		SecretDbtDBPassword:     c.DbtDBPassword,
		SecretValkeyPassword:    c.ValkeyPassword,
		SecretValkeyConf:        "requirepass " + valkeyQuote(c.ValkeyPassword) + "\n",
		SecretWWWPassword:       c.AirflowWWWPassword,
		SecretSQLAlchemyConn:    airflowDB,
		SecretResultBackend:     "db+" + dbURL("postgresql", c.dbHost(), c.AirflowDBUser, c.AirflowDBPassword, c.AirflowDBName),
		SecretBrokerURL: fmt.Sprintf("redis://:%s@%s:%d/0", EscapeUserinfo(c.ValkeyPassword),
			HostValkey, PortValkey),
		SecretFlowerAuth:    c.AirflowWWWUser + ":" + c.AirflowWWWPassword,
		SecretAnalyticsConn: dbURL("postgresql", c.dbHost(), c.DbtDBUser, c.DbtDBPassword, c.DbtDBName),
	}
	// Keys the user gave; the others are generated in the stack (see Init).
	if c.AirflowFernetKey != "" {
		secrets[SecretFernetKey] = c.AirflowFernetKey
	}
	if c.AirflowJWTSecret != "" {
		secrets[SecretJWTSecret] = c.AirflowJWTSecret
	}
	for name, value := range c.AirflowSecrets {
		secrets[passThroughSecret(name)] = value
	}
	return secrets
}

// passThroughSecret names the secret of an Airflow variable from .env.
func passThroughSecret(variable string) string {
	return "env-" + strings.ToLower(strings.ReplaceAll(variable, "_", "-"))
}

// dbURL is a connection URL to a database of the stack's PostgreSQL.
func dbURL(scheme, host, user, password, db string) string {
	return fmt.Sprintf("%s://%s:%s@%s:%d/%s", scheme, EscapeUserinfo(user), EscapeUserinfo(password),
		host, PortPostgres, db)
}

// EscapeUserinfo percent-encodes every byte but RFC 3986's unreserved ones.
// SQLAlchemy, kombu and Airflow's connection parser all decode it; '$' never
// meets Airflow's environment-variable expansion, '%' never a config parser.
func EscapeUserinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte("-._~", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// valkeyQuote is a double-quoted string of Valkey's config file syntax:
// backslash and double quote escaped, every other byte outside printable
// ASCII as \xHH.
func valkeyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' || ch == '"':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Volume is a persistent cache volume; its key includes the project so two
// projects never share data.
type Volume struct {
	Key       string
	Path      string
	Owner     string // user:group owning the volume's root, "" for root
	Exclusive bool   // one container at a time (a database must never run twice on its files)
}

// Mount copies a file or folder of the project into the container.
type Mount struct {
	Path     string // in the container
	Source   string // relative to the project root
	Dir      bool
	Optional bool // skipped when missing from the project
}

// Service is everything the Dagger layer needs to build one container.
type Service struct {
	Name       string            // hostname other services use
	Image      string            // image reference
	Args       []string          // command line
	User       string            // user:group, "" for the image's
	Env        map[string]string // plain variables
	SecretEnv  map[string]string // variable -> secret name
	SecretFile map[string]string // path -> secret name
	Ports      []int             // exposed ports; Dagger waits for them before dependants start
	Volumes    []Volume
	Mounts     []Mount
	Needs      []string // services it binds (by hostname) or jobs that must finish first, in start order
	// Reaches: services it calls by hostname once running, without waiting
	// for them to start (the gateway starts them); it starts beside them.
	Reaches []string
	// AsRoot runs once as root, after the volumes are mounted, before the
	// container switches to User.
	AsRoot []string
	// Restart runs a long-running service under the supervisor (compose's
	// `restart: always`, see supervise); StopSignal is what stops it cleanly.
	Restart    bool
	StopSignal string
	// Prepare: shell lines run once when the container starts, before the
	// command (and its supervisor): never again on a restart.
	Prepare []string
	// Holds names the exclusive data the service runs on, whose lock it
	// holds while it runs (see holding); HeldBy says who holds it
	// (HolderStack or HolderCall); Stale lists files a killed server leaves
	// behind, removed once the lock is held.
	Holds  string
	HeldBy string
	Stale  []string
}

// Command is the command line a service container runs: Args, under the
// supervisor when the service restarts, after Prepare.
func (s Service) Command() []string {
	cmd := s.Args
	if s.Restart {
		cmd = Supervised(s.Name, s.StopSignal, s.Args)
	}
	cmd = s.heldCommand(cmd)
	if len(s.Prepare) == 0 {
		return cmd
	}
	return append([]string{"sh", "-c", strings.Join(s.Prepare, "\n") + "\nexec \"$@\"", "sh"}, cmd...)
}

// Credentials lists, sorted, the secrets a container receives: by secret
// name, its secret env vars and files, and the generated keys it mounts.
func (s Service) Credentials() []string {
	var out []string
	for _, name := range s.SecretEnv {
		out = append(out, name)
	}
	for _, name := range s.SecretFile {
		out = append(out, name)
	}
	for _, v := range s.Volumes {
		if strings.HasPrefix(v.Path, AirflowHome+"/secrets/") {
			out = append(out, path.Base(v.Path)+" (generated)")
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// SortedEnv returns the plain variables sorted by name, for stable builds.
func (s Service) SortedEnv() [][2]string {
	return sortedPairs(s.Env)
}

// SortedSecretEnv returns the secret variables sorted by name.
func (s Service) SortedSecretEnv() [][2]string {
	return sortedPairs(s.SecretEnv)
}

// SortedSecretFiles returns the secret files sorted by path.
func (s Service) SortedSecretFiles() [][2]string {
	return sortedPairs(s.SecretFile)
}

func sortedPairs(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func (c Config) volume(name, path, owner string, exclusive bool) Volume {
	return Volume{Key: "dataplatform-" + c.ProjectName + "-" + name, Path: path, Owner: owner, Exclusive: exclusive}
}

// Volumes of a project: what `Wipe` empties (the spec's `down -v`).
func (c Config) Volumes() []Volume {
	return []Volume{c.PostgresVolume(), c.valkeyVolume(), c.logsVolume(),
		c.keyVolume(SecretFernetKey), c.keyVolume(SecretJWTSecret), c.dbtPackagesVolume(), c.serviceLogsVolume(),
		c.runVolume()}
}

// serviceLogsVolume keeps the services' output (see keepingOutput).
func (c Config) serviceLogsVolume() Volume {
	return c.volume("service-logs", ServiceLogs, "", false)
}

// DbtPackagesCache is where dbt's installed packages are kept between calls.
const DbtPackagesCache = "/usr/app/dbt-packages-cache"

// dbtPackagesVolume keeps dbt's installed packages (see dbtDeps).
func (c Config) dbtPackagesVolume() Volume {
	return c.volume("dbt-packages", DbtPackagesCache, "", false)
}

// keyVolume holds one generated key of the project (a file "key"), one volume
// per key so a container that needs one never sees the other.
func (c Config) keyVolume(secret string) Volume {
	return c.volume(secret, AirflowHome+"/secrets/"+secret, "", false)
}

// generated: the key named by secret is not given and so generated per project.
func (c Config) generated(secret string) bool {
	return secret == SecretFernetKey && c.AirflowFernetKey == "" || secret == SecretJWTSecret && c.AirflowJWTSecret == ""
}

// PostgresVolume holds the PostgreSQL data, locked to one container at a time.
func (c Config) PostgresVolume() Volume { return c.volume("postgres", PGData, "", true) }
func (c Config) valkeyVolume() Volume   { return c.volume("valkey", ValkeyData, "", true) }

// The logs volume is shared by every Airflow container. It has no Dagger
// owner: mounting one shared volume with an owner from several containers
// starting at once makes the engine's overlay mounts collide. Init chowns it.
func (c Config) logsVolume() Volume {
	return c.volume("airflow-logs", AirflowHome+"/logs", "", false)
}

// AirflowUser is the user:group every Airflow container runs as.
func (c Config) AirflowUser() string { return strconv.Itoa(c.AirflowUID) + ":0" }

// Postgres: one server, three databases. The image's entrypoint creates the
// superuser and POSTGRES_DB, then runs init-db.sh once on an empty data dir;
// on every later start init/postgres-start.sh first gives the three roles
// the passwords of .env. A postmaster.pid found once the container holds
// the data lock is stale (an engine kill leaves it behind) and removed;
// never on a restart in the same container, where an old postmaster may
// still live. INT is its fast shutdown (the official image's STOPSIGNAL).
func Postgres(c Config) Service {
	return holding(c, supervise(Service{
		Name:  HostPostgres,
		Image: c.PostgresImage,
		Args:  []string{"sh", PostgresStartScript},
		Env: map[string]string{
			"POSTGRES_USER":   c.PostgresUser,
			"POSTGRES_DB":     c.PostgresDB,
			"PGDATA":          PGData,
			"AIRFLOW_DB_USER": c.AirflowDBUser,
			"AIRFLOW_DB_NAME": c.AirflowDBName,
			"DBT_DB_USER":     c.DbtDBUser,
			"DBT_DB_NAME":     c.DbtDBName,
		},
		SecretEnv: map[string]string{
			"POSTGRES_PASSWORD":   SecretPostgresPassword,
			"AIRFLOW_DB_PASSWORD": SecretAirflowDBPassword,
			"DBT_DB_PASSWORD":     SecretDbtDBPassword,
		},
		Ports:   []int{PortPostgres},
		Volumes: []Volume{c.PostgresVolume()},
		Mounts: []Mount{
			{Path: InitDBScript, Source: "init/init-db.sh"},
			{Path: PostgresStartScript, Source: "init/postgres-start.sh"},
		},
	}, "INT"), HostPostgres, PGData+"/postmaster.pid")
}

// Valkey: the Celery broker. The password comes from a mounted secret config
// file, so it never appears on a command line; AOF persistence, and a memory
// cap that refuses writes rather than evicting queued tasks.
func Valkey(c Config) Service {
	return holding(c, supervise(Service{
		Name:  HostValkey,
		Image: c.ValkeyImage,
		Args: []string{"valkey-server", SecretsDir + "/valkey.conf",
			"--appendonly", "yes",
			"--maxmemory", c.ValkeyMaxmemory,
			"--maxmemory-policy", "noeviction",
			"--dir", ValkeyData},
		SecretEnv:  map[string]string{"REDISCLI_AUTH": SecretValkeyPassword},
		SecretFile: map[string]string{SecretsDir + "/valkey.conf": SecretValkeyConf},
		Ports:      []int{PortValkey},
		Volumes:    []Volume{c.valkeyVolume()},
	}, "TERM"), HostValkey)
}

// JobInit is the one-shot init; services that need it start after it finished.
const JobInit = "airflow-init"

// HostFlower is Flower's hostname.
const HostFlower = "airflow-flower"

// HostGateway is the service that carries the stack's host-facing ports.
const HostGateway = "gateway"
