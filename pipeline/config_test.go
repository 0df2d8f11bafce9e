package pipeline

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// load reads a .env content with --set values on top.
func load(t *testing.T, dotenv string, set ...string) (Config, error) {
	t.Helper()
	return LoadConfig(context.Background(), Input{Dotenv: dotenv, Set: set})
}

// The defaults are the spec's .env.example tables, value for value.
func TestDefaultsMatchSpec(t *testing.T) {
	cfg, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "changeme", "POSTGRES_DB": "app", "POSTGRES_PORT": "5432",
		"VALKEY_PASSWORD": "changeme", "VALKEY_IMAGE_NAME": "valkey/valkey:9.0.2", "VALKEY_MAXMEMORY": "256mb",
		"AIRFLOW_DB_USER": "airflow", "AIRFLOW_DB_PASSWORD": "airflow", "AIRFLOW_DB_NAME": "airflow",
		"DBT_DB_USER": "dbt", "DBT_DB_PASSWORD": "changeme", "DBT_DB_NAME": "analytics", "DBT_SCHEMA": "public",
		"AIRFLOW_UID": "50000", "AIRFLOW_IMAGE_NAME": "apache/airflow:3.1.7", "AIRFLOW_API_PORT": "8080",
		"AIRFLOW_FERNET_KEY": "", "AIRFLOW_WWW_USER": "airflow", "AIRFLOW_WWW_PASSWORD": "airflow",
		"_PIP_ADDITIONAL_REQUIREMENTS": "", "AIRFLOW_PROJ_DIR": ".", "FLOWER_PORT": "5555",
		// added by this project
		"POSTGRES_IMAGE_NAME": "postgres:16", "DBT_IMAGE_NAME": "ghcr.io/dbt-labs/dbt-postgres:1.9.0",
		"AIRFLOW_JWT_SECRET": "", "AIRFLOW_JWT_ISSUER": "airflow", "COMPOSE_PROJECT_NAME": "dataplatform",
		"LIVE_PORT": "8090", "VALKEY_PORT": "6379",
	}
	got := values(cfg)
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected variable %s", k)
			}
		}
	}
}

// values reads the config back as NAME -> value through the struct tags.
func values(c Config) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		if name := envName(v.Type().Field(i)); name != "" {
			out[name] = fmt.Sprint(v.Field(i).Interface())
		}
	}
	return out
}

// The shipped .env.example lists every variable with its default, so the
// same file works for the compose reference and for this module.
func TestEnvExampleMatchesDefaults(t *testing.T) {
	data, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	parsed := ParseDotenv(string(data))
	if len(parsed.Problems) > 0 {
		t.Fatal(parsed.Problems)
	}
	vars := parsed.Vars
	defaults, _ := load(t, "")
	want := values(defaults)
	for k, v := range want {
		got, ok := vars[k]
		if !ok {
			t.Errorf(".env.example lacks %s", k)
		} else if got != v {
			t.Errorf(".env.example has %s=%q, default is %q", k, got, v)
		}
	}
	for k := range vars {
		if _, ok := want[k]; !ok {
			t.Errorf(".env.example has %s, which the module does not read", k)
		}
	}
}

