package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Prefixes of Airflow's own variables. The official Airflow compose file
// loads .env into every Airflow container (env_file), so users keep Airflow
// settings, connections and variables there.
const (
	airflowSettingPrefix = "AIRFLOW__"
	airflowConnPrefix    = "AIRFLOW_CONN_"
	airflowVarPrefix     = "AIRFLOW_VAR_"
)

// secretSettingRe: Airflow settings whose names say they hold a credential.
var secretSettingRe = regexp.MustCompile(`PASSWORD|SECRET|_KEY|CONN|TOKEN|CREDENTIAL`)

// isAirflowVariable: one of Airflow's own variables, passed through.
func isAirflowVariable(name string) bool {
	return strings.HasPrefix(name, airflowSettingPrefix) || strings.HasPrefix(name, airflowConnPrefix) ||
		strings.HasPrefix(name, airflowVarPrefix)
}

// isAirflowSecret: an Airflow variable that reaches containers only as a
// secret. Connections and variables hold passwords; so may settings named so.
func isAirflowSecret(name string) bool {
	return isAirflowVariable(name) && (!strings.HasPrefix(name, airflowSettingPrefix) || secretSettingRe.MatchString(name))
}

// composeOwn: names docker compose itself reads from .env (COMPOSE_FILE,
// COMPOSE_PROFILES, DOCKER_HOST, ...); the module leaves them alone.
func composeOwn(name string) bool {
	return strings.HasPrefix(name, "COMPOSE_") || strings.HasPrefix(name, "DOCKER_")
}

// formerDaggerDB is the line earlier versions of .env.example had for Dagger
// (DB=tcp://localhost:${POSTGRES_PORT}), read as the module's --db: calls
// now find a running stack themselves (see the data lock), and a bad
// POSTGRES_PORT made Dagger fail every call before the module could say so.
const formerDaggerDB = "DB"

// passThrough is what classify found besides the module's own variables.
type passThrough struct {
	settings, secrets map[string]string // Airflow's own variables, plain and secret
	referenced        map[string]string // variables the settings file names (SettingsFile)
	warnings          []string
	problems          []error
}

// classify sorts every variable by name. The module's own stay in vars.
// Airflow's own (AIRFLOW__SECTION__KEY, AIRFLOW_CONN_*, AIRFLOW_VAR_*) move
// out of vars into settings or secrets, except those the module derives,
// which win (as compose's `environment` wins over `env_file`) with a warning.
// A name close to one of the module's is a problem with a suggestion;
// compose's own names are left alone; any other name is one warning.
func classify(vars, origin map[string]string, references []string) passThrough {
	out := passThrough{settings: map[string]string{}, secrets: map[string]string{}, referenced: map[string]string{}}
	names := knownNames()
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	derived := DerivedAirflowNames()
	var unknown []string
	for _, name := range sortedKeys(vars) {
		switch {
		case known[name]:
			continue
		case slices.Contains(references, name):
			out.referenced[name] = vars[name] // the settings file's: a secret
		case derived[name]:
			out.warnings = append(out.warnings, fmt.Sprintf("%s (%s) is ignored: the module sets it from the platform's own variables", name, origin[name]))
		case isAirflowVariable(name):
			if isAirflowSecret(name) {
				out.secrets[name] = vars[name]
			} else {
				out.settings[name] = vars[name]
			}
		case composeOwn(name):
		case name == formerDaggerDB:
			out.warnings = append(out.warnings, fmt.Sprintf("%s (%s) is no longer read: calls beside a running stack find its PostgreSQL themselves; remove the line", name, origin[name]))
		default:
			if near := nearest(name, names); near != "" {
				out.problems = append(out.problems, fmt.Errorf("%s (%s): unknown variable; did you mean %s?", name, origin[name], near))
			} else {
				unknown = append(unknown, name)
			}
		}
		delete(vars, name)
	}
	if len(unknown) > 0 {
		out.warnings = append(out.warnings, "not settings of this platform, ignored: "+strings.Join(unknown, ", "))
	}
	return out
}

// nearest is the candidate within a small edit distance of name, or "".
func nearest(name string, candidates []string) string {
	best, bestDist := "", max(2, len(name)/8)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
