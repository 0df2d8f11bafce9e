//go:build e2e

// Package e2e drives the module through the dagger CLI against a real engine:
// real PostgreSQL, Valkey, Airflow and dbt, no mocks. Run with
// `go test -tags e2e ./e2e/` (the README's test command does).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/pipeline"
	"dagger/data-platform/restapi"
)

// The test project: its own volumes and ports, so a developer's running stack
// and data are never touched.
const (
	project    = "e2e"
	apiPort    = 18080
	pgPort     = 15432
	flowerPort = 15555
	livePort   = 18090
	valkeyPort = 16379 // Valkey alone, or a stack's with --remote-workers
)

// transcript collects everything the dagger CLI printed in this run, for the
// secret-leak test.
var transcript = &harness.Buffer{}

// Distinctive credentials, passed as secrets from the environment. Each holds
// the characters that break unescaped connection strings and config files
// (`@ / : % # ? & + = ! ~` and a space; %41 must not become "A").
var secrets = map[string]string{
	"E2E_POSTGRES_PASSWORD":    "pg e2e@/:%41#?&+=!~4711",
	"E2E_AIRFLOW_DB_PASSWORD":  "af e2e@/:%41#?&+=!~4712",
	"E2E_DBT_DB_PASSWORD":      "dbt e2e@/:%41#?&+=!~4713",
	"E2E_VALKEY_PASSWORD":      "vk e2e@/:%41#?&+=!~4714",
	"E2E_AIRFLOW_WWW_PASSWORD": "www e2e@/:%41#?&+=!~4715",
	// A connection's password from the project's settings file (TestStack).
	"E2E_SETTINGS_PASSWORD": "settings e2e@/:%41#?&+=!~4716",
	// The same five after a change (TestPasswordChangesTakeEffect).
	"E2E_NEW_POSTGRES_PASSWORD":    "pg new/#?:=&+%25 4721",
	"E2E_NEW_AIRFLOW_DB_PASSWORD":  "af new/#?:=&+%25 4722",
	"E2E_NEW_DBT_DB_PASSWORD":      "dbt new/#?:=&+%25 4723",
	"E2E_NEW_VALKEY_PASSWORD":      "vk new/#?:=&+%25 4724",
	"E2E_NEW_AIRFLOW_WWW_PASSWORD": "www new/#?:=&+%25 4725",
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// testProject is the test project, with its secrets from the environment:
// a team's repository outside this one (see TestMain), which calls the
// module as a remote module is called.
var testProject = harness.Project{
	Module: repoRoot(), Name: project, APIPort: apiPort, PostgresPort: pgPort, FlowerPort: flowerPort, LivePort: livePort,
	Flags: []string{
		"--postgres-password", "env://E2E_POSTGRES_PASSWORD",
		"--airflow-db-password", "env://E2E_AIRFLOW_DB_PASSWORD",
		"--dbt-db-password", "env://E2E_DBT_DB_PASSWORD",
		"--valkey-password", "env://E2E_VALKEY_PASSWORD",
		"--airflow-www-password", "env://E2E_AIRFLOW_WWW_PASSWORD",
	},
	Env:        secretEnv(),
	Transcript: transcript,
}

// TestMain makes the test project: a directory outside the repository
// holding only a team's own files, the example's: dags/, dbt/, config/,
// tests/, Dockerfile and requirements.txt (each test writes its .env; the fault
// tests' project is its folder faults/, by AIRFLOW_PROJ_DIR). It also holds stale, broken copies of scripts that
// the module once read from a project (init/, scripts/): the module must
// never run them, and with no init/init-db.sh the module's own runs.
func TestMain(m *testing.M) {
	dir, err := userProject()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: making the test project:", err)
		os.Exit(1)
	}
	testProject.Dir, testProject.Source = dir, dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// staleScripts are the module's scripts a project once had to hold.
var staleScripts = []string{"init/restart-always.sh", "init/airflow-init.sh", "init/live-receiver.py", "init/hold-data.sh",
	"init/postgres-start.sh", "scripts/dbt-ci.sh", "scripts/check_dags.py", "scripts/elt_check.py"}

func userProject() (string, error) {
	dir, err := os.MkdirTemp("", "e2e-team-project-")
	if err != nil {
		return "", err
	}
	for _, c := range []struct{ from, to string }{{"dags", "dags"}, {"dbt", "dbt"}, {"config", "config"}, {"tests", "tests"}, {"e2e/testdata/faults", "faults"}} {
		if err := os.CopyFS(filepath.Join(dir, c.to), os.DirFS(filepath.Join(repoRoot(), c.from))); err != nil {
			return "", err
		}
	}
	for _, f := range []string{pipeline.DockerfileFile, pipeline.RequirementsFile} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return "", err
		}
	}
	for _, generated := range []string{"dbt/target", "dbt/dbt_packages", "dbt/logs"} {
		_ = os.RemoveAll(filepath.Join(dir, generated))
	}
	for _, s := range staleScripts {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, s)), 0o755); err != nil {
			return "", err
		}
		broken := "#!/bin/sh\necho 'a stale copy in the project ran: " + s + "' >&2\nexit 97\n"
		if err := os.WriteFile(filepath.Join(dir, s), []byte(broken), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func secretEnv() []string {
	var env []string
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	return env
}

// projectArgs select the test project and its ports, without its secrets.
func projectArgs() []string {
	p := testProject
	p.Flags = nil
	return p.ModuleFlags()
}

// moduleArgs are the constructor flags of the test project, with its secrets.
func moduleArgs() []string { return testProject.ModuleFlags() }

// dagger runs the dagger CLI in the repository, with the secrets' variables.
func dagger(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "dagger", args...)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), secretEnv()...)
	return cmd
}

