package pipeline

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// `dagger call dbt` beside a running stack goes through its warm dbt (its
// address from the run volume): the project's dbt/ synced into the stack's
// dbt folder first, dbt's target/ out where dbt-target takes it; with no
// warm dbt, a dbt of its own.
func TestDbtCommandGoesThroughTheWarmDbt(t *testing.T) {
	c := mustDefault(t)
	if cold := DbtCommand(c, []string{"test"}); !slices.Equal(cold.Args, []string{"dbt", "test"}) || cold.Output != DbtProject+"/target" {
		t.Errorf("with no warm dbt: %v, output %q", cold.Args, cold.Output)
	}
	c.dbtServer = "10.87.0.7"
	warm := DbtCommand(c, []string{"test", "--select", "x"})
	if got := strings.Join(warm.Args, " "); !strings.HasPrefix(got, "python3 "+dbtClientScript+" http://10.87.0.7:8585 "+DbtProject+" "+warm.Output+" -- test --select x") {
		t.Errorf("warm: %s", got)
	}
	if len(warm.Needs) != 0 || len(warm.SecretEnv) != 0 || warm.User != c.AirflowUser() {
		t.Errorf("warm: it needs %v, has secrets %v, runs as %q: the warm dbt holds the credentials", warm.Needs, warm.SecretEnv, warm.User)
	}
	if !slices.ContainsFunc(warm.Prepare, func(step []string) bool {
		return step[1] == syncFoldersScript && slices.Contains(step, c.LiveMount("dbt"))
	}) {
		t.Errorf("warm: the project's dbt/ is not synced into the stack's first: %v", warm.Prepare)
	}
}

func TestWarmDbtOnlyOfARunningStack(t *testing.T) {
	held, err := ParseHolders("postgres stack 10.87.0.2\nvalkey stack 10.87.0.3\ndbt-server stack 10.87.0.4\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := UseStack.WarmDbt(held); got != "10.87.0.4" {
		t.Errorf("beside a stack: %q", got)
	}
	for _, b := range []Beside{DataUnused, RefuseStack, RefuseAny} {
		if got := b.WarmDbt(held); got != "" {
			t.Errorf("%v: %q", b, got)
		}
	}
	free, err := ParseHolders("postgres free\nvalkey free\ndbt-server free\n")
	if err != nil || UseStack.WarmDbt(free) != "" {
		t.Errorf("no stack: %v %v", free, err)
	}
}

// dbt-client.py against a stand-in of the warm dbt's protocol (the real one
// runs in the e2e tests): dbt's lines on stdout, its exit status, target/
// copied out; a first line says where dbt ran.
func TestDbtClientBehavesAsDbt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/invoke" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "06:00:00  Running with dbt=1.9.11\n06:00:01  Done. PASS=1 WARN=0 ERROR=1\ndbt-server: exit 1\n")
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	dir := t.TempDir()
	project, out := filepath.Join(dir, "dbt"), filepath.Join(dir, "out")
	if err := os.MkdirAll(filepath.Join(project, "target"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "target/run_results.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "scripts/dbt-client.py", "http://"+l.Addr().String(), project, out, "--", "test")
	stdout, err := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d (%v), want dbt's 1", code, err)
	}
	want := "dbt-server: `dbt test` runs in the stack's warm dbt (http://" + l.Addr().String() + ")\n06:00:00  Running with dbt=1.9.11\n06:00:01  Done. PASS=1 WARN=0 ERROR=1\n"
	if string(stdout) != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	if _, err := os.Stat(filepath.Join(out, "run_results.json")); err != nil {
		t.Errorf("target/ not copied out: %v", err)
	}
}
