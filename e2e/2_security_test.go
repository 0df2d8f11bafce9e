//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/pipeline"
)

// TestBadInputRejectedBeforeStart gives a wrong value for every kind of
// variable, in one .env, through the real CLI: all of them must be reported
// in one error, each in the module's own words (never text this test passed
// in), before any container runs. Then a secret through --set, and workers
// out of range.
func TestBadInputRejectedBeforeStart(t *testing.T) {
	cases := []struct{ line, want string }{
		{"POSTGRES_PASSWORD=", "POSTGRES_PASSWORD: must not be empty"},
		{"VALKEY_PASSWORD=", "VALKEY_PASSWORD: must not be empty"},
		{"AIRFLOW_DB_PASSWORD=", "AIRFLOW_DB_PASSWORD: must not be empty"},
		{"DBT_DB_PASSWORD=", "DBT_DB_PASSWORD: must not be empty"},
		{"AIRFLOW_WWW_PASSWORD=", "AIRFLOW_WWW_PASSWORD: must not be empty"},
		{"POSTGRES_PORT=fivefour", "is not a whole number"},
		{"AIRFLOW_API_PORT=99999", "is not a TCP port (1-65535)"},
		{"FLOWER_PORT=5432", "FLOWER_PORT: port 5432 is already used by POSTGRES_PORT"},
		{"AIRFLOW_FERNET_KEY=abc", "AIRFLOW_FERNET_KEY: is not a Fernet key"},
		{"VALKEY_MAXMEMORY=256", "needs a positive size with a unit"},
		{"AIRFLOW_UID=-5", "is not a valid user id (0-65535)"},
		{"POSTGRES_USER='bad name'", "is not a valid PostgreSQL name"},
		{"DBT_SCHEMA=", `DBT_SCHEMA: "" is not a valid PostgreSQL name`},
		{"AIRFLOW_IMAGE_NAME=apache/airflow:latest", "pin a version instead of latest"},
		{"VALKEY_IMAGE_NAME=valkey", "is not an image reference with a pinned tag"},
		{"AIRFLOW_PROJ_DIR=/abs", "must be a relative path inside the project"},
		{"COMPOSE_PROJECT_NAME='Bad Name'", "must be lowercase letters, digits, - and _"},
		{"AIRFLOW_JWT_SECRET=short", "AIRFLOW_JWT_SECRET: is too short"},
		{"_PIP_ADDITIONAL_REQUIREMENTS='x;y'", "_PIP_ADDITIONAL_REQUIREMENTS: must be a space-separated list"},
		{"POSTGRES_PASWORD=typo", "unknown variable; did you mean POSTGRES_PASSWORD?"},
		{"THIS LINE IS WRONG", "key cannot contain a space"},
	}
	var dotenv strings.Builder
	for _, tc := range cases {
		dotenv.WriteString(tc.line + "\n")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, progress, err := callOutput(t, 2*time.Minute, nil, "--source", dir, "up", "up")
	if err == nil {
		t.Fatal("a .env full of bad values was accepted")
	}
	msg := ansi.ReplaceAllString(err.Error(), "")
	if containersRan(progress) {
		t.Error("containers were created before the error")
	}
	rejected := 0
	for _, tc := range cases {
		if strings.Contains(msg, tc.want) {
			rejected++
		} else {
			t.Errorf("%q: the error lacks %q", tc.line, tc.want)
		}
	}
	if !strings.Contains(msg, ".env line 21: key cannot contain a space") {
		t.Error("the unreadable line is not named by its number")
	}
	extra := map[string][]string{
		"a secret is never a plain argument; pass it with --valkey-password env://VAR": {"--set", "VALKEY_PASSWORD=plain", "config"},
		"is out of range (1-16)": {"up", "--workers=-1", "up"},
	}
	for want, args := range extra {
		_, err := callWith(t, 2*time.Minute, projectArgs(), args...)
		if err != nil && strings.Contains(err.Error(), want) {
			rejected++
		} else {
			t.Errorf("%v: not rejected with %q: %v", args, want, err)
		}
	}
	// wipe of the default project, which every unnamed checkout shares.
	if _, err := callWith(t, 2*time.Minute, nil, "wipe"); err != nil && strings.Contains(err.Error(), "which every checkout without a COMPOSE_PROJECT_NAME shares") {
		rejected++
	} else {
		t.Errorf("wipe of the unnamed default project: not refused clearly: %v", err)
	}
	t.Logf("%d bad inputs tried, %d rejected clearly", len(cases)+len(extra)+1, rejected)
}

// TestPersistence: PostgreSQL rows and Valkey keys survive a stop and a
// start; another project does not see them; wipe removes them.
func TestPersistence(t *testing.T) {
	mustCall(t, 10*time.Minute, "wipe")
	pgPW := secrets["E2E_POSTGRES_PASSWORD"]
	withServices := func(t *testing.T, extra []string, f func()) {
		t.Helper()
		pg := startService(t, append(extra, "postgres", "up", "--ports", fmt.Sprintf("%d:5432", pgPort))...)
		kv := startService(t, append(extra, "valkey", "up", "--ports", fmt.Sprintf("%d:6379", valkeyPort))...)
		defer pg.stop(t)
		defer kv.stop(t)
		alive := func() {
			for name, s := range map[string]*stack{"postgres": pg, "valkey": kv} {
				if s.exited() {
					t.Fatalf("%s exited:\n%s", name, tail(s.log.String(), 40))
				}
			}
		}
		waitFor(t, "postgres answers", 5*time.Minute, 2*time.Second, func() error {
			alive()
			_, err := psql("app", pgPW, "app", "SELECT 1")
			return err
		})
		waitFor(t, "valkey answers", 2*time.Minute, 2*time.Second, func() error {
			alive()
			_, err := valkey("PING")
			return err
		})
		f()
	}
	withServices(t, nil, func() {
		if out, err := psql("app", pgPW, "app", "CREATE TABLE persisted (v int); INSERT INTO persisted VALUES (42)"); err != nil {
			t.Fatal(out, err)
		}
		if got, err := valkey("SET", "persisted", "yes"); err != nil || got != "+OK" {
			t.Fatalf("SET: %q %v", got, err)
		}
		time.Sleep(2 * time.Second) // AOF fsyncs every second
	})
	withServices(t, nil, func() {
		if got, err := psql("app", pgPW, "app", "SELECT v FROM persisted"); got != "42" {
			t.Errorf("after restart, postgres row: %q %v", got, err)
		}
		if got, err := valkey("GET", "persisted"); got != "yes" {
			t.Errorf("after restart, valkey key: %q %v", got, err)
		}
	})
	other := []string{"--set", "COMPOSE_PROJECT_NAME=" + project + "-other"}
	withServices(t, other, func() {
		if got, _ := psql("app", pgPW, "app", "SELECT to_regclass('persisted') IS NULL"); got != "t" {
			t.Errorf("another project sees the table: %q", got)
		}
		if got, _ := valkey("EXISTS", "persisted"); got != "0" {
			t.Errorf("another project sees the key: %q", got)
		}
	})
	mustCall(t, 10*time.Minute, append(other, "wipe")...)
	mustCall(t, 10*time.Minute, "wipe")
	withServices(t, nil, func() {
		if got, _ := psql("app", pgPW, "app", "SELECT to_regclass('persisted') IS NULL"); got != "t" {
			t.Errorf("wipe left the table: %q", got)
		}
		if got, _ := valkey("EXISTS", "persisted"); got != "0" {
			t.Errorf("wipe left the key: %q", got)
		}
	})
}

const valkeyPort = 16379

// ansi matches the colour codes of the CLI's plain progress output.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// valkey sends one command, authenticated, and returns the reply's first
// line, without its type marker for integers and bulk strings.
func valkey(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("localhost:%d", valkeyPort), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	send := func(words ...string) (string, error) {
		fmt.Fprintf(conn, "*%d\r\n", len(words))
		for _, w := range words {
			fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(w), w)
		}
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if err != nil {
			return "", err
		}
		switch {
		case strings.HasPrefix(line, "-"):
			return line, fmt.Errorf("valkey: %s", line)
		case strings.HasPrefix(line, ":"):
			return line[1:], nil
		case strings.HasPrefix(line, "$-1"):
			return "", nil
		case strings.HasPrefix(line, "$"):
			body, err := r.ReadString('\n')
			return strings.TrimRight(body, "\r\n"), err
		}
		return line, nil
	}
	if _, err := send("AUTH", secrets["E2E_VALKEY_PASSWORD"]); err != nil {
		return "", err
	}
	return send(args...)
}

