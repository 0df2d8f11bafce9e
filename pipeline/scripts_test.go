package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Init's root step, for real: the logs folder and the live folders are
// AIRFLOW_UID's, a missing key is made at random (a Fernet key's form,
// readable by its owner only) and an existing one is kept.
func TestOwnVolumesMakesKeysOnce(t *testing.T) {
	dir := t.TempDir()
	owner := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	logs, tree, key := filepath.Join(dir, "logs"), filepath.Join(dir, "dags"), filepath.Join(dir, "key")
	for _, d := range []string{logs, filepath.Join(tree, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func() string {
		t.Helper()
		out, err := exec.Command("sh", "scripts/own-volumes.sh", owner, "--logs", logs, "--tree", tree, "--key", key).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		data, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	first := run()
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}=$`).MatchString(first) {
		t.Errorf("the key %q is not 32 bytes in url-safe base64", first)
	}
	if info, _ := os.Stat(key); info.Mode().Perm() != 0o400 {
		t.Errorf("the key's mode is %v, want 0400", info.Mode().Perm())
	}
	if info, _ := os.Stat(logs); info.Mode()&os.ModeSetgid == 0 || info.Mode().Perm() != 0o775 {
		t.Errorf("the logs folder's mode is %v, want setgid 0775", info.Mode())
	}
	if second := run(); second != first {
		t.Error("a second run made a new key: stored connections would no longer decrypt")
	}
	other := filepath.Join(dir, "other")
	if out, err := exec.Command("sh", "scripts/own-volumes.sh", owner, "--key", other).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if data, _ := os.ReadFile(other); string(data) == first {
		t.Error("two keys are the same")
	}
	if out, err := exec.Command("sh", "scripts/own-volumes.sh", owner, "--bogus", "x").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown option --bogus") {
		t.Errorf("a bad option: %v %s", err, out)
	}
}

// wipe empties every volume it is given, keeps the volume itself, and
// names each by its key.
func TestWipeEmptiesEveryVolume(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, f := range []string{"a/PG_VERSION", "a/base/1/2", "b/appendonly.aof"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec := Wipe(mustDefault(t))
	if len(spec.Volumes) != len(mustDefault(t).Volumes()) {
		t.Errorf("wipe mounts %d volumes, the project has %d", len(spec.Volumes), len(mustDefault(t).Volumes()))
	}
	out, err := exec.Command("sh", "scripts/wipe-volumes.sh", "key-a:"+a, "key-b:"+b).CombinedOutput()
	if err != nil || string(out) != "wiped key-a\nwiped key-b\n" {
		t.Fatalf("%v %q", err, out)
	}
	for _, d := range []string{a, b} {
		entries, err := os.ReadDir(d)
		if err != nil || len(entries) != 0 {
			t.Errorf("%s after wipe: %v %v", d, entries, err)
		}
	}
}

// startForward runs forward.py relaying a free port to upstream on this
// host, and returns the port once it listens (it says so).
func startForward(t *testing.T, upstream int) int {
	t.Helper()
	listen := freePort(t)
	// With the soft limit of open files the gateway's container starts with.
	fwd := exec.Command("sh", "-c", `ulimit -Sn 1024 && exec python3 scripts/forward.py "$0"`, fmt.Sprintf("%d:127.0.0.1:%d", listen, upstream))
	out, err := fwd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fwd.Process.Kill(); _ = fwd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if want := fmt.Sprintf("forward: %d -> 127.0.0.1:%d\n", listen, upstream); line != want {
		t.Fatalf("forward.py says %q (%v), want %q", line, err, want)
	}
	return listen
}

// listenLocal listens on a free port of this host for the test's length.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dialLocal connects to a port of this host for the test's length.
func dialLocal(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo serves l: each connection gets back what it sends.
func echo(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { _, _ = io.Copy(c, c); c.Close() }()
	}
}

// A connection to the gateway before its service listens is held until
// the service answers, not closed (see scripts/forward.py).
func TestForwardHoldsAConnectionUntilItsServiceListens(t *testing.T) {
	upstream := freePort(t)
	listen := startForward(t, upstream)
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", listen))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the service is not there yet
	svc, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", upstream))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	go echo(svc)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := bufio.NewReader(conn).ReadString('\n')
	if got != "ping\n" {
		t.Errorf("the service's answer through forward.py: %q (%v); the connection was not held for it", got, err)
	}
}

// Dagger's tunnel brings every host connection from one address over one
// connection to the gateway, which it never closes, and stops serving the
// port at the first write the gateway refuses. So a connection from the
// tunnel carries one service connection after another: what comes after
// the service ended one (reset, the harshest end, or closed) goes to a new
// one, and the gateway never refuses a byte nor closes its end.
func TestForwardCarriesConnectionsOneAfterAnother(t *testing.T) {
	svc := listenLocal(t)
	listen := startForward(t, svc.Addr().(*net.TCPAddr).Port)
	tunnel := dialLocal(t, listen)
	answers := bufio.NewReader(tunnel)
	for i, reset := range []bool{true, false, true} {
		ask := fmt.Sprintf("question %d\n", i+1)
		if _, err := tunnel.Write([]byte(ask)); err != nil {
			t.Fatalf("question %d: the gateway refused it: %v", i+1, err)
		}
		_ = svc.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		server, err := svc.Accept()
		if err != nil {
			t.Fatalf("question %d reached no new service connection: %v", i+1, err)
		}
		if got, err := bufio.NewReader(server).ReadString('\n'); got != ask {
			t.Fatalf("the service read %q (%v), want %q", got, err, ask)
		}
		_, _ = fmt.Fprintf(server, "answer %d\n", i+1)
		time.Sleep(100 * time.Millisecond) // the answer on its way before the end
		if reset {
			_ = server.(*net.TCPConn).SetLinger(0)
		}
		server.Close()
		_ = tunnel.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, err := answers.ReadString('\n'); got != fmt.Sprintf("answer %d\n", i+1) {
			t.Fatalf("question %d: the tunnel got back %q (%v)", i+1, got, err)
		}
		time.Sleep(100 * time.Millisecond) // the service's end reached the gateway
	}
	// The gateway's end stays open: no EOF, no reset.
	_ = tunnel.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := answers.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the gateway ended its end of the tunnel's connection: %d bytes, %v", n, err)
	}
}

// A host client that reuses an address sends its first bytes right behind
// the answer the last one read, often before the service has ended that
// session: those bytes go again on a new connection, once; bytes the
// service ends a fresh connection on without answering do not.
func TestForwardSendsAgainWhatAnEndingSessionDropped(t *testing.T) {
	svc := listenLocal(t)
	var accepted atomic.Int32
	go func() { // answers one line, then ends the session a moment later, reading nothing more
		for {
			c, err := svc.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				if line == "refused\n" {
					return
				}
				_, _ = fmt.Fprintf(c, "answer to %s", line)
				time.Sleep(300 * time.Millisecond)
			}()
		}
	}()
	listen := startForward(t, svc.Addr().(*net.TCPAddr).Port)
	tunnel := dialLocal(t, listen)
	answers := bufio.NewReader(tunnel)
	for _, ask := range []string{"one\n", "two\n", "three\n"} {
		if _, err := tunnel.Write([]byte(ask)); err != nil {
			t.Fatal(err)
		}
		_ = tunnel.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := answers.ReadString('\n'); got != "answer to "+ask {
			t.Fatalf("asked %q right behind the last answer, got %q (%v)", ask, got, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	before := accepted.Load()
	if _, err := tunnel.Write([]byte("refused\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := accepted.Load() - before; n != 1 {
		t.Errorf("bytes the service refused on a fresh connection went to %d connections, want 1", n)
	}
}

// Dagger's tunnel never closes its end: the gateway holds a connection
// for every host client address it has seen. Past the default limit of
// open files (1024), it still takes new ones.
func TestForwardTakesConnectionsPastTheOpenFilesLimit(t *testing.T) {
	svc := listenLocal(t)
	go func() { // answers one line and ends the connection, as a server may
		for {
			c, err := svc.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = bufio.NewReader(c).ReadString('\n')
				_, _ = c.Write([]byte("served\n"))
				c.Close()
			}()
		}
	}()
	listen := startForward(t, svc.Addr().(*net.TCPAddr).Port)
	var open []net.Conn // held open, as the tunnel holds them
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range 1200 {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", listen), 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		open = append(open, c)
		_, _ = c.Write([]byte("hello\n"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := bufio.NewReader(c).ReadString('\n'); got != "served\n" {
			t.Fatalf("connection %d through forward.py: %q (%v)", i+1, got, err)
		}
	}
}

// dbt's parse of the project is kept between calls (scripts/dbt-deps.sh): a
// call finds the last call's target/partial_parse.msgpack in place, keeps
// the one its command leaves, and exits with the command's status.
func TestDbtKeepsItsParseBetweenCalls(t *testing.T) {
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	call := func(write string) (found string, code int) {
		t.Helper()
		project := t.TempDir() // each call gets a fresh copy of dbt/
		s := Dbt(c, nil)
		// In place of dbt: tell what parse it found, leave another, fail.
		s.Args = []string{"sh", "-c", `cat target/partial_parse.msgpack 2>/dev/null || echo none; mkdir -p target; echo "$0" >target/partial_parse.msgpack; exit 3`, write}
		args := onHost(t, s, DbtPackagesCache, cache, DbtProject, project)
		out, err := exec.Command(args[0], args[1:]...).Output()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("the command's failure was lost: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out)), exit.ExitCode()
	}
	if found, code := call("parse-1"); found != "none" || code != 3 {
		t.Errorf("first call: found %q, exit %d; want none, 3", found, code)
	}
	if found, code := call("parse-2"); found != "parse-1" || code != 3 {
		t.Errorf("second call: found %q, exit %d; want the first call's parse-1, 3", found, code)
	}
	if found, _ := call("parse-3"); found != "parse-2" {
		t.Errorf("third call: found %q; want parse-2", found)
	}
}

// dbt-prepare parses the project once: a start that finds the manifest of
// the project as it is (its files, packages, dbt's version and settings,
// the manifest itself unchanged since) runs no parse; anything else does,
// a failed parse records nothing, and the password is not part of it.
func TestDbtPrepareParsesOnce(t *testing.T) {
	project, cache, calls := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "calls")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(project, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dbt_project.yml", "name: shop\n")
	write("models/a.sql", "select 1\n")
	parses := 0
	parse := func(what string, code int, env ...string) {
		t.Helper()
		// In place of dbt parse: count, write a manifest of its own, exit with code.
		fake := fmt.Sprintf(`echo x >>%s; mkdir -p target; date +%%s%%N >target/manifest.json; exit %d`, calls, code)
		cmd := exec.Command("sh", "scripts/dbt-deps.sh", "--if-project", "--parse-once", project, cache, "--", "sh", "-c", fake)
		cmd.Env = append(os.Environ(), append([]string{"DBT_SCHEMA=public", "DBT_DB_PASSWORD=one"}, env...)...)
		out, err := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != code {
			t.Fatalf("%s: exit %d (%v), want %d\n%s", what, got, err, code, out)
		}
		content, _ := os.ReadFile(calls)
		n := strings.Count(string(content), "x")
		if ran := n > parses; ran != (what != "skipped") {
			t.Errorf("%s: the parse ran %v\n%s", what, ran, out)
		}
		parses = n
	}
	parse("first start", 0)
	parse("skipped", 0)
	parse("skipped", 0, "DBT_DB_PASSWORD=two") // a new password: the same parse
	write("models/a.sql", "select 2\n")
	parse("a changed model", 0)
	parse("skipped", 0)
	write("target/manifest.json", "the warm dbt's build\n")
	parse("a manifest written since", 0)
	parse("another schema", 0, "DBT_SCHEMA=other")
	write("models/b.sql", "select 3\n")
	parse("a failed parse", 3)
	parse("after a failed parse", 0)
	parse("skipped", 0)
}