func TestDotenvAndOverrides(t *testing.T) {
	dotenv := `
# comment
export POSTGRES_USER=alice
POSTGRES_PORT = 15432
VALKEY_MAXMEMORY="1gb"
AIRFLOW_WWW_USER='admin' 
DBT_SCHEMA=marts # trailing comment
AIRFLOW_API_PORT=9090
UNRELATED=ignored
`
	cfg, err := load(t, dotenv, "AIRFLOW_API_PORT=8181", "FLOWER_PORT=5556")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"POSTGRES_USER":    {cfg.PostgresUser, "alice"},
		"POSTGRES_PORT":    {cfg.PostgresPort, 15432},
		"VALKEY_MAXMEMORY": {cfg.ValkeyMaxmemory, "1gb"},
		"AIRFLOW_WWW_USER": {cfg.AirflowWWWUser, "admin"},
		"DBT_SCHEMA":       {cfg.DbtSchema, "marts"},
		"AIRFLOW_API_PORT": {cfg.AirflowAPIPort, 8181}, // override beats .env
		"FLOWER_PORT":      {cfg.FlowerPort, 5556},
		"POSTGRES_DB":      {cfg.PostgresDB, "app"}, // untouched default
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

// Every bad value is rejected before anything starts, naming the variable.
func TestInvalidValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		name, dotenv, wantVar, wantText string
	}{
		{"empty postgres password", "POSTGRES_PASSWORD=", "POSTGRES_PASSWORD", "must not be empty"},
		{"empty valkey password", "VALKEY_PASSWORD=", "VALKEY_PASSWORD", "must not be empty"},
		{"empty airflow db password", "AIRFLOW_DB_PASSWORD=", "AIRFLOW_DB_PASSWORD", "must not be empty"},
		{"empty dbt password", "DBT_DB_PASSWORD=", "DBT_DB_PASSWORD", "must not be empty"},
		{"empty www password", "AIRFLOW_WWW_PASSWORD=", "AIRFLOW_WWW_PASSWORD", "must not be empty"},
		{"non-numeric port", "POSTGRES_PORT=abc", "POSTGRES_PORT", "not a whole number"},
		{"port out of range", "AIRFLOW_API_PORT=70000", "AIRFLOW_API_PORT", "not a TCP port"},
		{"port zero", "FLOWER_PORT=0", "FLOWER_PORT", "not a TCP port"},
		{"port clash", "AIRFLOW_API_PORT=5432", "AIRFLOW_API_PORT", "already used by POSTGRES_PORT"},
		{"maxmemory without unit", "VALKEY_MAXMEMORY=256", "VALKEY_MAXMEMORY", "with a unit"},
		{"maxmemory garbage", "VALKEY_MAXMEMORY=lots", "VALKEY_MAXMEMORY", "with a unit"},
		{"malformed fernet key", "AIRFLOW_FERNET_KEY=not-a-key", "AIRFLOW_FERNET_KEY", "not a Fernet key"},
		{"negative uid", "AIRFLOW_UID=-1", "AIRFLOW_UID", "not a valid user id"},
		{"uid not a number", "AIRFLOW_UID=root", "AIRFLOW_UID", "not a whole number"},
		{"sql injection in db name", `DBT_DB_NAME=x";drop`, "DBT_DB_NAME", "not a valid PostgreSQL name"},
		{"role names collide", "DBT_DB_USER=airflow", "DBT_DB_USER", "must differ from AIRFLOW_DB_USER"},
		{"role is the superuser", "AIRFLOW_DB_USER=app", "AIRFLOW_DB_USER", "must differ from POSTGRES_USER"},
		{"databases collide", "DBT_DB_NAME=airflow", "DBT_DB_NAME", "already used by AIRFLOW_DB_NAME"},
		{"image without tag", "AIRFLOW_IMAGE_NAME=apache/airflow", "AIRFLOW_IMAGE_NAME", "pinned tag"},
		{"image latest", "VALKEY_IMAGE_NAME=valkey/valkey:latest", "VALKEY_IMAGE_NAME", "instead of latest"},
		{"absolute proj dir", "AIRFLOW_PROJ_DIR=/etc", "AIRFLOW_PROJ_DIR", "relative path inside"},
		{"proj dir escapes", "AIRFLOW_PROJ_DIR=../other", "AIRFLOW_PROJ_DIR", "relative path inside"},
		{"bad project name", "COMPOSE_PROJECT_NAME=My Project", "COMPOSE_PROJECT_NAME", "lowercase"},
		{"short jwt secret", "AIRFLOW_JWT_SECRET=short", "AIRFLOW_JWT_SECRET", "too short"},
		{"pip injection", "_PIP_ADDITIONAL_REQUIREMENTS=x; rm -rf /", "_PIP_ADDITIONAL_REQUIREMENTS", "space-separated"},
		{"line without =", "POSTGRES_USER app\nPOSTGRES_DB=x", ".env line 1", "key cannot contain a space"},
		{"last line without =", "POSTGRES_DB=x\nPOSTGRES_USER", ".env line 2", "is not NAME=VALUE"},
		{"bad variable name", "A$B=x", ".env line 1", "unexpected character"},
		{"unterminated quote", "POSTGRES_USER=app\nDBT_SCHEMA=\"open\nPOSTGRES_DB=x", ".env line 2", "unterminated quoted value"},
		{"typo", "POSTGRES_PASWORD=secret", "POSTGRES_PASWORD", "did you mean POSTGRES_PASSWORD?"},
		{"secret through --set", "", "--set POSTGRES_PASSWORD", "--postgres-password env://"},
	}
	rejected := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var set []string
			if tc.dotenv == "" {
				set = []string{"POSTGRES_PASSWORD=plain"}
			}
			_, err := load(t, tc.dotenv, set...)
			if err == nil {
				t.Fatalf("%q accepted", tc.dotenv)
			}
			if !strings.Contains(err.Error(), tc.wantVar) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error %q should name %s and say %q", err, tc.wantVar, tc.wantText)
			}
			rejected++
		})
	}
	t.Logf("%d bad inputs tried, %d rejected clearly", len(cases), rejected)
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	_, err := load(t, "POSTGRES_PASSWORD=\nFLOWER_PORT=99999\nVALKEY_MAXMEMORY=1")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, v := range []string{"POSTGRES_PASSWORD", "FLOWER_PORT", "VALKEY_MAXMEMORY"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not mention %s: %v", v, err)
		}
	}
}

