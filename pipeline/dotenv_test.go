package pipeline

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Lines of a .env and the value docker compose gives each (compose-go's
// dotenv, which docker compose itself uses; the expectations follow
// compose's documented .env syntax).
func TestDotenvReadsAsCompose(t *testing.T) {
	cases := []struct{ line, name, want string }{
		{`A=plain`, "A", "plain"},
		{`export A=x`, "A", "x"},
		{`A = spaced`, "A", "spaced"},
		{`A="iss\"uer"`, "A", `iss"uer`},
		{`A='${POSTGRES_USER}'`, "A", "${POSTGRES_USER}"}, // single quotes: no interpolation
		{"B=bee\nA=${B}", "A", "bee"},
		{"B=bee\nA=\"x-${B}-y\"", "A", "x-bee-y"},
		{`A=${UNSET:-fallback}`, "A", "fallback"},
		{"B=\nA=${B:-fallback}", "A", "fallback"},
		{"B=\nA=${B-kept}", "A", ""},
		{`A="quoted" # comment`, "A", "quoted"},
		{`A=x # comment`, "A", "x"},
		{`A=x#not-a-comment`, "A", "x#not-a-comment"},
		{`A="two\nlines"`, "A", "two\nlines"},
		{`A='no\nescape'`, "A", `no\nescape`},
		{`A=$$literal`, "A", "$literal"},
		{`A="p@ss:w/rd?#%41 &+=!~"`, "A", "p@ss:w/rd?#%41 &+=!~"},
		{"A=crlf\r\nB=next\r\n", "A", "crlf"},
		{"A=crlf\r\nB=next\r\n", "B", "next"},
		{"A=\"multi\nline\"", "A", "multi\nline"},
		{`A: yaml-style`, "A", "yaml-style"},
	}
	for _, tc := range cases {
		got := ParseDotenv(tc.line)
		if len(got.Problems) > 0 {
			t.Errorf("%q: %v", tc.line, got.Problems)
			continue
		}
		if v, ok := got.Vars[tc.name]; !ok || v != tc.want {
			t.Errorf("%q: %s = %q (set: %v), compose gives %q", tc.line, tc.name, v, ok, tc.want)
		}
	}
}

// Every bad line is reported with its number, and the good ones still count.
func TestDotenvReportsEveryBadLine(t *testing.T) {
	got := ParseDotenv("A=1\nB C=2\nD=3\nE$=4\nF=\"open\nG=5\n")
	msg := errorsText(got.Problems)
	for _, want := range []string{".env line 2:", ".env line 4:", ".env line 5: unterminated quoted value"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems %q lack %q", msg, want)
		}
	}
	if got.Vars["A"] != "1" || got.Vars["D"] != "3" {
		t.Errorf("good lines lost: %v", got.Vars)
	}
}

func TestUndefinedInterpolationIsAWarning(t *testing.T) {
	cfg, err := load(t, "AIRFLOW_JWT_ISSUER=iss-${NOT_IN_FILE}")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AirflowJWTIssuer != "iss-" || !strings.Contains(strings.Join(cfg.Warnings, "\n"), "${NOT_IN_FILE}") {
		t.Errorf("issuer %q, warnings %q", cfg.AirflowJWTIssuer, cfg.Warnings)
	}
}

