package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SettingsFile holds the project's Airflow connections, variables and
// pools, in Astro CLI's format (airflow_settings.yaml): applied to the
// metadata database at every `up` after init (created or updated; never
// deleted unless an entry says `delete: true`), written back by
// `settings-export`. A value may name a variable of .env as ${NAME}: it
// travels as a secret, never in the file.
const SettingsFile = "airflow_settings.yaml"

// Settings is the file's content.
type Settings struct {
	Airflow struct {
		Connections []SettingsConnection `yaml:"connections" json:"connections"`
		Pools       []SettingsPool       `yaml:"pools" json:"pools"`
		Variables   []SettingsVariable   `yaml:"variables" json:"variables"`
	} `yaml:"airflow" json:"airflow"`
}

// SettingsConnection is one connection (Astro's keys; delete is the
// module's).
type SettingsConnection struct {
	ID       string `yaml:"conn_id" json:"conn_id"`
	Type     string `yaml:"conn_type" json:"conn_type,omitempty"`
	Host     string `yaml:"conn_host" json:"conn_host,omitempty"`
	Schema   string `yaml:"conn_schema" json:"conn_schema,omitempty"`
	Login    string `yaml:"conn_login" json:"conn_login,omitempty"`
	Password string `yaml:"conn_password" json:"conn_password,omitempty"`
	Port     *int   `yaml:"conn_port" json:"conn_port,omitempty"`
	URI      string `yaml:"conn_uri" json:"conn_uri,omitempty"`
	Extra    any    `yaml:"conn_extra" json:"conn_extra,omitempty"`
	Delete   bool   `yaml:"delete" json:"delete,omitempty"`
}

// SettingsPool is one pool.
type SettingsPool struct {
	Name        string `yaml:"pool_name" json:"pool_name"`
	Slots       *int   `yaml:"pool_slot" json:"pool_slot,omitempty"`
	Description string `yaml:"pool_description" json:"pool_description,omitempty"`
	Delete      bool   `yaml:"delete" json:"delete,omitempty"`
}

// SettingsVariable is one variable.
type SettingsVariable struct {
	Name   string `yaml:"variable_name" json:"variable_name"`
	Value  any    `yaml:"variable_value" json:"variable_value,omitempty"`
	Delete bool   `yaml:"delete" json:"delete,omitempty"`
}

var (
	yamlType = regexp.MustCompile(` in type [\w.]+| into [\w.\[\]*]+`)
	connIDRe = regexp.MustCompile(`^[\w.-]{1,200}$`)
	// envRef is a reference to a variable of .env in a value.
	envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

// ParseSettings reads the settings file and checks every entry, naming
// the file and the key of each problem; entries without their name
// (Astro's template leaves them empty) are left out, as Astro does. It
// returns the .env variables the values name (${NAME}).
func ParseSettings(content string) (*Settings, []string, error) {
	var s Settings
	dec := yaml.NewDecoder(strings.NewReader(content))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && err.Error() != "EOF" {
		// yaml's words, without its Go types: "line 4: field conn_typo not found"
		msg := strings.TrimPrefix(yamlType.ReplaceAllString(err.Error(), ""), "yaml: ")
		var lines []string
		for _, l := range strings.Split(strings.TrimPrefix(msg, "unmarshal errors:\n"), "\n") {
			lines = append(lines, SettingsFile+": "+strings.TrimSpace(l))
		}
		return nil, nil, errors.New(strings.Join(lines, "\n"))
	}
	var problems []error
	bad := func(key, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s: %s", SettingsFile, key, fmt.Sprintf(format, args...)))
	}
	a := &s.Airflow
	a.Connections = slices.DeleteFunc(a.Connections, func(c SettingsConnection) bool { return c.ID == "" })
	a.Pools = slices.DeleteFunc(a.Pools, func(p SettingsPool) bool { return p.Name == "" })
	a.Variables = slices.DeleteFunc(a.Variables, func(v SettingsVariable) bool { return v.Name == "" })
	seen := map[string]bool{}
	for _, c := range a.Connections {
		key := fmt.Sprintf("airflow.connections (conn_id %s)", c.ID)
		switch {
		case !connIDRe.MatchString(c.ID):
			bad(key, "conn_id must be letters, digits, _, . and -")
		case seen["c"+c.ID]:
			bad(key, "the connection is in the file twice")
		case c.Delete:
		case c.Type == "" && c.URI == "":
			bad(key, "conn_type (or conn_uri) is missing")
		case c.Port != nil && (*c.Port < 1 || *c.Port > 65535):
			bad(key+".conn_port", "%d is not a TCP port", *c.Port)
		}
		seen["c"+c.ID] = true
		switch e := c.Extra.(type) {
		case nil, map[string]any:
		case string:
			var obj map[string]any
			if json.Unmarshal([]byte(e), &obj) != nil {
				bad(key+".conn_extra", "is neither a mapping nor a JSON object")
			}
		default:
			bad(key+".conn_extra", "is neither a mapping nor a JSON object")
		}
	}
	for _, p := range a.Pools {
		key := fmt.Sprintf("airflow.pools (pool_name %s)", p.Name)
		switch {
		case seen["p"+p.Name]:
			bad(key, "the pool is in the file twice")
		case p.Delete:
		case p.Slots == nil:
			bad(key, "pool_slot is missing")
		case *p.Slots < -1:
			bad(key+".pool_slot", "%d is not a number of slots (-1 for unlimited)", *p.Slots)
		}
		seen["p"+p.Name] = true
	}
	for _, v := range a.Variables {
		key := fmt.Sprintf("airflow.variables (variable_name %s)", v.Name)
		if seen["v"+v.Name] {
			bad(key, "the variable is in the file twice")
		}
		seen["v"+v.Name] = true
	}
	if len(problems) > 0 {
		return nil, nil, errors.Join(problems...)
	}
	var refs []string
	for _, m := range envRef.FindAllStringSubmatch(content, -1) {
		if !slices.Contains(refs, m[1]) {
			refs = append(refs, m[1])
		}
	}
	return &s, refs, nil
}

// Resolved is the settings as JSON with every ${NAME} replaced by the value
// of .env's NAME (the settings' secret: it holds them).
func (s *Settings) Resolved(values map[string]string) (string, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	var missing []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		quoted, _ := json.Marshal(v) // the value inside a JSON string
		return bytes.Trim(quoted, `"`)
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s: ${%s} names no variable of .env", SettingsFile, strings.Join(missing, "}, ${"))
	}
	return string(out), nil
}

