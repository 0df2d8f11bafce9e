// Package pipeline holds the logic of the data-platform module as pure Go:
// configuration, and each service's image, command line, environment, secrets,
// ports and start order. The module's main package only turns these
// definitions into Dagger containers, so everything here is unit-tested
// without an engine.
package pipeline

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Config mirrors the spec's .env.example: same names, same defaults. The
// AIRFLOW__* settings of the spec are derived from it (see AirflowEnv), never
// typed by users. Variables marked "added" are not in the spec: Airflow 3 needs
// them, or they pin images the spec left implicit.
type Config struct {
	// PostgreSQL
	PostgresUser     string `env:"POSTGRES_USER, default=app"`
	PostgresPassword string `env:"POSTGRES_PASSWORD, default=changeme"`
	PostgresDB       string `env:"POSTGRES_DB, default=app"`
	PostgresPort     int    `env:"POSTGRES_PORT, default=5432"`
	PostgresImage    string `env:"POSTGRES_IMAGE_NAME, default=postgres:16"` // added

	// Valkey
	ValkeyPassword  string `env:"VALKEY_PASSWORD, default=changeme"`
	ValkeyImage     string `env:"VALKEY_IMAGE_NAME, default=valkey/valkey:9.0.2"`
	ValkeyMaxmemory string `env:"VALKEY_MAXMEMORY, default=256mb"`

	// Airflow metadata database
	AirflowDBUser     string `env:"AIRFLOW_DB_USER, default=airflow"`
	AirflowDBPassword string `env:"AIRFLOW_DB_PASSWORD, default=airflow"`
	AirflowDBName     string `env:"AIRFLOW_DB_NAME, default=airflow"`

	// dbt
	DbtDBUser     string `env:"DBT_DB_USER, default=dbt"`
	DbtDBPassword string `env:"DBT_DB_PASSWORD, default=changeme"`
	DbtDBName     string `env:"DBT_DB_NAME, default=analytics"`
	DbtSchema     string `env:"DBT_SCHEMA, default=public"`
	DbtImage      string `env:"DBT_IMAGE_NAME, default=ghcr.io/dbt-labs/dbt-postgres:1.9.0"` // added

	// Airflow, general
	AirflowUID         int    `env:"AIRFLOW_UID, default=50000"`
	AirflowImage       string `env:"AIRFLOW_IMAGE_NAME, default=apache/airflow:3.1.7"`
	AirflowAPIPort     int    `env:"AIRFLOW_API_PORT, default=8080"`
	AirflowFernetKey   string `env:"AIRFLOW_FERNET_KEY"`
	AirflowWWWUser     string `env:"AIRFLOW_WWW_USER, default=airflow"`
	AirflowWWWPassword string `env:"AIRFLOW_WWW_PASSWORD, default=airflow"`
	AirflowJWTSecret   string `env:"AIRFLOW_JWT_SECRET"`                  // added
	AirflowJWTIssuer   string `env:"AIRFLOW_JWT_ISSUER, default=airflow"` // added
	PipAdditionalReqs  string `env:"_PIP_ADDITIONAL_REQUIREMENTS"`
	AirflowProjDir     string `env:"AIRFLOW_PROJ_DIR, default=."`
	FlowerPort         int    `env:"FLOWER_PORT, default=5555"`
	ProjectName        string `env:"COMPOSE_PROJECT_NAME, default=dataplatform"` // added: compose's own name, keys the data volumes

	// Airflow's own settings from .env, passed to every Airflow container as
	// the official compose file's env_file does (see classify): plain
	// AIRFLOW__SECTION__KEY values, and the ones that hold credentials
	// (AIRFLOW_CONN_*, AIRFLOW_VAR_*, secret-looking keys) as secrets.
	AirflowSettings map[string]string
	AirflowSecrets  map[string]string
	// Origin of each variable's value: default, .env, --set or its secret argument.
	Origin map[string]string
	// Warnings about names the module does not use; they stop nothing.
	Warnings []string
	// DatabaseHost is where containers reach PostgreSQL: "" for the
	// stack's own service (HostPostgres), or the address of the server a
	// running stack holds (see the data lock), for calls made beside it.
	DatabaseHost string
}