// Problems of every kind come in one error: an unreadable line, a misspelt
// name, a value of the wrong type, an invalid value, a secret in --set.
func TestProblemsOfEveryKindInOneError(t *testing.T) {
	_, err := load(t, "POSTGRES_PORT=http\nVALKEY_MAXMEMORY=256\nAIRFLOW_UID=root\nBAD LINE\nPOSTGRES_PASWORD=x\n",
		"VALKEY_PASSWORD=plain")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`POSTGRES_PORT: "http" is not a whole number`,
		`AIRFLOW_UID: "root" is not a whole number`,
		`VALKEY_MAXMEMORY: "256" needs a positive size with a unit`,
		".env line 4: key cannot contain a space",
		"POSTGRES_PASWORD (.env): unknown variable; did you mean POSTGRES_PASSWORD?",
		"--set VALKEY_PASSWORD: a secret is never a plain argument; pass it with --valkey-password",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Each secret is refused in --set, naming its own flag: the constructor's
// flags as the README lists them.
func TestSecretsRefusedInSet(t *testing.T) {
	flags := map[string]string{
		"POSTGRES_PASSWORD": "--postgres-password", "VALKEY_PASSWORD": "--valkey-password",
		"AIRFLOW_DB_PASSWORD": "--airflow-db-password", "DBT_DB_PASSWORD": "--dbt-db-password",
		"AIRFLOW_WWW_PASSWORD": "--airflow-www-password", "AIRFLOW_FERNET_KEY": "--fernet-key",
		"AIRFLOW_JWT_SECRET": "--jwt-secret",
	}
	for name, flag := range flags {
		_, err := load(t, "", name+"=value")
		if err == nil || !strings.Contains(err.Error(), "--set "+name+": a secret") || !strings.Contains(err.Error(), flag+" env://") {
			t.Errorf("--set %s: %v", name, err)
		}
	}
	_, err := load(t, "", "AIRFLOW_CONN_X=postgresql://u:p@h/d")
	if err == nil || !strings.Contains(err.Error(), "holds credentials; put it in .env") {
		t.Errorf("--set AIRFLOW_CONN_X: %v", err)
	}
}

func TestTyposSuggestTheVariable(t *testing.T) {
	for typo, want := range map[string]string{
		"POSTGRES_PASWORD": "POSTGRES_PASSWORD", "AIRFLOW_API_PROT": "AIRFLOW_API_PORT",
		"DBT_SHEMA": "DBT_SCHEMA", "VALKEY_MAXMEMROY": "VALKEY_MAXMEMORY",
	} {
		_, err := load(t, typo+"=x")
		if err == nil || !strings.Contains(err.Error(), "did you mean "+want+"?") {
			t.Errorf("%s: %v", typo, err)
		}
	}
	cfg, err := load(t, "TZ=UTC\nMY_APP_SETTING=1\nCOMPOSE_PROFILES=flower")
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, "ignored: MY_APP_SETTING, TZ") || strings.Contains(w, "COMPOSE_PROFILES") {
		t.Errorf("warnings: %q", w)
	}
}

// Airflow's own variables reach every Airflow container: settings as plain
// env, connections, variables and secret-looking settings only as secrets;
// the module's derived settings win.
func TestAirflowVariablesPassThrough(t *testing.T) {
	cfg, err := load(t, `AIRFLOW__CORE__PARALLELISM=7
AIRFLOW_CONN_WAREHOUSE=postgresql://u:p%40ss@db:5432/w
AIRFLOW_VAR_REGION=eu
AIRFLOW__SMTP__SMTP_PASSWORD=mail-secret
AIRFLOW__CORE__EXECUTOR=LocalExecutor`, "AIRFLOW__CORE__DEFAULT_TIMEZONE=utc")
	if err != nil {
		t.Fatal(err)
	}
	defs := []Spec{CLI(cfg, []string{"version"}), Init(cfg)}
	for _, s := range stackSpecs(t, cfg, 1, true) {
		if s.Image == cfg.AirflowImage && s.Name != HostLive && s.Name != HostGateway { // the receiver only writes files, the gateway relays
			defs = append(defs, s)
		}
	}
	secrets := Secrets(cfg)
	dagCode := map[string]bool{HostAPIServer: true, "airflow-dag-processor": true, "airflow-triggerer": true,
		"airflow-worker-1": true, "airflow-cli": true}
	for _, s := range defs {
		if s.Env["AIRFLOW__CORE__PARALLELISM"] != "7" || s.Env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] != "utc" {
			t.Errorf("%s: plain settings missing: %v", s.Name, s.Env)
		}
		if s.Env["AIRFLOW__CORE__EXECUTOR"] != "CeleryExecutor" {
			t.Errorf("%s: executor %q", s.Name, s.Env["AIRFLOW__CORE__EXECUTOR"])
		}
		for name, value := range map[string]string{
			"AIRFLOW_CONN_WAREHOUSE": "postgresql://u:p%40ss@db:5432/w", "AIRFLOW_VAR_REGION": "eu",
			"AIRFLOW__SMTP__SMTP_PASSWORD": "mail-secret",
		} {
			if _, plain := s.Env[name]; plain {
				t.Errorf("%s: %s is plain env", s.Name, name)
			}
			if !dagCode[s.Name] {
				if _, ok := s.SecretEnv[name]; ok {
					t.Errorf("%s runs no DAG code but receives %s", s.Name, name)
				}
				continue
			}
			if ref := s.SecretEnv[name]; secrets[ref] != value {
				t.Errorf("%s: %s -> secret %q = %q", s.Name, name, ref, secrets[ref])
			}
		}
	}
	if d := Dbt(cfg, []string{"debug"}); d.Env["AIRFLOW__CORE__PARALLELISM"] != "" || d.SecretEnv["AIRFLOW_CONN_WAREHOUSE"] != "" {
		t.Error("dbt receives Airflow's variables")
	}
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, "AIRFLOW__CORE__EXECUTOR (.env) is ignored") {
		t.Errorf("warnings: %q", w)
	}
}

