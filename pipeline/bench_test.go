package pipeline

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// The timing wrapper really measures: run it with bash on this machine.
func TestTimedMeasures(t *testing.T) {
	re := regexp.MustCompile(`(?m)^(\w+)=(\d+)ms$`)
	run := func(args []string) (string, int) {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		m := re.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no timing in %q", out)
		}
		ms, _ := strconv.Atoi(m[2])
		return m[1], ms
	}
	if name, ms := run(Timed("sleep", "sleep 0.3", "")); name != "sleep" || ms < 300 || ms > 3000 {
		t.Errorf("plain: %s=%dms", name, ms)
	}
	// Ready after ~0.4 s although the command would run for a minute.
	flag := t.TempDir() + "/ready"
	probe := `test -f ` + flag + ` || { sleep 0.4; touch ` + flag + `; false; }`
	if name, ms := run(Timed("ready", "sleep 60", probe)); name != "ready" || ms < 400 || ms > 5000 {
		t.Errorf("until ready: %s=%dms", name, ms)
	}
	// A command that dies before it is ready fails the exec.
	if err := exec.Command("bash", Timed("dies", "false", "false")[1:]...).Run(); err == nil {
		t.Error("a command that exited before being ready did not fail")
	}
}

func TestBaselineDefinitions(t *testing.T) {
	c := mustDefault(t)
	if pg := BaselinePostgres(c); pg.Volumes != nil || pg.Env["PGDATA"] != "/tmp/pgdata" {
		t.Errorf("baseline postgres must not touch the project's data: %+v %v", pg.Volumes, pg.Env["PGDATA"])
	}
	if api := BaselineAPIServer(c); api.Ports != nil || api.Image != c.AirflowImage {
		t.Errorf("baseline api-server %+v", api)
	}
}
