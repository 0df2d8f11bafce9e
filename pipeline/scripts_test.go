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
	"syscall"
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

// A connection to the gateway before its service listens is held until
// the service answers, not closed (see init/forward.sh: Dagger's tunnel
// stops forwarding a port that wrote into a closed connection).
func TestForwardHoldsAConnectionUntilItsServiceListens(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		t.Fatal("socat is needed (the gateway's relay): ", err)
	}
	listen, upstream := freePort(t), freePort(t)
	fwd := exec.Command("sh", "scripts/forward.sh", fmt.Sprintf("%d:127.0.0.1:%d", listen, upstream))
	fwd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its socat too, at the end
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-fwd.Process.Pid, syscall.SIGKILL); _ = fwd.Wait() }()
	var conn net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", listen)); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("forward.sh does not listen: ", err)
		}
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
	go func() {
		c, err := svc.Accept()
		if err == nil {
			_, _ = io.Copy(c, c) // echo
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := bufio.NewReader(conn).ReadString('\n')
	if got != "ping\n" {
		t.Errorf("the service's answer through forward.sh: %q (%v); the connection was not held for it", got, err)
	}
}

// dbt's parse of the project is kept between calls (init/dbt-deps.sh): a
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