// config says where each value came from.
func TestDescribeShowsOrigins(t *testing.T) {
	cfg, err := LoadConfig(t.Context(), Input{
		Dotenv:  "POSTGRES_USER=alice\nAIRFLOW__CORE__PARALLELISM=3\nAIRFLOW_CONN_X=postgresql://u:p@h/d\n",
		Set:     []string{"AIRFLOW_API_PORT=9090"},
		Secrets: map[string]string{"DBT_DB_PASSWORD": "from-a-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := Describe(cfg)
	for _, want := range []string{
		"POSTGRES_USER=alice  # .env\n", "AIRFLOW_API_PORT=9090  # --set\n", "DBT_DB_PASSWORD=***  # --dbt-db-password\n",
		"POSTGRES_DB=app  # default\n", "AIRFLOW__CORE__PARALLELISM=3  # .env, passed to Airflow\n",
		"AIRFLOW_CONN_X=***  # .env, passed to Airflow as a secret\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "from-a-secret") || strings.Contains(out, "u:p@h") {
		t.Errorf("secret shown:\n%s", out)
	}
}

// Any printable character works in every password: each connection URL
// decodes back to the exact credentials and the stack's own host.
func TestCredentialsEscapedInConnectionURLs(t *testing.T) {
	const pw = "p@ss:w/rd?#%41 &+=!~$`'\"\\;,x"
	cfg, err := LoadConfig(t.Context(), Input{Secrets: map[string]string{
		"AIRFLOW_DB_PASSWORD": pw, "DBT_DB_PASSWORD": pw, "VALKEY_PASSWORD": pw,
		"POSTGRES_PASSWORD": pw, "AIRFLOW_WWW_PASSWORD": pw,
	}})
	if err != nil {
		t.Fatal(err)
	}
	sec := Secrets(cfg)
	for name, host := range map[string]string{
		SecretSQLAlchemyConn: HostPostgres, SecretResultBackend: HostPostgres,
		SecretAnalyticsConn: HostPostgres, SecretBrokerURL: HostValkey,
	} {
		u, err := url.Parse(strings.TrimPrefix(sec[name], "db+"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, _ := u.User.Password()
		if got != pw || u.Hostname() != host {
			t.Errorf("%s: password %q, host %q", name, got, u.Hostname())
		}
		userinfo := strings.TrimPrefix(sec[name], "db+")
		userinfo = userinfo[strings.Index(userinfo, "://")+3 : strings.LastIndex(userinfo, "@")]
		if !escapedUserinfo.MatchString(userinfo) {
			t.Errorf("%s: credentials not fully escaped: %q", name, userinfo)
		}
	}
	if got := sec[SecretValkeyConf]; got != "requirepass \"p@ss:w/rd?#%41 &+=!~$`'\\\"\\\\;,x\"\n" {
		t.Errorf("valkey.conf: %q", got)
	}
}

var escapedUserinfo = regexp.MustCompile(`^[A-Za-z0-9._~%-]*:[A-Za-z0-9._~%-]+$`)

func errorsText(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}