// ConnTypes are the connection types the settings name, sorted.
func (s *Settings) ConnTypes() []string {
	var types []string
	for _, c := range s.Airflow.Connections {
		if c.Type != "" && !c.Delete && !slices.Contains(types, c.Type) {
			types = append(types, c.Type)
		}
	}
	slices.Sort(types)
	return types
}

// UnknownConnTypes names each connection whose type is not one of known
// (the image's, as apply-settings.py --types lists them).
func (s *Settings) UnknownConnTypes(known []string) error {
	var problems []error
	for _, c := range s.Airflow.Connections {
		if c.Type != "" && !c.Delete && !slices.Contains(known, c.Type) {
			problems = append(problems, fmt.Errorf("%s: airflow.connections (conn_id %s).conn_type: %q is no connection type of the project's Airflow image (its types: %s)",
				SettingsFile, c.ID, c.Type, strings.Join(known, ", ")))
		}
	}
	return errors.Join(problems...)
}

// JobSettings applies the project's settings to the metadata database.
const JobSettings = "airflow-settings"

// settingsIn is where the settings' job finds them (a secret file).
const settingsIn = SecretsDir + "/airflow_settings.json"

// ApplySettings creates or updates the settings' connections, variables
// and pools in the metadata database, deletes those marked delete, and
// leaves every other alone (apply-settings.py): after init, in the stack
// (every `up`) and for `settings-import`. It names what it did, never a
// value.
func ApplySettings(c Config) Spec {
	s := withCredentials(c, airflow(c, JobSettings, Job, []string{"python3", applySettingsScript, settingsIn}, HostPostgres, JobInit),
		SecretSQLAlchemyConn, SecretFernetKey)
	s.SecretFile = map[string]string{settingsIn: SecretSettings}
	return s
}

// SettingsTypes lists the connection types the project's Airflow image
// knows (its providers'), one a line, for UnknownConnTypes: checked before
// anything starts.
func SettingsTypes(c Config) Spec {
	s := airflow(c, "settings-types", Job, []string{"python3", applySettingsScript, "--types"})
	s.Volumes = nil
	return s
}

// settingsExportOut is where ExportSettings writes the file.
const settingsExportOut = "/tmp/dataplatform-settings/" + SettingsFile

// ExportSettings writes the metadata database's connections, variables
// and pools in the settings file's format; passwords and sensitive
// variables only with secrets.
func ExportSettings(c Config, secrets bool) Spec {
	args := []string{"python3", exportSettingsScript, settingsExportOut}
	if secrets {
		args = append(args, "--include-secrets")
	}
	s := withCredentials(c, airflow(c, "settings-export", Job, args, HostPostgres, JobInit), SecretSQLAlchemyConn, SecretFernetKey)
	s.Output = settingsExportOut
	return s
}