// dbHost is the host containers reach PostgreSQL at.
func (c Config) dbHost() string {
	if c.DatabaseHost != "" {
		return c.DatabaseHost
	}
	return HostPostgres
}

// Where a value came from, as `config` shows it.
const (
	FromDefault = "default"
	FromDotenv  = ".env"
	FromSet     = "--set"
)

// SecretArgs maps each secret variable to the constructor argument that
// passes it as a Dagger secret. These never travel as plain --set values.
var SecretArgs = map[string]string{
	"POSTGRES_PASSWORD":    "--postgres-password",
	"VALKEY_PASSWORD":      "--valkey-password",
	"AIRFLOW_DB_PASSWORD":  "--airflow-db-password",
	"DBT_DB_PASSWORD":      "--dbt-db-password",
	"AIRFLOW_WWW_PASSWORD": "--airflow-www-password",
	"AIRFLOW_FERNET_KEY":   "--fernet-key",
	"AIRFLOW_JWT_SECRET":   "--jwt-secret",
}

// Input is what the configuration is read from, in rising precedence: the
// project's .env, --set NAME=VALUE, and the secret arguments.
type Input struct {
	Dotenv  string            // content of .env, "" when there is none
	Set     []string          // --set NAME=VALUE, in order
	Secrets map[string]string // secret variable -> value of its argument
}

// LoadConfig reads the configuration and validates it. Every problem is in
// the one error, one per line, each naming its variable or .env line:
// unreadable lines, misspelt names, values of the wrong type, invalid values.
func LoadConfig(ctx context.Context, in Input) (Config, error) {
	env := ParseDotenv(in.Dotenv)
	problems := env.Problems
	vars := map[string]string{}
	origin := map[string]string{}
	for k, v := range env.Vars {
		vars[k], origin[k] = v, FromDotenv
	}
	for _, kv := range in.Set {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			problems = append(problems, fmt.Errorf("--set %q: expected NAME=VALUE", kv))
		case SecretArgs[k] != "":
			problems = append(problems, fmt.Errorf("--set %s: a secret is never a plain argument; pass it with %s env://VAR or %s file://PATH", k, SecretArgs[k], SecretArgs[k]))
		case isAirflowSecret(k):
			problems = append(problems, fmt.Errorf("--set %s: holds credentials; put it in .env, where it reaches Airflow as a secret", k))
		default:
			vars[k], origin[k] = v, FromSet
		}
	}
	for k, v := range in.Secrets {
		vars[k], origin[k] = v, SecretArgs[k]
	}
	extra := classify(vars, origin)
	problems = append(problems, extra.problems...)
	warnings := extra.warnings
	for _, name := range env.Unset {
		warnings = append(warnings, fmt.Sprintf(".env: ${%s} is not defined in the file and reads as empty (compose would take it from your shell)", name))
	}
	var cfg Config
	problems = append(problems, decode(ctx, &cfg, vars)...)
	cfg.AirflowSettings, cfg.AirflowSecrets = extra.settings, extra.secrets
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	for _, name := range knownNames() {
		if origin[name] == "" {
			origin[name] = FromDefault
		}
	}
	warnings = append(warnings, defaultPasswords(cfg)...)
	if origin["COMPOSE_PROJECT_NAME"] == FromDefault {
		warnings = append(warnings, "COMPOSE_PROJECT_NAME is not set: every checkout without one shares this data (\"dataplatform\") on this engine; "+
			"compose would name the project after its folder, which a Dagger module cannot see: set it in .env")
	}
	cfg.Origin, cfg.Warnings = origin, warnings
	return cfg, errors.Join(problems...)
}

// decode maps the variables onto cfg with go-envconfig. envconfig stops at
// the first value of the wrong type; that value is reported, dropped, and
// decoding runs again, so all of them are reported together.
func decode(ctx context.Context, cfg *Config, vars map[string]string) []error {
	var problems []error
	for {
		*cfg = Config{}
		err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: cfg, Lookuper: envconfig.MapLookuper(vars)})
		if err == nil {
			return problems
		}
		name, friendly := friendlyEnvError(err)
		problems = append(problems, friendly)
		if _, ok := vars[name]; !ok {
			return problems
		}
		delete(vars, name)
	}
}

