package pipeline

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	identRe     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,62}$`)
	maxmemoryRe = regexp.MustCompile(`^(?i)[1-9][0-9]*(b|k|kb|m|mb|g|gb)$`)
	projectRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	imageRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(@sha256:[a-f0-9]{64})?$`)
)

// checks are the validations a row's check tag names: each returns what is
// wrong with a value ("" when nothing), said after the variable's name.
var checks = map[string]func(value string) string{
	"password": func(v string) string {
		switch {
		case v == "":
			return "must not be empty"
		case strings.ContainsAny(v, "\n\r"):
			return "must be a single line"
		}
		return ""
	},
	"name": func(v string) string {
		if !identRe.MatchString(v) {
			return fmt.Sprintf("%q is not a valid PostgreSQL name (letters, digits, _; not starting with a digit; at most 63)", v)
		}
		return ""
	},
	"port": func(v string) string {
		if n, _ := strconv.Atoi(v); n < 1 || n > 65535 {
			return fmt.Sprintf("%s is not a TCP port (1-65535)", v)
		}
		return ""
	},
	"image": func(v string) string {
		switch {
		case !imageRe.MatchString(v):
			return fmt.Sprintf("%q is not an image reference with a pinned tag (name:tag)", v)
		case strings.HasSuffix(v, ":latest"):
			return fmt.Sprintf("%q: pin a version instead of latest", v)
		}
		return ""
	},
	"size": func(v string) string {
		if !maxmemoryRe.MatchString(v) {
			return fmt.Sprintf("%q needs a positive size with a unit, e.g. 256mb or 1gb", v)
		}
		return ""
	},
	"uid": func(v string) string {
		if n, _ := strconv.Atoi(v); n < 0 || n > 65535 {
			return fmt.Sprintf("%s is not a valid user id (0-65535)", v)
		}
		return ""
	},
	"fernet": func(v string) string {
		if k, err := base64.URLEncoding.DecodeString(v); v != "" && (err != nil || len(k) != 32) {
			return "is not a Fernet key (32 bytes, url-safe base64; generate one with cryptography's Fernet.generate_key())"
		}
		return ""
	},
	"jwt": func(v string) string {
		if v != "" && len(v) < 16 {
			return "is too short (at least 16 characters)"
		}
		return ""
	},
	"required": func(v string) string {
		if v == "" {
			return "must not be empty"
		}
		return ""
	},
	"relpath": func(v string) string {
		if p := path.Clean(v); path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Sprintf("%q must be a relative path inside the project", v)
		}
		return ""
	},
	"project": func(v string) string {
		if !projectRe.MatchString(v) {
			return fmt.Sprintf("%q must be lowercase letters, digits, - and _", v)
		}
		return ""
	},
	"requirements": func(v string) string {
		if strings.ContainsAny(v, "\n;&|`$") {
			return "must be a space-separated list of requirements"
		}
		return ""
	},
}

// Validate checks every value before any container starts: each variable
// by its row's check, then the rules between variables. All problems are
// reported at once, one per line, each starting with the variable's name.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	ports := map[string]string{}
	for _, v := range Variables() {
		value := c.value(v)
		check := checks[v.Check]
		if check == nil {
			bad(v.Name, "has no known check %q (a row of Config)", v.Check)
			continue
		}
		if problem := check(value); problem != "" {
			bad(v.Name, "%s", problem)
			continue
		}
		if v.Check == "port" {
			if other, dup := ports[value]; dup {
				bad(v.Name, "port %s is already used by %s", value, other)
			}
			ports[value] = v.Name
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
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// sharedPasswords are what guards a stack other machines' workers join:
// Valkey's password (Valkey is then on the host) and the Airflow role's,
// which opens the metadata database through the host's PostgreSQL port
// and keys the api-server's requests for a node's task logs.
var sharedPasswords = []string{"VALKEY_PASSWORD", "AIRFLOW_DB_PASSWORD"}

// checkShared refuses, for option (a stack that takes remote workers, or
// a worker node), each shared password left at the spec's default, which
// anyone can read: on a network, it would open the broker and the
// metadata database, and make the UI's session key guessable.
func (c Config) checkShared(option string) error {
	var errs []error
	for _, name := range sharedPasswords {
		v, _ := variable(name)
		if c.value(v) == v.Default {
			errs = append(errs, fmt.Errorf("%s: %s opens it to other machines, and it is the spec's default password, known to anyone: "+
				"set your own in .env (the same on every machine), or pass %s env://VAR", name, option, v.Flag()))
		}
	}
	return errors.Join(errs...)
}
