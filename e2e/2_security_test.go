//go:build e2e

package e2e

import (
	"context"
	"dagger/data-platform/internal/harness"

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
	msg := harness.Uncoloured(err.Error())
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
	// A stack other machines join, on a project that kept the spec's
	// passwords (an empty .env): refused, each shared password named.
	spec := t.TempDir()
	if err := os.WriteFile(filepath.Join(spec, ".env"), nil, 0o600); err != nil {
		fatal(t, err)
	}
	_, progress, err = callOutput(t, 2*time.Minute, nil, "up", "--source", spec, "--remote-workers", "up")
	if err == nil {
		fatal(t, "up --remote-workers on the spec's default passwords was accepted")
	}
	if containersRan(progress) {
		fail(t, "up --remote-workers on default passwords: containers were created before the error")
	}
	for _, name := range []string{"VALKEY_PASSWORD", "AIRFLOW_DB_PASSWORD"} {
		if want := name + ": --remote-workers opens it to other machines, and it is the spec's default password"; !strings.Contains(harness.Uncoloured(err.Error()), want) {
			errorf(t, "up --remote-workers on default passwords: the error lacks %q: %v", want, err)
		}
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

// Dagger reads the same .env before the module runs (defaults of function
// arguments), when it is the module's own, next to dagger.json: a user of
// this repository. Whatever it makes of the file, a bad port in a copy of
// .env.example, beside another bad value, is named by the module with that
// other problem, before any container starts; also with the line earlier
// versions of .env.example gave Dagger (DB=tcp://localhost:${POSTGRES_PORT}),
// which made Dagger itself fail on a bad POSTGRES_PORT. (A team's project
// calling the module with -m has its .env read by Dagger only for lines
// named after the module, DATA_PLATFORM_*.)
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
			inRepo := testProject
			inRepo.Dir, inRepo.Module, inRepo.Source = repoRoot(), "", ""
			writeDotenvIn(t, inRepo.Dir, dotenv)
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			_, progress, err := inRepo.Call(ctx, []string{}, "up", "up")
			if err == nil {
				fatal(t, "accepted")
			}
			msg := harness.Uncoloured(err.Error())
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
				errorf(t, "containers ran before the error:\n%s", tail(harness.Uncoloured(progress), 40))
			}
		})
	}
}

// containersRan tells, from a call's progress output, whether it defined or
// ran any container.
func containersRan(progress string) bool {
	plain := harness.Uncoloured(progress)
	return strings.Contains(plain, "Container.from(") || strings.Contains(plain, "Container.withExec")
}

// The detection itself, on a call that runs a container (the positive
// control of every "before any container" assertion).
func TestContainersRanSeesAContainer(t *testing.T) {
	recapOnFailure(t)
	_, progress, _ := callOutput(t, 5*time.Minute, projectArgs(), "logs", "--service", "postgres", "--tail", "1")
	if !containersRan(progress) {
		errorf(t, "a call that ran a container is not seen to:\n%s", tail(harness.Uncoloured(progress), 40))
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