// TestInitIsIdempotentAndFailsLoudly runs init twice on the same data (the
// second run changes nothing), then against a metadata database that does
// not exist (a clear error, not a silent success).
func TestInitIsIdempotentAndFailsLoudly(t *testing.T) {
	first := mustCall(t, 15*time.Minute, "init")
	second := mustCall(t, 15*time.Minute, "init")
	for i, out := range []string{first, second} {
		if !strings.Contains(out, "airflow-init: done") {
			t.Errorf("init run %d did not finish:\n%s", i+1, tail(out, 20))
		}
	}
	if !strings.Contains(second, "admin user 'airflow' already exists") {
		t.Errorf("second init did not find the admin user:\n%s", tail(second, 20))
	}
	// A changed password is no failure any more (PostgreSQL's start gives
	// the roles the passwords of the configuration, see 2_rotation_test.go);
	// a metadata database that does not exist is.
	_, err := call(t, 15*time.Minute, "--set", "AIRFLOW_DB_NAME=no_such_db", "init")
	if err == nil {
		t.Fatal("init on a database that does not exist succeeded")
	}
	if !strings.Contains(err.Error(), "cannot connect to the Airflow metadata database") {
		t.Errorf("init failure does not say why:\n%v", err)
	}
}

// TestNoSecretInOutputOrFiles counts every secret value in everything the
// dagger CLI printed during the whole run (progress included), in the
// engine's log when the engine is the native one, and in dbt's exported
// target/ folder: each count must be 0.
func TestNoSecretInOutputOrFiles(t *testing.T) {
	dir := t.TempDir()
	mustCall(t, 15*time.Minute, "dbt-target", "--cmd", "docs generate", "-o", dir)
	var exported strings.Builder
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(path)
			exported.Write(data)
		}
		return nil
	})
	if exported.Len() == 0 {
		t.Fatal("dbt-target exported nothing")
	}
	sources := map[string]string{
		"CLI output of this test run": transcript.String(),
		"exported dbt target/":        exported.String(),
	}
	if engineLog := os.Getenv("DAGGER_ENGINE_LOG"); engineLog != "" {
		data, err := os.ReadFile(engineLog)
		if err != nil {
			t.Fatalf("DAGGER_ENGINE_LOG: %v", err)
		}
		sources["engine log"] = string(data)
	}
	total, values := 0, leakable(t)
	for name, text := range sources {
		for env, value := range values {
			n := strings.Count(text, value)
			total += n
			t.Logf("%-28s %-26s %d bytes searched, %d occurrences", name, env, len(text), n)
			if n != 0 {
				t.Errorf("%s contains the value of %s %d times", name, env, n)
			}
		}
	}
	if transcript.Len() < 10000 {
		t.Errorf("the transcript is suspiciously short (%d bytes): were the other tests run?", transcript.Len())
	}
	t.Logf("%d secret values x %d sources: %d occurrences", len(values), len(sources), total)
}