// call runs `dagger call <module args> <args>` and returns stdout; stderr
// (the progress output) is attached to the error.
func call(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	return callWith(t, timeout, moduleArgs(), args...)
}

// callWith is call with other constructor flags.
func callWith(t *testing.T, timeout time.Duration, module []string, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := callOutput(t, timeout, module, args...)
	return stdout, err
}

// callOutput is callWith that also returns the progress output (stderr).
func callOutput(t *testing.T, timeout time.Duration, module []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if module == nil {
		module = []string{}
	}
	stdout, progress, err := testProject.Call(ctx, module, args...)
	t.Logf("dagger call %s: %s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	return stdout, progress, err
}

func mustCall(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	out, err := call(t, timeout, args...)
	if err != nil {
		fatal(t, err)
	}
	return out
}

var tail = harness.Tail

// startStack runs `dagger call <module args> up <upArgs> up` in the background.
func startStack(t *testing.T, upArgs ...string) *harness.Running {
	t.Helper()
	return startWith(t, moduleArgs(), append(append([]string{"up"}, upArgs...), "up")...)
}

// startService runs `dagger call <module args> <args>` in the background;
// args end with Dagger's `up` verb.
func startService(t *testing.T, args ...string) *harness.Running {
	t.Helper()
	return startWith(t, moduleArgs(), args...)
}

// startWith is startService with other constructor flags.
func startWith(t *testing.T, module []string, args ...string) *harness.Running {
	t.Helper()
	r, err := testProject.Start(nil, module, args...)
	if err != nil {
		fatal(t, err)
	}
	return r
}

// stop interrupts a running call like Ctrl-C and waits for it to end.
func stop(t *testing.T, r *harness.Running) {
	t.Helper()
	start := time.Now()
	r.Stop(time.Minute)
	t.Logf("stopped in %s", time.Since(start).Round(100*time.Millisecond))
}

// waitHealthy waits until the api-server reports every component healthy.
func waitHealthy(t *testing.T, r *harness.Running, timeout time.Duration) time.Duration {
	t.Helper()
	return waitFor(t, "all components healthy", timeout, 2*time.Second, func() error {
		if r.Exited() {
			fatalf(t, "up exited early:\n%s", tail(r.Log.String(), 60))
		}
		return harness.Unhealthy(testProject.API())
	})
}

// login returns a REST API token of the admin user.
func login(t *testing.T) string {
	t.Helper()
	return loginWith(t, secrets["E2E_AIRFLOW_WWW_PASSWORD"])
}

// loginWith returns a REST API token of the admin user with that password.
func loginWith(t *testing.T, password string) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := api("POST", "/auth/token", "", map[string]string{"username": "airflow", "password": password}, &tok); err != nil {
		fatal(t, err)
	}
	return tok.AccessToken
}

// waitFor polls f until it returns nil or the timeout passes.
func waitFor(t *testing.T, what string, timeout, every time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = f(); err == nil {
			t.Logf("%s after %s", what, time.Since(start).Round(time.Second))
			return time.Since(start)
		}
		time.Sleep(every)
	}
	fatalf(t, "%s: not reached in %s: %v", what, timeout, err)
	return 0
}

// api calls the Airflow REST API on the host port.
func api(method, path, token string, body any, out any) error {
	return restapi.Do(method, fmt.Sprintf("http://localhost:%d%s", apiPort, path), token, body, out)
}

