package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Where a value came from, as `config` shows it (or the secret argument's flag).
const (
	FromDefault = "default"
	FromDotenv  = ".env"
	FromSet     = "--set"
)

// Input is what the configuration is read from, in rising precedence: the
// project's .env, --set NAME=VALUE, and the secret arguments.
type Input struct {
	Dotenv  string            // content of .env, "" when there is none
	Set     []string          // --set NAME=VALUE, in order
	Secrets map[string]string // secret variable -> value of its argument
	// Settings is the project's settings file (SettingsFile), "" for none:
	// the variables of .env its values name are the settings' own.
	Settings string
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
		row, known := variable(k)
		switch {
		case !ok || k == "":
			problems = append(problems, fmt.Errorf("--set %q: expected NAME=VALUE", kv))
		case known && row.Secret != "":
			problems = append(problems, fmt.Errorf("--set %s: a secret is never a plain argument; pass it with %s env://VAR or %s file://PATH", k, row.Flag(), row.Flag()))
		case isAirflowSecret(k):
			problems = append(problems, fmt.Errorf("--set %s: holds credentials; put it in .env, where it reaches Airflow as a secret", k))
		default:
			vars[k], origin[k] = v, FromSet
		}
	}
	for k, v := range in.Secrets {
		row, _ := variable(k)
		vars[k], origin[k] = v, row.Flag()
	}
	var settings *Settings
	var references []string
	if in.Settings != "" {
		var err error
		if settings, references, err = ParseSettings(in.Settings); err != nil {
			problems = append(problems, err)
		}
	}
	extra := classify(vars, origin, references)
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
	if settings != nil {
		values := extra.referenced
		for _, name := range references {
			if row, ok := variable(name); ok {
				values[name] = cfg.value(row)
			}
		}
		cfg.Settings = settings
		resolved, err := settings.Resolved(values)
		if err != nil {
			problems = append(problems, err)
		}
		cfg.settingsResolved = resolved
	}
	for _, name := range knownNames() {
		if origin[name] == "" {
			origin[name] = FromDefault
		}
	}
	cfg.Origin = origin
	cfg.Warnings = append(warnings, cfg.defaultWarnings()...)
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
	for _, v := range Variables() {
		if v.Field == name {
			name = v.Name
		}
	}
	val := ""
	if _, quoted, ok := strings.Cut(msg[i:], "parsing "); ok {
		val, _, _ = strings.Cut(quoted, ":")
	}
	return name, fmt.Errorf("%s: %s is not a whole number", name, val)
}

// defaultWarnings: the rows whose warn tag says their value at the spec's
// default is a risk. A known password: the value is public, anyone on the
// network can use it. An unnamed project: every checkout without a name
// shares its data on the engine.
func (c Config) defaultWarnings() []string {
	var warnings []string
	for _, v := range Variables() {
		switch {
		case v.Warn == "known" && c.value(v) == v.Default:
			warnings = append(warnings, fmt.Sprintf("%s is the spec's default password, known to anyone: set your own in .env, or pass %s env://VAR", v.Name, v.Flag()))
		case v.Warn == "unnamed" && c.Origin[v.Name] == FromDefault:
			warnings = append(warnings, fmt.Sprintf("%s is not set: every checkout without one shares this data (%q) on this engine; "+
				"compose would name the project after its folder, which a Dagger module cannot see: set it in .env", v.Name, c.value(v)))
		}
	}
	return warnings
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

// ProjDir is AIRFLOW_PROJ_DIR cleaned, relative to the project root.
func (c Config) ProjDir() string { return path.Clean(c.AirflowProjDir) }

// envName is the variable a Config field is read from, "" for none.
func envName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}
