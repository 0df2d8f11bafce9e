//go:build e2e

package e2e

import (
	"dagger/data-platform/internal/harness"
	"encoding/base64"
	"net/url"
	"slices"

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
	recapOnFailure(t)
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
		fatal(t, err)
	}
	_, progress, err := callOutput(t, 2*time.Minute, nil, "up", "--source", dir, "up")
	if err == nil {
		fatal(t, "a .env full of bad values was accepted")
	}
	msg := ansi.ReplaceAllString(err.Error(), "")
	if containersRan(progress) {
		fail(t, "containers were created before the error")
	}
	for _, tc := range cases {
		if !strings.Contains(msg, tc.want) {
			errorf(t, "%q: the error lacks %q", tc.line, tc.want)
		}
	}
	if !strings.Contains(msg, ".env line 21: key cannot contain a space") {
		fail(t, "the unreadable line is not named by its number")
	}
	extra := map[string][]string{
		"a secret is never a plain argument; pass it with --valkey-password env://VAR": {"--set", "VALKEY_PASSWORD=plain", "config"},
		"is out of range (1-16)": {"up", "--workers=-1", "up"},
	}
	for want, args := range extra {
		if _, err := callWith(t, 2*time.Minute, projectArgs(), args...); err == nil || !strings.Contains(err.Error(), want) {
			errorf(t, "%v: not rejected with %q: %v", args, want, err)
		}
	}
	// wipe of the default project, which every unnamed checkout shares.
	if _, err := callWith(t, 2*time.Minute, nil, "wipe"); err == nil || !strings.Contains(err.Error(), "which every checkout without a COMPOSE_PROJECT_NAME shares") {
		errorf(t, "wipe of the unnamed default project: not refused clearly: %v", err)
	}
}

// TestPersistence: PostgreSQL rows and Valkey keys survive a stop and a
// start; another project does not see them; wipe removes them.
func TestPersistence(t *testing.T) {
	recapOnFailure(t)
	wipe(t, moduleArgs())
	pgPW := secrets["E2E_POSTGRES_PASSWORD"]
	withServices := func(t *testing.T, extra []string, f func()) {
		t.Helper()
		// Valkey first, then PostgreSQL beside it: a call refuses only on the
		// data its own servers would hold.
		var pg *harness.Running
		kv := startService(t, append(extra, "valkey", "up", "--ports", fmt.Sprintf("%d:6379", valkeyPort))...)
		defer func() {
			stop(t, kv)
			if pg != nil {
				stop(t, pg)
			}
			// The engine ends a service some seconds after its call: until
			// then its server holds the data, and the next call is refused.
			name := project
			if len(extra) > 0 {
				name = strings.TrimPrefix(extra[len(extra)-1], "COMPOSE_PROJECT_NAME=")
			}
			waitFor(t, "project "+name+"'s servers gone", 2*time.Minute, time.Second, func() error {
				if ps := projectProcesses(name, ""); len(ps) > 0 {
					return fmt.Errorf("%d processes left", len(ps))
				}
				return nil
			})
		}()
		alive := func() {
			for name, s := range map[string]*harness.Running{"postgres": pg, "valkey": kv} {
				if s != nil && s.Exited() {
					fatalf(t, "%s exited:\n%s", name, tail(s.Log.String(), 40))
				}
			}
		}
		waitFor(t, "valkey answers", 2*time.Minute, time.Second, func() error {
			alive()
			_, err := valkey("PING")
			return err
		})
		pg = startService(t, append(extra, "postgres", "up", "--ports", fmt.Sprintf("%d:5432", pgPort))...)
		waitFor(t, "postgres answers", 5*time.Minute, 2*time.Second, func() error {
			alive()
			_, err := psql("app", pgPW, "app", "SELECT 1")
			return err
		})
		f()
	}
	withServices(t, nil, func() {
		if out, err := psql("app", pgPW, "app", "CREATE TABLE persisted (v int); INSERT INTO persisted VALUES (42)"); err != nil {
			fatal(t, out, err)
		}
		if got, err := valkey("SET", "persisted", "yes"); err != nil || got != "+OK" {
			fatalf(t, "SET: %q %v", got, err)
		}
		time.Sleep(2 * time.Second) // AOF fsyncs every second
	})
	withServices(t, nil, func() {
		if got, err := psql("app", pgPW, "app", "SELECT v FROM persisted"); got != "42" {
			errorf(t, "after restart, postgres row: %q %v", got, err)
		}
		if got, err := valkey("GET", "persisted"); got != "yes" {
			errorf(t, "after restart, valkey key: %q %v", got, err)
		}
	})
	other := []string{"--set", "COMPOSE_PROJECT_NAME=" + project + "-other"}
	withServices(t, other, func() {
		if got, _ := psql("app", pgPW, "app", "SELECT to_regclass('persisted') IS NULL"); got != "t" {
			errorf(t, "another project sees the table: %q", got)
		}
		if got, _ := valkey("EXISTS", "persisted"); got != "0" {
			errorf(t, "another project sees the key: %q", got)
		}
	})
	wipe(t, append(moduleArgs(), other...))
	wipe(t, moduleArgs())
	withServices(t, nil, func() {
		if got, _ := psql("app", pgPW, "app", "SELECT to_regclass('persisted') IS NULL"); got != "t" {
			errorf(t, "wipe left the table: %q", got)
		}
		if got, _ := valkey("EXISTS", "persisted"); got != "0" {
			errorf(t, "wipe left the key: %q", got)
		}
	})
}

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
	recapOnFailure(t)
	first := mustCall(t, 15*time.Minute, "init")
	second := mustCall(t, 15*time.Minute, "init")
	for i, out := range []string{first, second} {
		if !strings.Contains(out, "airflow-init: done") {
			errorf(t, "init run %d did not finish:\n%s", i+1, tail(out, 20))
		}
	}
	if !strings.Contains(second, "admin user 'airflow' already exists") {
		errorf(t, "second init did not find the admin user:\n%s", tail(second, 20))
	}
	// A changed password is no failure any more (PostgreSQL's start gives
	// the roles the passwords of the configuration, see 2_rotation_test.go);
	// a metadata database that does not exist is.
	_, err := call(t, 15*time.Minute, "--set", "AIRFLOW_DB_NAME=no_such_db", "init")
	if err == nil {
		fatal(t, "init on a database that does not exist succeeded")
	}
	if !strings.Contains(err.Error(), "cannot connect to the Airflow metadata database") {
		errorf(t, "init failure does not say why:\n%v", err)
	}
}