// psql runs one query on the host port and returns its unaligned output.
func psql(user, password, db, query string) (string, error) {
	cmd := exec.Command("psql", "-h", "localhost", "-p", fmt.Sprint(pgPort), "-U", user, "-d", db, "-tAc", query)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// stackDotenv is the .env of the stack test: Airflow's own variables as a
// compose user keeps them there (a setting, a connection, a variable), and
// lines in compose's syntax that a naive reader gets wrong.
func stackDotenv() string {
	warehouse := fmt.Sprintf("postgresql://dbt:%s@postgres:5432/analytics",
		pipeline.EscapeUserinfo(secrets["E2E_DBT_DB_PASSWORD"]))
	return strings.Join([]string{
		"# Written by the e2e tests (TestStack); removed when the test ends.",
		`AIRFLOW_JWT_ISSUER="e2e\"issuer" # an escaped quote, then a comment`,
		`AIRFLOW__API__INSTANCE_NAME='${POSTGRES_USER}'`,
		`AIRFLOW__CORE__DEFAULT_TASK_RETRIES=${E2E_RETRIES:-4}`,
		"AIRFLOW_VAR_ANALYTICS_CONN_ID=e2e_warehouse",
		// Named by the settings file (settingsFile), a secret of its own.
		"E2E_SETTINGS_PASSWORD='" + secrets["E2E_SETTINGS_PASSWORD"] + "'",
		"AIRFLOW_CONN_E2E_WAREHOUSE='" + warehouse + "'",
	}, "\r\n") + "\r\n"
}

// settingsFile is the project's airflow_settings.yaml in TestStack: a
// connection whose password .env gives, a pool, a variable.
const settingsFile = `airflow:
  connections:
    - conn_id: e2e_settings_warehouse
      conn_type: postgres
      conn_host: postgres
      conn_schema: analytics
      conn_login: dbt
      conn_password: ${E2E_SETTINGS_PASSWORD}
      conn_port: 5432
      conn_extra:
        sslmode: disable
  pools:
    - pool_name: e2e_pool
      pool_slot: 3
      pool_description: from the settings file
  variables:
    - variable_name: e2e_greeting
      variable_value: hello from the settings file
`

// writeDotenv puts a .env in the test project for the rest of the test,
// where the module reads it.
func writeDotenv(t *testing.T, content string) {
	t.Helper()
	writeDotenvIn(t, testProject.Dir, content)
}

// writeDotenvIn puts a .env in dir for the rest of the test; one already
// there (a developer's own, next to dagger.json) is never overwritten.
func writeDotenvIn(t *testing.T, dir, content string) {
	t.Helper()
	path := filepath.Join(dir, ".env")
	if _, err := os.Stat(path); err == nil {
		fatalf(t, "%s exists: the e2e tests need their own .env there; move yours away while they run", path)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		fatal(t, err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })
}

// generatedKeys are the Fernet keys and JWT secrets the stacks of this run
// generated, as far as the engine's state can be read (native engine).
var generatedKeys = map[string]bool{}

var keyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{43}=$`)

// wipe wipes a project (module: its constructor flags), having first read
// the keys its stacks generated and the logs they kept, so the leak scan
// still searches them.
func wipe(t *testing.T, module []string) {
	t.Helper()
	wipeProject(t, testProject, module)
}

// wipeProject is wipe of project p (module nil: p's own constructor flags).
func wipeProject(t *testing.T, p harness.Project, module []string) {
	t.Helper()
	rememberKeys(t)
	rememberKeptLogs(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	if _, _, err := p.Call(ctx, module, "wipe"); err != nil {
		fatal(t, err)
	}
	name := p.Name
	if module != nil {
		name = "as its flags say" // they may name another project
	}
	t.Logf("dagger call wipe (project %s): %s", name, time.Since(start).Round(100*time.Millisecond))
}

// rememberKeys reads every generated key now in the engine's volumes (a
// file "key" at a volume's root); call it before a wipe removes them.
func rememberKeys(t *testing.T) {
	t.Helper()
	for _, root := range snapshotRoots(t) {
		if data, err := os.ReadFile(filepath.Join(root, "key")); err == nil && keyRe.Match(data) {
			generatedKeys[string(data)] = true
		}
	}
}

// snapshotRoots are the roots of every snapshot in the native engine's
// state (a cache volume's content is one); none with another engine.
func snapshotRoots(t *testing.T) []string {
	t.Helper()
	state := os.Getenv("DAGGER_ENGINE_STATE")
	if state == "" {
		return nil
	}
	roots, err := filepath.Glob(filepath.Join(state, "worker/snapshots/snapshots/*/fs"))
	if err != nil {
		fatal(t, err)
	}
	return roots
}

// A failed check is said twice: where it fails, and again, in short, at the
// end of its test. CI shows the lines just before a test's FAIL line; there
// a stack's output and the later steps' logs would stand instead, and a
// failed call's message holds 200 lines of its progress.
var (
	recapMu sync.Mutex
	recaps  = map[string][]string{} // by top-level test
	// leakScanned: the leak scan has begun; no test may start after it.
	leakScanned bool
)

// recapOnFailure ends t, if it failed, with the gist of each failed check
// of it and its subtests.
func recapOnFailure(t *testing.T) {
	recapMu.Lock()
	after := leakScanned
	recapMu.Unlock()
	if after {
		errorf(t, "%s runs after the leak scan (TestNoSecretInOutputOrFiles), which then missed what it produces: the scan must be the last test", t.Name())
	}
	t.Cleanup(func() {
		recapMu.Lock()
		lines := recaps[t.Name()]
		recapMu.Unlock()
		if t.Failed() && len(lines) > 0 {
			t.Logf("what failed, in short:\n%s", strings.Join(lines, "\n"))
		}
	})
}

// errorf and fatalf are t.Errorf and t.Fatalf that keep the message's gist
// for recapOnFailure; fail and fatal are t.Error and t.Fatal.
func errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Error(keep(t, fmt.Sprintf(format, args...)))
}

func fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatal(keep(t, fmt.Sprintf(format, args...)))
}

func fail(t testing.TB, args ...any) {
	t.Helper()
	t.Error(keep(t, strings.TrimSuffix(fmt.Sprintln(args...), "\n")))
}

func fatal(t testing.TB, args ...any) {
	t.Helper()
	t.Fatal(keep(t, strings.TrimSuffix(fmt.Sprintln(args...), "\n")))
}

// keep records msg's gist under t's top-level test and returns msg.
func keep(t testing.TB, msg string) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	recapMu.Lock()
	recaps[top] = append(recaps[top], "- "+t.Name()+": "+harness.Gist(msg))
	recapMu.Unlock()
	return msg
}

// fromOneAddress connects to a host port of the stack again and again
// from one client address (a free local port, bound each time, as the
// system soon reuses one anyway), and checks each connection is answered:
// Dagger's tunnel brings them all over its one connection to the gateway.
func fromOneAddress(t *testing.T, port int, times int, ask func(net.Conn) error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(t, err)
	}
	local := l.Addr().(*net.TCPAddr)
	l.Close()
	dialer := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	for i := 1; i <= times; i++ {
		c, err := dialer.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			fatalf(t, "port %d, connection %d from %s: %v", port, i, local, err)
		}
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		err = ask(c)
		_ = c.(*net.TCPConn).SetLinger(0) // no TIME_WAIT: the address is free again at once
		c.Close()
		if err != nil {
			fatalf(t, "port %d, connection %d from %s, the address used again: %v", port, i, local, err)
		}
	}
}

// httpAsk asks for path over c, with Connection: close, and wants status;
// it reads the whole answer, as a client does.
func httpAsk(path string, status int) func(net.Conn) error {
	return func(c net.Conn) error {
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != status {
			return fmt.Errorf("answer %s (%v), want %d", resp.Status, err, status)
		}
		return nil
	}
}

// postgresAsk opens a session over c with a protocol PostgreSQL refuses
// (2.0): it answers an error (E) and ends the session, as after a query.
// It reads the whole message, as a client does: in protocol 3's framing
// (a length) or, as a server may answer a 2.0 client, a NUL-ended text.
func postgresAsk(c net.Conn) error {
	if _, err := c.Write([]byte{0, 0, 0, 9, 0, 2, 0, 0, 0}); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	head := make([]byte, 5)
	if _, err := io.ReadFull(r, head); err != nil || head[0] != 'E' {
		return fmt.Errorf("answer %q (%v), want an error (E)", head, err)
	}
	var body []byte
	if n := binary.BigEndian.Uint32(head[1:]); n >= 4 && n <= 8192 {
		body = make([]byte, n-4)
		_, err := io.ReadFull(r, body)
		if err != nil {
			return fmt.Errorf("error message cut short: %v", err)
		}
	} else {
		text, err := r.ReadBytes(0)
		if err != nil {
			return fmt.Errorf("error message cut short: %v", err)
		}
		body = append(head[1:], text...)
	}
	if !bytes.Contains(body, []byte("unsupported frontend protocol")) {
		return fmt.Errorf("error %q, want PostgreSQL's on the protocol", body)
	}
	return nil
}
