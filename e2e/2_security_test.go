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
)

// TestBadInputRejectedBeforeStart tries a wrong value for every kind of
// variable through the real CLI: each must fail with the variable named,
// before any container runs.
func TestBadInputRejectedBeforeStart(t *testing.T) {
	cases := []struct{ set, name string }{
		{"POSTGRES_PASSWORD=", "POSTGRES_PASSWORD"},
		{"VALKEY_PASSWORD=", "VALKEY_PASSWORD"},
		{"AIRFLOW_DB_PASSWORD=", "AIRFLOW_DB_PASSWORD"},
		{"DBT_DB_PASSWORD=", "DBT_DB_PASSWORD"},
		{"AIRFLOW_WWW_PASSWORD=", "AIRFLOW_WWW_PASSWORD"},
		{"POSTGRES_PORT=fivefour", "POSTGRES_PORT"},
		{"AIRFLOW_API_PORT=99999", "AIRFLOW_API_PORT"},
		{fmt.Sprintf("FLOWER_PORT=%d", apiPort), "FLOWER_PORT"},
		{"AIRFLOW_FERNET_KEY=abc", "AIRFLOW_FERNET_KEY"},
		{"VALKEY_MAXMEMORY=256", "VALKEY_MAXMEMORY"},
		{"AIRFLOW_UID=-5", "AIRFLOW_UID"},
		{"POSTGRES_USER=bad name", "POSTGRES_USER"},
		{"DBT_DB_NAME=x;drop", "DBT_DB_NAME"},
		{"DBT_SCHEMA=", "DBT_SCHEMA"},
		{"AIRFLOW_IMAGE_NAME=apache/airflow:latest", "AIRFLOW_IMAGE_NAME"},
		{"VALKEY_IMAGE_NAME=valkey", "VALKEY_IMAGE_NAME"},
		{"AIRFLOW_PROJ_DIR=/abs", "AIRFLOW_PROJ_DIR"},
		{"COMPOSE_PROJECT_NAME=Bad Name", "COMPOSE_PROJECT_NAME"},
		{"AIRFLOW_JWT_SECRET=short", "AIRFLOW_JWT_SECRET"},
		{"_PIP_ADDITIONAL_REQUIREMENTS=x;y", "_PIP_ADDITIONAL_REQUIREMENTS"},
		{"NOEQUALS", "--set"},
	}
	rejected := 0
	for _, tc := range cases {
		// Without the secret options, which would override a --set password.
		out, err := callWith(t, 2*time.Minute, projectArgs(), "--set", tc.set, "up", "--workers", "1", "up")
		switch {
		case err == nil:
			t.Errorf("--set %q: accepted:\n%s", tc.set, out)
		case !strings.Contains(err.Error(), tc.name):
			t.Errorf("--set %q: error does not name %s:\n%v", tc.set, tc.name, err)
		case strings.Contains(ansi.ReplaceAllString(err.Error(), ""), "Container.from"):
			t.Errorf("--set %q: containers were created before the error", tc.set)
		default:
			rejected++
		}
	}
	// A .env line without "=", and workers out of range.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("POSTGRES_USER=app\nTHIS LINE IS WRONG\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := [][]string{
		{"--source", dir, "config"},
		{"up", "--workers=-1", "up"},
	}
	for _, args := range extra {
		if _, err := callWith(t, 2*time.Minute, projectArgs(), args...); err != nil && (strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "workers")) {
			rejected++
		} else {
			t.Errorf("%v: not rejected clearly: %v", args, err)
		}
	}
	t.Logf("%d bad inputs tried, %d rejected clearly", len(cases)+len(extra), rejected)
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
// second run changes nothing), then with a wrong database password (a clear
// error, not a silent success).
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
	// The secret option would override the --set password: leave it out.
	module := withoutFlag(moduleArgs(), "--airflow-db-password")
	_, err := callWith(t, 15*time.Minute, module, "--set", "AIRFLOW_DB_PASSWORD=not-the-password", "init")
	if err == nil {
		t.Fatal("init with a wrong database password succeeded")
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
	total := 0
	for name, text := range sources {
		for env, value := range secrets {
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
	t.Logf("%d secret values x %d sources: %d occurrences", len(secrets), len(sources), total)
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