// TestNoSecretInOutputOrFiles counts every secret value of the run, in
// every form a program might write it, in everything the run kept: all the
// dagger CLI printed (progress included), the engine's log and the logs the
// stacks kept in their volumes (on the native engine, whose state this host
// reads), and every file the tests exported (dbt-target, dbt-ci -o). Each
// count must be 0.
func TestNoSecretInOutputOrFiles(t *testing.T) {
	recapOnFailure(t)
	dir := t.TempDir()
	mustCall(t, 15*time.Minute, "dbt-target", "--cmd", "docs generate", "-o", dir)
	keepExported(t, dir)
	sources := map[string]string{
		"CLI output of this test run":     transcript.String(),
		"files exported by the tests":     exported.String(),
		"the stacks' kept logs (volumes)": "",
	}
	if engineLog := os.Getenv("DAGGER_ENGINE_LOG"); engineLog != "" {
		data, err := os.ReadFile(engineLog)
		if err != nil {
			fatalf(t, "DAGGER_ENGINE_LOG: %v", err)
		}
		sources["engine log"] = string(data)
	}
	if os.Getenv("DAGGER_ENGINE_STATE") != "" {
		rememberKeptLogs(t)
		var all strings.Builder
		for _, content := range keptLogs {
			all.WriteString(content)
		}
		kept := all.String()
		t.Logf("kept logs: %d files read over the run, %d bytes", len(keptLogs), len(kept))
		// The scan reads what it must: a service's output and a task's log.
		for _, want := range []string{"Starting the scheduler", "loading into the Airflow connection"} {
			if !strings.Contains(kept, want) {
				errorf(t, "the kept logs read from the engine's state lack %q: the scan misses them", want)
			}
		}
		sources["the stacks' kept logs (volumes)"] = kept
	} else {
		delete(sources, "the stacks' kept logs (volumes)")
	}
	total, values := 0, leakable(t)
	for name, text := range sources {
		found := 0
		for what, value := range values {
			if n := strings.Count(text, value); n > 0 {
				found += n
				errorf(t, "%s contains %s %d times", name, what, n)
			}
		}
		t.Logf("%-32s %9d bytes searched for %d values: %d occurrences", name, len(text), len(values), found)
		total += found
	}
	if transcript.Len() < 10000 || exported.Len() == 0 {
		errorf(t, "the transcript (%d bytes) or the exported files (%d bytes) are suspiciously short: were the other tests run?", transcript.Len(), exported.Len())
	}
}

// exported holds the files the tests exported from the module, for the
// leak scan (their folders are gone by then).
var exported = &harness.Buffer{}

// keepExported keeps every file below dir for the leak scan.
func keepExported(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, _ = exported.Write(data)
		}
		return err
	})
	if err != nil {
		fatal(t, err)
	}
}

// keptLogs holds every file of the volumes that held logs, as read before
// each wipe and at the scan (file and size -> content; native engine).
var keptLogs = map[string]string{}

// rememberKeptLogs reads, from the native engine's state, every file of
// the volumes that hold logs: the services' kept output (NAME.log at the
// volume's root) and Airflow's task and processor logs (dag_id=...).
func rememberKeptLogs(t *testing.T) {
	t.Helper()
	for _, root := range snapshotRoots(t) {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		logs := slices.ContainsFunc(entries, func(e os.DirEntry) bool {
			n := e.Name()
			return strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".log.1") || strings.HasPrefix(n, "dag_id=") || n == "dag_processor"
		})
		if !logs {
			continue
		}
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if data, err := os.ReadFile(path); err == nil {
				keptLogs[fmt.Sprintf("%s@%d", path, len(data))] = string(data)
			}
			return nil
		})
	}
}

