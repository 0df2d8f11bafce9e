package pipeline

import (
	"reflect"
	"strconv"
	"strings"
)

// Config is the table of the platform's variables: one field a variable,
// whose tags say everything about it, and everything about a variable is
// read from them (loading, validation, `config`'s masking, the refusal of
// secrets in --set, the warnings, the constructor's secret arguments):
//
//	env     name and default, as github.com/sethvargo/go-envconfig reads them
//	        (the spec's .env.example: same names, same defaults)
//	secret  a secret: the constructor argument that passes it as a Dagger
//	        secret (a test checks main.go has it); masked, refused in --set
//	check   the validation of its value (see checks)
//	warn    "known": warned while it is the spec's default (a password
//	        anyone can read in the spec); "unnamed": warned while not set
//
// Adding a secret variable: a row here, and its argument in main.go's New.
// Variables marked "added" are not in the spec: Airflow 3 needs them, or
// they pin images the spec left implicit. The AIRFLOW__* settings of the
// spec are derived (see AirflowEnv), never typed by users.
type Config struct {
	// PostgreSQL
	PostgresUser     string `env:"POSTGRES_USER, default=app" check:"name"`
	PostgresPassword string `env:"POSTGRES_PASSWORD, default=changeme" secret:"postgresPassword" check:"password" warn:"known"`
	PostgresDB       string `env:"POSTGRES_DB, default=app" check:"name"`
	PostgresPort     int    `env:"POSTGRES_PORT, default=5432" check:"port"`
	PostgresImage    string `env:"POSTGRES_IMAGE_NAME, default=postgres:16" check:"image"` // added

	// Valkey
	ValkeyPassword  string `env:"VALKEY_PASSWORD, default=changeme" secret:"valkeyPassword" check:"password" warn:"known"`
	ValkeyImage     string `env:"VALKEY_IMAGE_NAME, default=valkey/valkey:9.0.2" check:"image"`
	ValkeyMaxmemory string `env:"VALKEY_MAXMEMORY, default=256mb" check:"size"`
	ValkeyPort      int    `env:"VALKEY_PORT, default=6379" check:"port"` // added: on the host only with `up --remote-workers`

	// Airflow metadata database
	AirflowDBUser     string `env:"AIRFLOW_DB_USER, default=airflow" check:"name"`
	AirflowDBPassword string `env:"AIRFLOW_DB_PASSWORD, default=airflow" secret:"airflowDbPassword" check:"password" warn:"known"`
	AirflowDBName     string `env:"AIRFLOW_DB_NAME, default=airflow" check:"name"`

	// dbt
	DbtDBUser     string `env:"DBT_DB_USER, default=dbt" check:"name"`
	DbtDBPassword string `env:"DBT_DB_PASSWORD, default=changeme" secret:"dbtDbPassword" check:"password" warn:"known"`
	DbtDBName     string `env:"DBT_DB_NAME, default=analytics" check:"name"`
	DbtSchema     string `env:"DBT_SCHEMA, default=public" check:"name"`
	DbtImage      string `env:"DBT_IMAGE_NAME, default=ghcr.io/dbt-labs/dbt-postgres:1.9.0" check:"image"` // added

	// Airflow, general
	AirflowUID         int    `env:"AIRFLOW_UID, default=50000" check:"uid"`
	AirflowImage       string `env:"AIRFLOW_IMAGE_NAME, default=apache/airflow:3.1.7" check:"image"`
	AirflowAPIPort     int    `env:"AIRFLOW_API_PORT, default=8080" check:"port"`
	AirflowFernetKey   string `env:"AIRFLOW_FERNET_KEY" secret:"fernetKey" check:"fernet"`
	AirflowWWWUser     string `env:"AIRFLOW_WWW_USER, default=airflow" check:"required"`
	AirflowWWWPassword string `env:"AIRFLOW_WWW_PASSWORD, default=airflow" secret:"airflowWwwPassword" check:"password" warn:"known"`
	AirflowJWTSecret   string `env:"AIRFLOW_JWT_SECRET" secret:"jwtSecret" check:"jwt"`    // added
	AirflowJWTIssuer   string `env:"AIRFLOW_JWT_ISSUER, default=airflow" check:"required"` // added
	PipAdditionalReqs  string `env:"_PIP_ADDITIONAL_REQUIREMENTS" check:"requirements"`
	AirflowProjDir     string `env:"AIRFLOW_PROJ_DIR, default=." check:"relpath"`
	FlowerPort         int    `env:"FLOWER_PORT, default=5555" check:"port"`
	LivePort           int    `env:"LIVE_PORT, default=8090" check:"port"` // added: the live edits' receiver (cmd/live)
	// added: compose's own name, keys the data volumes
	ProjectName string `env:"COMPOSE_PROJECT_NAME, default=dataplatform" check:"project" warn:"unnamed"`

	// Airflow's own settings from .env, passed to every Airflow container as
	// the official compose file's env_file does (see classify): plain
	// AIRFLOW__SECTION__KEY values, and the ones that hold credentials
	// (AIRFLOW_CONN_*, AIRFLOW_VAR_*, secret-looking keys) as secrets.
	AirflowSettings map[string]string
	AirflowSecrets  map[string]string
	// Origin of each variable's value: default, .env, --set or its secret argument.
	Origin map[string]string
	// Settings are the project's connections, variables and pools
	// (SettingsFile), nil without the file; settingsResolved, the same with
	// the values of .env they name (a secret).
	Settings         *Settings `env:",noinit"`
	settingsResolved string
	// Warnings about names the module does not use; they stop nothing.
	Warnings []string

	// database: where containers reach PostgreSQL, set by a plan (see
	// Options.Database): "" for the stack's own service, HostPostgres.
	database string
	// stack: the address of the stack's machine a worker node joins (see
	// Node); "" in the stack itself.
	stack string
	// dbtServer: the running stack's warm dbt a dbt command goes through
	// (see Options.DbtServer).
	dbtServer string
}