// friendlyEnvError turns envconfig's parse errors ("Field: strconv...") into
// "VARIABLE: problem", and says which variable it was.
func friendlyEnvError(err error) (string, error) {
	msg := err.Error()
	i := strings.Index(msg, "strconv.")
	if i < 0 {
		return "", err
	}
	name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":"))
	if f, ok := reflect.TypeOf(Config{}).FieldByName(name); ok {
		name = envName(f)
	}
	val := ""
	if _, quoted, ok := strings.Cut(msg[i:], "parsing "); ok {
		val, _, _ = strings.Cut(quoted, ":")
	}
	return name, fmt.Errorf("%s: %s is not a whole number", name, val)
}

// CheckWipe refuses to wipe the default project: every checkout without a
// COMPOSE_PROJECT_NAME shares it, so the data may be another checkout's.
func (c Config) CheckWipe() error {
	if c.Origin["COMPOSE_PROJECT_NAME"] == FromDefault {
		return fmt.Errorf("COMPOSE_PROJECT_NAME: wipe deletes the data of project %q, which every checkout without a COMPOSE_PROJECT_NAME shares on this engine; "+
			"name the project you mean (in .env, or --set COMPOSE_PROJECT_NAME=%s)", c.ProjectName, c.ProjectName)
	}
	return nil
}

// defaultPasswords warns once per password that is still the spec's default
// (the value is public: anyone on the network can use it).
func defaultPasswords(c Config) []string {
	var warnings []string
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name := envName(f)
		if !strings.HasSuffix(name, "_PASSWORD") {
			continue
		}
		_, def, _ := strings.Cut(f.Tag.Get("env"), "default=")
		if v.Field(i).String() == def {
			warnings = append(warnings, fmt.Sprintf("%s is the spec's default password, known to anyone: set your own in .env, or pass %s env://VAR", name, SecretArgs[name]))
		}
	}
	return warnings
}

// envName is the variable a Config field is read from, "" for none.
func envName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// knownNames lists the variables of Config, in its order.
func knownNames() []string {
	var names []string
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		if name := envName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

var (
	identRe     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,62}$`)
	maxmemoryRe = regexp.MustCompile(`^(?i)[1-9][0-9]*(b|k|kb|m|mb|g|gb)$`)
	projectRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	imageRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(@sha256:[a-f0-9]{64})?$`)
)

