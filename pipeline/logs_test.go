package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// A long-running service's output (its own and its supervisor's, stdout and
// stderr) still reaches the container's output and is also kept in the logs
// volume, capped by rotation; `logs` prints the end of it. The real command
// lines run here, with the volume in a temporary folder.
func TestServiceOutputKeptAndRead(t *testing.T) {
	dir := t.TempDir()
	svc := keepingOutput(mustDefault(t), Spec{Name: "airflow-scheduler", Restart: true, StopSignal: "TERM",
		Args: []string{"sh", "-c", "for i in 1 2 3 4 5; do echo line-$i; done; echo to-stderr >&2"}})
	if v := svc.Volumes[len(svc.Volumes)-1]; v.Path != ServiceLogs || v.Key != "dataplatform-dataplatform-service-logs" || v.Exclusive {
		t.Errorf("logs volume %+v", v)
	}
	// rotate once, after 150 bytes
	cmd := onHost(t, svc, ServiceLogs, dir, itoa(serviceLogMax), "150")
	run := exec.Command(cmd[0], cmd[1:]...)
	run.Env = append(os.Environ(), "RESTART_TRIES=0") // one run, then the supervisor gives up
	out, _ := run.CombinedOutput()
	for _, want := range []string{"line-1", "line-5", "to-stderr", "giving up"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the container's output lacks %q:\n%s", want, out)
		}
	}
	kept, _ := os.ReadFile(filepath.Join(dir, "airflow-scheduler.log"))
	rotated, _ := os.ReadFile(filepath.Join(dir, "airflow-scheduler.log.1"))
	all := string(rotated) + string(kept)
	for _, want := range []string{"line-1", "line-5", "to-stderr", "giving up"} {
		if !strings.Contains(all, want) {
			t.Errorf("the kept log lacks %q:\n%s", want, all)
		}
	}
	stamped := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ line-5$`)
	for _, line := range strings.Split(strings.TrimSpace(all), "\n") {
		if strings.Contains(line, "line-5") && !stamped.MatchString(line) {
			t.Errorf("a kept line without its UTC time: %q", line)
		}
	}
	if len(rotated) == 0 || len(kept) > 150 {
		t.Errorf("no rotation past the cap: %d bytes rotated, %d kept", len(rotated), len(kept))
	}

	def := Logs(mustDefault(t), "airflow-scheduler", 2)
	if v := def.Volumes[0]; v.Path != ServiceLogs || def.Image != "postgres:16" {
		t.Errorf("logs reads %+v with %s", v, def.Image)
	}
	read := onHost(t, def, ServiceLogs, dir)
	last, err := exec.Command(read[0], read[1:]...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(last)), "\n"); len(lines) != 2 || !strings.Contains(all, lines[1]) {
		t.Errorf("--tail 2 gave %q", last)
	}
	never := Logs(mustDefault(t), "airflow-worker-7", 10)
	missing := onHost(t, never, ServiceLogs, dir)
	msg, err := exec.Command(missing[0], missing[1:]...).CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "no output of airflow-worker-7 kept in project dataplatform") {
		t.Errorf("a service that never ran: %v %s", err, msg)
	}
	for _, bad := range []string{"gateway", "airflow-worker-0", "../etc/passwd", "postgres; rm"} {
		if err := CheckLogs(bad, 10); err == nil || !strings.Contains(err.Error(), "--service: ") {
			t.Errorf("service %q: %v", bad, err)
		}
	}
	if err := CheckLogs("postgres", 0); err == nil || !strings.Contains(err.Error(), "--tail: ") {
		t.Errorf("tail 0: %v", err)
	}
}

// A quiet service's line is kept (and shown) when it is printed, not once
// enough output has piled up to fill awk's input buffer.
func TestQuietServiceLineKeptAtOnce(t *testing.T) {
	dir := t.TempDir()
	svc := keepingOutput(mustDefault(t), Spec{Name: "valkey", Restart: true, StopSignal: "TERM",
		Args: []string{"sh", "-c", "echo Ready to accept connections; sleep 5"}})
	cmd := onHost(t, svc, ServiceLogs, dir)
	run := exec.Command(cmd[0], cmd[1:]...)
	run.Env = append(os.Environ(), "RESTART_TRIES=0")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = run.Process.Kill(); _ = run.Wait() }()
	var kept []byte
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if kept, _ = os.ReadFile(filepath.Join(dir, "valkey.log")); strings.Contains(string(kept), "Ready to accept") {
			return
		}
	}
	t.Fatalf("the service's one line was not kept within 3 s while it ran; kept: %q", kept)
}

// Every long-running service of a stack keeps its output; one-shot jobs and
// the gateway do not.
func TestEveryLongRunningServiceKeepsItsOutput(t *testing.T) {
	for name, s := range stackSpecs(t, mustDefault(t), 2, true) {
		keeps := s.KeepLog == ServiceLogs+"/"+name+".log"
		if keeps != s.Restart || s.KeepLog != "" && !keeps {
			t.Errorf("%s: keeps its output in %q, long-running %v", name, s.KeepLog, s.Restart)
		}
		if keeps && s.Command()[1] != KeepOutputScript {
			t.Errorf("%s: its output is not kept from the container's start: %q", name, s.Command())
		}
	}
}

// The shell is the CLI's container: same settings and credentials, bash.
func TestShellIsTheCLIsContainer(t *testing.T) {
	c := mustDefault(t)
	sh, cli := Shell(c), CLI(c, []string{"version"})
	if strings.Join(sh.Args, " ") != "bash" || !slices.Equal(sh.Credentials(), cli.Credentials()) || sh.Env["AIRFLOW__CORE__EXECUTOR"] != "CeleryExecutor" {
		t.Errorf("shell: args %v, credentials %v (CLI %v)", sh.Args, sh.Credentials(), cli.Credentials())
	}
	if sh.Env["AIRFLOW__CORE__FERNET_KEY_CMD"] == "" {
		t.Error("the shell's processes cannot read the generated Fernet key")
	}
}

// sync makes a live folder exactly the project's: new and changed files in,
// removed ones out, and bytecode too (a stale .pyc could stand for a
// changed file), never emptied in between; the real script runs here on
// temporary folders.
func TestSyncMakesLiveFoldersExactlyTheProjects(t *testing.T) {
	dir := t.TempDir()
	src, live := filepath.Join(dir, "project"), filepath.Join(dir, "live")
	files := map[string]string{
		"project/dags/a.py": "new a", "project/dags/sub/b.py": "b",
		"live/dags/a.py": "old a", "live/dags/gone.py": "deleted in the project", "live/dags/old/c.py": "c",
		"live/dags/__pycache__/a.cpython-312.pyc": "bytecode",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := Sync(mustDefault(t))
	s.Args = []string{"echo", "synced"}
	cmd := onHost(t, s, projectCopy, src, AirflowHome, live)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "synced" {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{"dags/a.py": "new a", "dags/sub/b.py": "b"}
	got := map[string]string{}
	_ = filepath.WalkDir(live, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(live, p)
			got[rel] = string(data)
		}
		return nil
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("live folders after sync:\n got %v\nwant %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(live, "dags/old")); err == nil {
		t.Error("an emptied folder was left behind")
	}
	for _, s := range []Spec{Sync(mustDefault(t)), Init(mustDefault(t))} {
		syncs := slices.ContainsFunc(s.Prepare, func(step []string) bool { return step[1] == syncFoldersScript })
		if !syncs || !strings.Contains(strings.Join(s.AsRoot, " "), "--tree /opt/airflow/dags") {
			t.Errorf("%s does not sync the live folders as AIRFLOW_UID", s.Name)
		}
	}
}
