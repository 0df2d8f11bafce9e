package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLongRunningServicesRestart(t *testing.T) {
	for name, s := range stackSpecs(t, mustDefault(t), 2, true) {
		oneShot := name == JobInit || name == JobDbtPrepare || name == HostGateway
		if s.Restart == oneShot {
			t.Errorf("%s: Restart=%v, want %v", name, s.Restart, !oneShot)
		}
		// Inside its wrappers ("SCRIPT ARGS... --"), the supervisor or the args.
		cmd := s.Command()
		for i := slices.Index(cmd, "--"); i >= 0 && strings.HasPrefix(cmd[1], ScriptsDir) && cmd[1] != RestartScript; i = slices.Index(cmd, "--") {
			cmd = cmd[i+1:]
		}
		if !s.Restart {
			if !slices.Equal(cmd, s.Args) {
				t.Errorf("%s: command %q, want its args %q", name, cmd, s.Args)
			}
			continue
		}
		if !IsSupervisor(cmd, name) {
			t.Errorf("%s: command %q is not its supervisor", name, cmd)
		}
		if !slices.Equal(cmd[len(cmd)-len(s.Args):], s.Args) {
			t.Errorf("%s: command %q does not end with its args %q", name, cmd, s.Args)
		}
		want := "TERM"
		if name == HostPostgres {
			want = "INT" // fast shutdown
		}
		if cmd[3] != want {
			t.Errorf("%s: stop signal %s, want %s", name, cmd[3], want)
		}
		if !slices.Contains(s.Mounts, scriptsMount()) {
			t.Errorf("%s: the supervisor script is not mounted: %+v", name, s.Mounts)
		}
	}
}

// runSupervisor starts scripts/restart-always.sh (with the given limits) around
// a shell command, logging each run of it to a file it returns.
func runSupervisor(t *testing.T, quick, tries int, script string) (*exec.Cmd, *logFile, string) {
	t.Helper()
	runs := filepath.Join(t.TempDir(), "runs")
	cmd := exec.Command("sh", "scripts/restart-always.sh", "svc", "TERM", "sh", "-c", "echo run >> "+runs+"; "+script)
	cmd.Env = append(os.Environ(), fmt.Sprintf("RESTART_QUICK=%d", quick), fmt.Sprintf("RESTART_TRIES=%d", tries))
	// A file, not a buffer: the test reads it while the supervisor runs.
	stderr := &logFile{path: filepath.Join(t.TempDir(), "stderr")}
	f, err := os.Create(stderr.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stderr, runs
}

// logFile is the supervisor's stderr as the test sees it.
type logFile struct{ path string }

func (l *logFile) String() string {
	data, _ := os.ReadFile(l.path)
	return string(data)
}

func countRuns(t *testing.T, file string) int {
	data, _ := os.ReadFile(file)
	return strings.Count(string(data), "run\n")
}

// eventually waits until ok, failing after a minute: the tests wait for
// what they need, never a fixed time a loaded machine may miss.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

func TestSupervisorGivesUpOnFailedStarts(t *testing.T) {
	cmd, stderr, runs := runSupervisor(t, 30, 1, "exit 3")
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit code %d (%v), want the command's 3; stderr:\n%s", code, err, stderr)
	}
	if n := countRuns(t, runs); n != 2 {
		t.Errorf("%d runs, want 2 (the first and one restart)", n)
	}
	// The script counts whole seconds: a run of a few milliseconds that
	// crosses a second boundary reads "after 1 s".
	for _, want := range []string{`svc: exited with code 3 after [01] s; starting it again in 1 s`, "giving up"} {
		if !regexp.MustCompile(want).MatchString(stderr.String()) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestSupervisorRestartsAndStopsOnTerm(t *testing.T) {
	// quick=0: every run counts as a good one, so it is always restarted.
	cmd, stderr, runs := runSupervisor(t, 0, 1, "exit 0")
	eventually(t, "a second run", func() bool { return countRuns(t, runs) >= 2 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stopped with %v, want exit 0; stderr:\n%s", err, stderr)
		}
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("supervisor still running 3 s after TERM")
	}
}

func TestSupervisorNeverGivesUpOnAServiceThatRanWell(t *testing.T) {
	// The first run lasts RESTART_QUICK (1 s); the later ones fail at once,
	// more often in a row than RESTART_TRIES (1) allows before a good run.
	ranWell := filepath.Join(t.TempDir(), "ran-well")
	cmd, stderr, runs := runSupervisor(t, 1, 1, `if [ ! -e `+ranWell+` ]; then touch `+ranWell+`; sleep 1.2; fi; exit 4`)
	// Three failed starts in a row after the good run: more than
	// RESTART_TRIES, and still restarted.
	eventually(t, "a fourth run", func() bool { return countRuns(t, runs) >= 4 || strings.Contains(stderr.String(), "giving up") })
	if strings.Contains(stderr.String(), "giving up") {
		t.Fatalf("gave up on a service that had run well; stderr:\n%s", stderr)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("stopped with %v; stderr:\n%s", err, stderr)
	}
}

func TestSupervisorPassesTheStopSignalOn(t *testing.T) {
	dir := t.TempDir()
	stopped, ready := filepath.Join(dir, "stopped"), filepath.Join(dir, "ready")
	cmd, stderr, _ := runSupervisor(t, 30, 5, `trap "echo clean > `+stopped+`; exit 0" TERM; touch `+ready+`; while :; do sleep 0.1; done`)
	// TERM once the service has its trap: sent before, it would stop the
	// shell, and the test would blame the supervisor.
	eventually(t, "the service ready for TERM", func() bool { _, err := os.Stat(ready); return err == nil })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stopped with %v; stderr:\n%s", err, stderr)
	}
	if data, _ := os.ReadFile(stopped); string(data) != "clean\n" {
		t.Errorf("the service did not get the stop signal (file: %q); stderr:\n%s", data, stderr)
	}
	if strings.Contains(stderr.String(), "starting it again") {
		t.Errorf("restarted while stopping:\n%s", stderr)
	}
}