// DatabaseHost is the host containers reach PostgreSQL at.
func (c Config) DatabaseHost() string {
	switch {
	case c.stack != "":
		return c.stack
	case c.database != "":
		return c.database
	}
	return HostPostgres
}

// databasePort is the port containers reach PostgreSQL at: a worker node
// reaches the stack's through its host port.
func (c Config) databasePort() int {
	if c.stack != "" {
		return c.PostgresPort
	}
	return PortPostgres
}

// broker is the host and port containers reach Valkey at.
func (c Config) broker() (string, int) {
	if c.stack != "" {
		return c.stack, c.ValkeyPort
	}
	return HostValkey, PortValkey
}

// Variable is one row of the table: a field of Config and its tags.
type Variable struct {
	Name    string // as in .env
	Default string
	Field   string // Config's field
	Secret  string // the constructor argument passing it as a secret, "" if not secret
	Check   string // see checks
	Warn    string // "known", "unnamed" or ""
}

// Flag is the command-line form of the variable's secret argument.
func (v Variable) Flag() string {
	if v.Secret == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("--")
	for _, r := range v.Secret {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('-')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Variables is the table, in Config's order.
func Variables() []Variable {
	var out []Variable
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("env")
		name, opts, _ := strings.Cut(tag, ",")
		if !ok || name == "" { // not a variable (Settings: only envconfig's noinit)
			continue
		}
		_, def, _ := strings.Cut(opts, "default=")
		out = append(out, Variable{Name: strings.TrimSpace(name), Default: def, Field: f.Name,
			Secret: f.Tag.Get("secret"), Check: f.Tag.Get("check"), Warn: f.Tag.Get("warn")})
	}
	return out
}

// variable is the row of a name, and whether there is one.
func variable(name string) (Variable, bool) {
	for _, v := range Variables() {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// SecretVariables are the rows that are secrets.
func SecretVariables() []Variable {
	var out []Variable
	for _, v := range Variables() {
		if v.Secret != "" {
			out = append(out, v)
		}
	}
	return out
}

// knownNames lists the variables, in Config's order.
func knownNames() []string {
	var names []string
	for _, v := range Variables() {
		names = append(names, v.Name)
	}
	return names
}

// value is a variable's value in c, as text.
func (c Config) value(v Variable) string {
	f := reflect.ValueOf(c).FieldByName(v.Field)
	if f.Kind() == reflect.Int {
		return strconv.FormatInt(f.Int(), 10)
	}
	return f.String()
}
