package pipeline

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Astro's own template (empty entries) and a file in its format read as
// Astro reads them; ${NAME} names a variable of .env, whose value is the
// settings' secret and never a warning.
func TestSettingsFile(t *testing.T) {
	const file = `airflow:
  connections:
    - conn_id:
      conn_type:
    - conn_id: warehouse
      conn_type: postgres
      conn_host: db.example
      conn_schema: analytics
      conn_login: reader
      conn_password: ${WAREHOUSE_PASSWORD}
      conn_port: 5432
      conn_extra:
        sslmode: require
  pools:
    - pool_name: dbt
      pool_slot: 4
      pool_description: dbt's own
  variables:
    - variable_name: greeting
      variable_value: "hello ${WAREHOUSE_PASSWORD}"
    - variable_name: old
      delete: true
`
	c, err := LoadConfig(t.Context(), Input{Dotenv: "WAREHOUSE_PASSWORD=s3\"cret\n", Settings: file})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "WAREHOUSE_PASSWORD") {
			t.Errorf("a variable the settings name is warned about: %s", w)
		}
	}
	s := c.Settings
	if len(s.Airflow.Connections) != 1 || len(s.Airflow.Pools) != 1 || len(s.Airflow.Variables) != 2 {
		t.Fatalf("read %+v", s.Airflow)
	}
	var resolved Settings
	if err := json.Unmarshal([]byte(Secrets(c)[SecretSettings]), &resolved); err != nil {
		t.Fatal(err)
	}
	if got := resolved.Airflow.Connections[0].Password; got != `s3"cret` {
		t.Errorf("the password resolved to %q", got)
	}
	if got := resolved.Airflow.Variables[0].Value; got != `hello s3"cret` {
		t.Errorf("the variable resolved to %q", got)
	}
	if strings.Contains(Describe(c), "s3") {
		t.Error("config prints a value the settings name")
	}
	if got := s.ConnTypes(); !slices.Equal(got, []string{"postgres"}) {
		t.Errorf("types %v", got)
	}
	if err := s.UnknownConnTypes([]string{"generic", "postgres"}); err != nil {
		t.Errorf("a known type refused: %v", err)
	}
	if err := s.UnknownConnTypes([]string{"generic"}); err == nil || !strings.Contains(err.Error(),
		`airflow_settings.yaml: airflow.connections (conn_id warehouse).conn_type: "postgres" is no connection type of the project's Airflow image`) {
		t.Errorf("an unknown type: %v", err)
	}
	plan, err := StackPlan(c, Options{Workers: 1}, HostGateway)
	if err != nil {
		t.Fatal(err)
	}
	apply, ok := plan.Specs[JobSettings]
	if !ok || !slices.Contains(plan.Specs[HostGateway].Needs, JobSettings) {
		t.Fatalf("up does not apply the settings before it is up: %v", plan.Stages)
	}
	if got := apply.Credentials(); !slices.Equal(got, []string{SecretFernetKey + " (generated)", SecretSettings, SecretSQLAlchemyConn}) {
		t.Errorf("the settings' job receives %v", got)
	}
}

// A malformed file is named with the key at fault, before anything runs.
func TestSettingsFileRefused(t *testing.T) {
	for file, want := range map[string]string{
		"airflow:\n  connections:\n    - conn_id: x\n      conn_typo: postgres\n":                 "airflow_settings.yaml: line 4: field conn_typo not found",
		"airflow:\n  connections:\n    - conn_id: x\n":                                            "airflow.connections (conn_id x): conn_type (or conn_uri) is missing",
		"airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_port: 0\n": "airflow.connections (conn_id x).conn_port: 0 is not a TCP port",
		"airflow:\n  pools:\n    - pool_name: p\n":                                                "airflow.pools (pool_name p): pool_slot is missing",
		"airflow:\n  variables:\n    - variable_name: v\n    - variable_name: v\n":                "airflow.variables (variable_name v): the variable is in the file twice",
		"airflow: [\n": "airflow_settings.yaml:",
		"airflow:\n  variables:\n    - variable_name: v\n      variable_value: ${NOT_IN_DOTENV}\n": "airflow_settings.yaml: ${NOT_IN_DOTENV} names no variable of .env",
	} {
		_, err := LoadConfig(t.Context(), Input{Settings: file})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", file, err, want)
		}
	}
}