// leakable is every secret value of the run, each in every form a program
// might write it, by what it is: each password as typed, percent-encoded
// (URLs), form-encoded ('+' for a space), in base64 alone and as HTTP Basic
// credentials, shell-escaped; every value the module computes from them
// (connection strings, Valkey's config), from the same inputs the tests
// pass; and every Fernet key and JWT secret the stacks generated.
func leakable(t *testing.T) map[string]string {
	t.Helper()
	in := pipeline.Input{Secrets: map[string]string{}}
	args := moduleArgs()
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "--set" {
			in.Set = append(in.Set, args[i+1])
		} else if env, ok := strings.CutPrefix(args[i+1], "env://"); ok {
			for _, v := range pipeline.SecretVariables() {
				if v.Flag() == args[i] {
					in.Secrets[v.Name] = secrets[env]
				}
			}
		}
	}
	cfg, err := pipeline.LoadConfig(t.Context(), in)
	if err != nil {
		fatal(t, err)
	}
	out := map[string]string{}
	for env, value := range secrets {
		out[env] = value
		out[env+" percent-encoded"] = pipeline.EscapeUserinfo(value)
		out[env+" form-encoded"] = url.QueryEscape(value)
		out[env+" in base64"] = base64.StdEncoding.EncodeToString([]byte(value))
		out[env+" as Basic credentials"] = base64.StdEncoding.EncodeToString([]byte("airflow:" + value))
		out[env+" shell-escaped"] = shellEscaped(value)
	}
	for name, value := range pipeline.Secrets(cfg) {
		out["secret "+name] = value
	}
	rememberKeys(t)
	if os.Getenv("DAGGER_ENGINE_STATE") != "" && len(generatedKeys) < 6 {
		errorf(t, "only %d generated keys collected from the engine's state (each stack makes 2): the scan would miss some", len(generatedKeys))
	}
	n := 0
	for key := range generatedKeys {
		n++
		out[fmt.Sprintf("generated key %d", n)] = key
	}
	return out
}

// shellEscaped is a value as bash's printf %q writes it: a backslash before
// every character a shell would read otherwise.
func shellEscaped(v string) string {
	var b strings.Builder
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Dagger reads the same .env before the module runs (defaults of function
// arguments). Whatever it makes of the file, a bad port in a copy of
// .env.example, beside another bad value, is named by the module with that
// other problem, before any container starts; also with the line earlier
// versions of .env.example gave Dagger (DB=tcp://localhost:${POSTGRES_PORT}),
// which made Dagger itself fail on a bad POSTGRES_PORT.
func TestBadPortsNamedByTheModule(t *testing.T) {
	recapOnFailure(t)
	example, err := os.ReadFile(filepath.Join(repoRoot(), ".env.example"))
	if err != nil {
		fatal(t, err)
	}
	for _, bad := range [][2]string{{"POSTGRES_PORT", "abc"}, {"POSTGRES_PORT", "http"}, {"AIRFLOW_API_PORT", "abc"}, {"FLOWER_PORT", "abc"}} {
		t.Run(bad[0]+"="+bad[1], func(t *testing.T) {
			dotenv := withLines(string(example), bad[0]+"="+bad[1], "VALKEY_MAXMEMORY=256", "COMPOSE_PROJECT_NAME="+project) +
				"DB=tcp://localhost:${POSTGRES_PORT}\n"
			writeDotenv(t, dotenv)
			_, progress, err := callOutput(t, 3*time.Minute, nil, "up", "up")
			if err == nil {
				fatal(t, "accepted")
			}
			msg := ansi.ReplaceAllString(err.Error(), "")
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`invalid configuration:\n(.*\n)*` + bad[0] + `: "[^"]*" is not a whole number`),
				regexp.MustCompile(`VALKEY_MAXMEMORY: "[^"]*" needs a positive size with a unit`),
			} {
				if !want.MatchString(msg) {
					errorf(t, "the error lacks %s:\n%s", want, tail(msg, 30))
				}
			}
			if strings.Contains(msg, "load user defaults") {
				errorf(t, "Dagger's .env reader spoke first:\n%s", tail(msg, 30))
			}
			if containersRan(progress) {
				errorf(t, "containers ran before the error:\n%s", tail(ansi.ReplaceAllString(progress, ""), 40))
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
	recapOnFailure(t)
	_, progress, _ := callOutput(t, 5*time.Minute, projectArgs(), "logs", "--service", "postgres", "--tail", "1")
	if !containersRan(progress) {
		errorf(t, "a call that ran a container is not seen to:\n%s", tail(ansi.ReplaceAllString(progress, ""), 40))
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