// withoutFlag drops a "--flag value" pair from args.
func withoutFlag(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// leakable is every secret value of the test project by a name: each
// password as typed and percent-encoded, and every value the module
// computes from them (connection strings, Valkey's config, Fernet key, JWT
// secret), from the same inputs the tests pass.
func leakable(t *testing.T) map[string]string {
	t.Helper()
	in := pipeline.Input{Secrets: map[string]string{}}
	args := moduleArgs()
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "--set" {
			in.Set = append(in.Set, args[i+1])
		} else if env, ok := strings.CutPrefix(args[i+1], "env://"); ok {
			for name, flag := range pipeline.SecretArgs {
				if flag == args[i] {
					in.Secrets[name] = secrets[env]
				}
			}
		}
	}
	cfg, err := pipeline.LoadConfig(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for env, value := range secrets {
		out[env] = value
		out[env+" (percent-encoded)"] = pipeline.EscapeUserinfo(value)
	}
	for name, value := range pipeline.Secrets(cfg) {
		out["secret "+name] = value
	}
	rememberKeys(t)
	if os.Getenv("DAGGER_ENGINE_STATE") != "" && len(generatedKeys) < 2 {
		t.Errorf("only %d generated keys found in the engine's state: the scan would miss them", len(generatedKeys))
	}
	n := 0
	for key := range generatedKeys {
		n++
		out[fmt.Sprintf("generated key %d", n)] = key
	}
	return out
}

// Dagger reads the same .env before the module runs (defaults of function
// arguments). Whatever it makes of the file, a bad port in a copy of
// .env.example, beside another bad value, is named by the module with that
// other problem, before any container starts; also with the line earlier
// versions of .env.example gave Dagger (DB=tcp://localhost:${POSTGRES_PORT}),
// which made Dagger itself fail on a bad POSTGRES_PORT.
func TestBadPortsNamedByTheModule(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(repoRoot(), ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{{"POSTGRES_PORT", "abc"}, {"POSTGRES_PORT", "http"}, {"AIRFLOW_API_PORT", "abc"}, {"FLOWER_PORT", "abc"}} {
		t.Run(bad[0]+"="+bad[1], func(t *testing.T) {
			dotenv := withLines(string(example), bad[0]+"="+bad[1], "VALKEY_MAXMEMORY=256", "COMPOSE_PROJECT_NAME="+project) +
				"DB=tcp://localhost:${POSTGRES_PORT}\n"
			writeDotenv(t, dotenv)
			_, progress, err := callOutput(t, 3*time.Minute, nil, "up", "up")
			if err == nil {
				t.Fatal("accepted")
			}
			msg := ansi.ReplaceAllString(err.Error(), "")
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`invalid configuration:\n(.*\n)*` + bad[0] + `: "[^"]*" is not a whole number`),
				regexp.MustCompile(`VALKEY_MAXMEMORY: "[^"]*" needs a positive size with a unit`),
			} {
				if !want.MatchString(msg) {
					t.Errorf("the error lacks %s:\n%s", want, tail(msg, 30))
				}
			}
			if strings.Contains(msg, "load user defaults") {
				t.Errorf("Dagger's .env reader spoke first:\n%s", tail(msg, 30))
			}
			if containersRan(progress) {
				t.Errorf("containers ran before the error:\n%s", tail(ansi.ReplaceAllString(progress, ""), 40))
			}
		})
	}
}

// containersRan tells, from a call's progress output, whether it defined or
// ran any container.
func containersRan(progress string) bool {
	plain := ansi.ReplaceAllString(progress, "")
	return strings.Contains(plain, "Container.from(") || strings.Contains(plain, "Container.withExec")
}

// The detection itself, on a call that runs a container (the positive
// control of every "before any container" assertion).
func TestContainersRanSeesAContainer(t *testing.T) {
	_, progress, _ := callOutput(t, 5*time.Minute, projectArgs(), "logs", "--service", "postgres", "--tail", "1")
	if !containersRan(progress) {
		t.Errorf("a call that ran a container is not seen to:\n%s", tail(ansi.ReplaceAllString(progress, ""), 40))
	}
}

// withLines is a .env with each NAME=VALUE line replacing the file's line
// for NAME.
func withLines(dotenv string, lines ...string) string {
	out := strings.Split(strings.TrimRight(dotenv, "\n"), "\n")
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		found := false
		for i, l := range out {
			if strings.HasPrefix(l, name+"=") {
				out[i], found = line, true
			}
		}
		if !found {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n"
}