// testFernetKey is a valid Fernet key (32 bytes, url-safe base64).
const testFernetKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// Keys the user does not give are never computed from the configuration:
// no value for them exists outside the stack (init makes them, at random);
// given keys win.
func TestKeysAreNeverComputedFromConfiguration(t *testing.T) {
	for _, dotenv := range []string{"", "AIRFLOW_DB_PASSWORD=other\nCOMPOSE_PROJECT_NAME=other"} {
		c, err := load(t, dotenv)
		if err != nil {
			t.Fatal(err)
		}
		sec := Secrets(c)
		for _, name := range []string{SecretFernetKey, SecretJWTSecret} {
			if v, ok := sec[name]; ok {
				t.Errorf("%q: a %s is computed from the configuration: %q", dotenv, name, v)
			}
		}
		root := strings.Join(Init(c).AsRoot, " ")
		if !strings.Contains(root, "--key "+c.keyFile(SecretFernetKey)) || !strings.Contains(root, "--key "+c.keyFile(SecretJWTSecret)) {
			t.Errorf("init does not make both keys (own-volumes.sh --key): %s", root)
		}
		api := APIServer(c)
		if _, ok := api.SecretEnv["AIRFLOW__CORE__FERNET_KEY"]; ok {
			t.Error("generated Fernet key passed as a secret computed by the module")
		}
		if cmd := api.Env["AIRFLOW__CORE__FERNET_KEY_CMD"]; cmd != "cat /opt/airflow/secrets/airflow-fernet-key/key" {
			t.Errorf("api-server does not read the generated key: %q", cmd)
		}
	}
	given, err := load(t, "AIRFLOW_FERNET_KEY="+testFernetKey+"\nAIRFLOW_JWT_SECRET=0123456789abcdef0123")
	if err != nil {
		t.Fatal(err)
	}
	sec := Secrets(given)
	if sec[SecretFernetKey] != testFernetKey || sec[SecretJWTSecret] != "0123456789abcdef0123" {
		t.Error("given keys ignored")
	}
	if root := strings.Join(Init(given).AsRoot, " "); strings.Contains(root, "fernet-key/key") || strings.Contains(root, "jwt-secret/key") ||
		APIServer(given).Env["AIRFLOW__CORE__FERNET_KEY_CMD"] != "" {
		t.Error("keys generated although given")
	}
	if APIServer(given).SecretEnv["AIRFLOW__CORE__FERNET_KEY"] != SecretFernetKey {
		t.Error("given Fernet key not passed as a secret")
	}
}

// The key volumes (Fernet key, JWT secret, live key) are the project's:
// wipe removes them with the data.
func TestKeyVolumesAreWiped(t *testing.T) {
	c := mustDefault(t)
	keys := 0
	for _, v := range c.Volumes() {
		if strings.HasPrefix(v.Path, AirflowHome+"/secrets/") {
			keys++
			if !strings.HasPrefix(v.Key, "dataplatform-dataplatform-") {
				t.Errorf("key volume %q is not keyed by project", v.Key)
			}
		}
	}
	if keys != 3 {
		t.Errorf("%d key volumes among the wiped ones, want 3", keys)
	}
}

func TestDescribeMasksSecrets(t *testing.T) {
	cfg, _ := load(t, "POSTGRES_PASSWORD=s3cr3t-value\nAIRFLOW_FERNET_KEY="+testFernetKey)
	out := Describe(cfg)
	if strings.Contains(out, "s3cr3t-value") || strings.Contains(out, cfg.AirflowFernetKey) {
		t.Fatalf("secret shown:\n%s", out)
	}
	if !strings.Contains(out, "POSTGRES_PASSWORD=***") || !strings.Contains(out, "POSTGRES_USER=app") {
		t.Fatalf("unexpected description:\n%s", out)
	}
}

func mustDefault(t *testing.T) Config {
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shared is c with its own passwords for what a stack shares with other
// machines' workers (see checkShared).
func shared(c Config) Config {
	c.ValkeyPassword, c.AirflowDBPassword = "own valkey password", "own airflow password"
	return c
}