// Validate checks every value before any container starts. All problems are
// reported at once, one per line, each starting with the variable's name.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	for name, v := range map[string]string{
		"POSTGRES_PASSWORD":    c.PostgresPassword,
		"VALKEY_PASSWORD":      c.ValkeyPassword,
		"AIRFLOW_DB_PASSWORD":  c.AirflowDBPassword,
		"DBT_DB_PASSWORD":      c.DbtDBPassword,
		"AIRFLOW_WWW_PASSWORD": c.AirflowWWWPassword,
	} {
		switch {
		case v == "":
			bad(name, "must not be empty")
		case strings.ContainsAny(v, "\n\r"):
			bad(name, "must be a single line")
		}
	}
	for name, v := range map[string]string{
		"POSTGRES_USER": c.PostgresUser, "POSTGRES_DB": c.PostgresDB,
		"AIRFLOW_DB_USER": c.AirflowDBUser, "AIRFLOW_DB_NAME": c.AirflowDBName,
		"DBT_DB_USER": c.DbtDBUser, "DBT_DB_NAME": c.DbtDBName, "DBT_SCHEMA": c.DbtSchema,
	} {
		if !identRe.MatchString(v) {
			bad(name, "%q is not a valid PostgreSQL name (letters, digits, _; not starting with a digit; at most 63)", v)
		}
	}
	if c.AirflowDBUser == c.DbtDBUser {
		bad("DBT_DB_USER", "must differ from AIRFLOW_DB_USER (%q): each role owns only its own database", c.DbtDBUser)
	}
	for _, u := range []struct{ name, v string }{{"AIRFLOW_DB_USER", c.AirflowDBUser}, {"DBT_DB_USER", c.DbtDBUser}} {
		if u.v == c.PostgresUser {
			bad(u.name, "must differ from POSTGRES_USER (%q), the superuser", u.v)
		}
	}
	dbs := map[string]string{}
	for _, d := range []struct{ name, v string }{{"POSTGRES_DB", c.PostgresDB}, {"AIRFLOW_DB_NAME", c.AirflowDBName}, {"DBT_DB_NAME", c.DbtDBName}} {
		if other, dup := dbs[d.v]; dup {
			bad(d.name, "%q is already used by %s: the three databases must be distinct", d.v, other)
		}
		dbs[d.v] = d.name
	}
	ports := map[int]string{}
	for _, p := range []struct {
		name string
		v    int
	}{{"POSTGRES_PORT", c.PostgresPort}, {"AIRFLOW_API_PORT", c.AirflowAPIPort}, {"FLOWER_PORT", c.FlowerPort}} {
		if p.v < 1 || p.v > 65535 {
			bad(p.name, "%d is not a TCP port (1-65535)", p.v)
			continue
		}
		if other, dup := ports[p.v]; dup {
			bad(p.name, "port %d is already used by %s", p.v, other)
		}
		ports[p.v] = p.name
	}
	if !maxmemoryRe.MatchString(c.ValkeyMaxmemory) {
		bad("VALKEY_MAXMEMORY", "%q needs a positive size with a unit, e.g. 256mb or 1gb", c.ValkeyMaxmemory)
	}
	if c.AirflowUID < 0 || c.AirflowUID > 65535 {
		bad("AIRFLOW_UID", "%d is not a valid user id (0-65535)", c.AirflowUID)
	}
	if c.AirflowFernetKey != "" {
		if k, err := base64.URLEncoding.DecodeString(c.AirflowFernetKey); err != nil || len(k) != 32 {
			bad("AIRFLOW_FERNET_KEY", "is not a Fernet key (32 bytes, url-safe base64; generate one with cryptography's Fernet.generate_key())")
		}
	}
	if c.AirflowJWTSecret != "" && len(c.AirflowJWTSecret) < 16 {
		bad("AIRFLOW_JWT_SECRET", "is too short (at least 16 characters)")
	}
	if c.AirflowWWWUser == "" {
		bad("AIRFLOW_WWW_USER", "must not be empty")
	}
	if c.AirflowJWTIssuer == "" {
		bad("AIRFLOW_JWT_ISSUER", "must not be empty")
	}
	for name, v := range map[string]string{
		"POSTGRES_IMAGE_NAME": c.PostgresImage, "VALKEY_IMAGE_NAME": c.ValkeyImage,
		"AIRFLOW_IMAGE_NAME": c.AirflowImage, "DBT_IMAGE_NAME": c.DbtImage,
	} {
		switch {
		case !imageRe.MatchString(v):
			bad(name, "%q is not an image reference with a pinned tag (name:tag)", v)
		case strings.HasSuffix(v, ":latest"):
			bad(name, "%q: pin a version instead of latest", v)
		}
	}
	if p := path.Clean(c.AirflowProjDir); path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		bad("AIRFLOW_PROJ_DIR", "%q must be a relative path inside the project", c.AirflowProjDir)
	}
	if !projectRe.MatchString(c.ProjectName) {
		bad("COMPOSE_PROJECT_NAME", "%q must be lowercase letters, digits, - and _", c.ProjectName)
	}
	if strings.ContainsAny(c.PipAdditionalReqs, "\n;&|`$") {
		bad("_PIP_ADDITIONAL_REQUIREMENTS", "must be a space-separated list of requirements")
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// ProjDir is AIRFLOW_PROJ_DIR cleaned, relative to the project root.
func (c Config) ProjDir() string { return path.Clean(c.AirflowProjDir) }
