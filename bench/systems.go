package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"dagger/data-platform/internal/harness"
)

// system is one way to run the stack: the Dagger module or the spec's
// compose file. Both use the same .env, images, host ports and DAGs.
type system interface {
	Name() string
	Wipe() error
	// Start starts the whole stack in the background; Stop stops it and
	// keeps its data.
	Start() error
	Stop()
	// Exited reports, without blocking, an error when the stack's process
	// ended by itself (compose's `up -d` ending is not that).
	Exited() error
	// Ready returns each service's first output and ready line since t0,
	// read from the service's own timestamped output.
	Ready(t0 time.Time) (map[string]serviceTimes, error)
	// DbtTest runs `dbt test` (stack running or not) and returns dbt's own
	// time, where the system tells it apart; DbtBuild builds.
	DbtTest(running bool) (time.Duration, error)
	DbtBuild(running bool) error
	// Synced is what a changed DAG file needs to reach the running stack
	// when a command is typed; Live starts what makes edits reach it with
	// nothing typed, and returns what stops it.
	Synced() error
	Live() (stop func(), err error)
	// Memory is the anonymous memory of the stack's containers now, and
	// how many containers it counted.
	Memory() (uint64, int, error)
}

// --- the Dagger module ----------------------------------------------------

type module struct {
	up *harness.Running
	tl *timeline
	// live is the live command's output while it runs.
	live *harness.Buffer
	// upArgs are more options of `up` (e.g. --remote-workers).
	upArgs []string
}

func (m *module) Name() string { return "Dagger module" }

// benchProject is the module's project of the benchmark.
var benchProject = harness.Project{Dir: ".", Name: project, APIPort: apiPort, PostgresPort: pgPort, FlowerPort: flowerPort,
	LivePort: livePort, ValkeyPort: valkeyPort}

// call runs one dagger call and returns its stdout and progress output.
func call(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	return benchProject.Call(ctx, nil, args...)
}

func (m *module) Wipe() error { _, _, err := call("wipe"); return err }

func (m *module) Start() error {
	m.tl = newTimeline(time.Now())
	var err error
	m.up, err = benchProject.Start(m.tl, nil, append(append([]string{"up", "--workers", "1"}, m.upArgs...), "up")...)
	return err
}

func (m *module) Exited() error {
	if m.up.Exited() {
		return fmt.Errorf("dagger call up up exited:\n%s", harness.Tail(m.tl.String(), 40))
	}
	return nil
}

func (m *module) Stop() { m.up.Stop(time.Minute) }

// keptLine is a line of `dagger call logs`: "2026-11-29T23:04:47Z text".
var keptLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.*)$`)

func (m *module) Ready(t0 time.Time) (map[string]serviceTimes, error) {
	res := map[string]serviceTimes{}
	for _, s := range harness.Services {
		out, _, err := call("logs", "--service", s, "--tail", "20000")
		if err != nil {
			return nil, err
		}
		st, err := readyFrom(s, t0, time.Second, out, keptLine)
		if err != nil {
			return nil, err
		}
		res[s] = st
	}
	// Init is a job, not a service: its lines come in the CLI's progress
	// output, as do the host ports (the gateway's tunnels).
	for _, s := range m.tl.services() {
		if s.name == "airflow-init" || s.name == hostPorts {
			res[s.name] = s
		}
	}
	for _, s := range []string{"airflow-init", hostPorts} {
		if _, ok := res[s]; !ok {
			return nil, fmt.Errorf("%s: no ready line in the progress output of up", s)
		}
	}
	return res, nil
}

func (m *module) DbtTest(running bool) (time.Duration, error) { return m.dbt(running, "test") }
func (m *module) DbtBuild(running bool) error {
	_, err := m.dbt(running, "build")
	return err
}

// dbt beside a running stack runs in its warm dbt, which the call finds
// itself; without one it starts its own PostgreSQL and dbt. dbt's own time
// is its exec's (dbt's, or the warm dbt's client's with the project's sync),
// as the progress output gives it.
func (m *module) dbt(_ bool, cmd string) (time.Duration, error) {
	_, progress, err := call("dbt", "--cmd", cmd)
	if err != nil {
		return 0, err
	}
	own, err := execTime(progress, "dbt "+cmd)
	if err != nil { // through the stack's warm dbt: its client's exec
		own, err = execTime(progress, "dbt-client.py")
	}
	if err == nil && own <= 0 {
		err = fmt.Errorf("dbt %s: its exec took %s by the progress output", cmd, own)
	}
	if err != nil {
		_ = os.WriteFile(filepath.Join(os.TempDir(), "bench-dbt-progress.log"), []byte(progress), 0o644)
	}
	return own, err
}

func (m *module) Synced() error { _, _, err := call("sync"); return err }

// Live runs the live-edit command (cmd/live, built once) beside the stack
// until it watches.
func (m *module) Live() (func(), error) {
	bin := filepath.Join(os.TempDir(), "dataplatform-bench-live")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/live").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/live: %w\n%s", err, out)
	}
	cmd := exec.Command(bin, benchProject.ModuleFlags()...)
	out := &harness.Buffer{}
	m.live = out
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		}
	}
	for t0 := time.Now(); !strings.Contains(out.String(), "watching "); time.Sleep(100 * time.Millisecond) {
		if time.Since(t0) > 5*time.Minute {
			stop()
			return nil, fmt.Errorf("cmd/live does not watch after 5 minutes:\n%s", out.String())
		}
	}
	return stop, nil
}

// Memory: the engine runs the module's containers; every process of the
// project's stack carries DATAPLATFORM_PROJECT=<project> in its env.
func (m *module) Memory() (uint64, int, error) {
	var pids []int
	procs, _ := os.ReadDir("/proc")
	marker := []byte("DATAPLATFORM_PROJECT=" + project + "\x00")
	for _, p := range procs {
		var pid int
		if _, err := fmt.Sscan(p.Name(), &pid); err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && bytes.Contains(env, marker) {
			pids = append(pids, pid)
		}
	}
	return cgroupsMemory(pids)
}

// --- docker compose -------------------------------------------------------

type compose struct {
	up *exec.Cmd
}

// composeWrites are files compose's bind mounts leave in the checkout:
// Airflow writes its default airflow.cfg into config/ (which every module
// stack would then copy), dbt deps a package-lock.yml and a .user.yml into
// dbt/. Removed again unless they were there before the benchmark.
var composeWrites = func() map[string]bool {
	had := map[string]bool{}
	for _, f := range []string{"config/airflow.cfg", "dbt/package-lock.yml", "dbt/.user.yml"} {
		_, err := os.Stat(f)
		had[f] = err == nil
	}
	return had
}()

func removeWrittenCfg() {
	for f, had := range composeWrites {
		if !had {
			_ = os.Remove(f)
		}
	}
}

func (c *compose) Name() string { return "docker compose" }

// composeBin is docker-compose (v1) or the docker CLI's compose plugin.
func composeBin() []string {
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return []string{"docker", "compose"}
}

// composeEnv is more environment for compose's commands (variables of
// .env the shell overrides).
var composeEnv []string

func composeCmd(ctx context.Context, args ...string) *exec.Cmd {
	bin := composeBin()
	all := append(bin[1:], "--project-directory", ".", "-f", "bench/compose/docker-compose.yml")
	if args[0] != "up" {
		// `run dbt`, and `down` of what it left. With the profile, `up`
		// would start the spec's dbt service too (its `dbt debug`), beside
		// dbt-prepare: work the stack does not do, and both would copy the
		// project's packages into dbt/ at once.
		all = append(all, "--profile", "dbt")
	}
	all = append(all, args...)
	cmd := exec.CommandContext(ctx, bin[0], all...)
	// The shell's variables win over .env for compose, as --set does for the module.
	cmd.Env = append(append(os.Environ(), composeEnv...), "COMPOSE_PROJECT_NAME="+composeProject,
		fmt.Sprintf("AIRFLOW_API_PORT=%d", apiPort), fmt.Sprintf("POSTGRES_PORT=%d", pgPort),
		fmt.Sprintf("FLOWER_PORT=%d", flowerPort))
	return cmd
}

func composeRun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := composeCmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, harness.Tail(stderr.String()+stdout.String(), 30))
	}
	return stdout.String(), nil
}

// Wipe removes the stack and its data, and builds the project's image from
// the checkout's Dockerfile (from Docker's cache when it has not changed),
// as a compose user builds before `up`, which never rebuilds by itself.
func (c *compose) Wipe() error {
	_, err := composeRun("down", "-v", "--remove-orphans")
	removeWrittenCfg()
	if err != nil {
		return err
	}
	_, err = composeRun("build", "airflow-apiserver")
	return err
}

// Start runs `up -d`, which itself waits for each service's dependencies to
// be healthy; it runs in the background while the caller polls the API.
func (c *compose) Start() error {
	c.up = composeCmd(context.Background(), "up", "-d", "--scale", "airflow-worker=1")
	var out bytes.Buffer
	c.up.Stdout, c.up.Stderr = &out, &out
	return c.up.Start()
}

func (c *compose) Exited() error { return nil }

func (c *compose) Stop() {
	if c.up != nil {
		_ = c.up.Wait()
	}
	if _, err := composeRun("down"); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	removeWrittenCfg()
}

var composeServices = []string{"postgres", "valkey", "airflow-init", "airflow-apiserver", "airflow-scheduler",
	"airflow-dag-processor", "airflow-triggerer", "airflow-worker"}

// dockerLine is a line of `docker logs -t`: "2026-11-29T23:04:47.123456789Z text".
var dockerLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\S+Z) (.*)$`)

func (c *compose) Ready(t0 time.Time) (map[string]serviceTimes, error) {
	res := map[string]serviceTimes{}
	for _, s := range composeServices {
		id, err := composeContainer(s)
		if err != nil {
			return nil, err
		}
		out, err := exec.Command("docker", "logs", "-t", id).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("docker logs %s: %w\n%s", s, err, out)
		}
		st, err := readyFrom(s, t0, 0, string(out), dockerLine)
		if err != nil {
			return nil, err
		}
		res[s] = st
	}
	return res, nil
}

// composeContainer is the id of a service's container in the bench project.
func composeContainer(service string) (string, error) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+composeProject,
		"--filter", "label=com.docker.compose.service="+service).Output()
	ids := strings.Fields(string(out))
	if err != nil || len(ids) == 0 {
		return "", fmt.Errorf("no container of compose service %s (%v)", service, err)
	}
	return ids[0], nil
}

func (c *compose) DbtTest(running bool) (time.Duration, error) { return 0, c.dbt(running, "test") }
func (c *compose) DbtBuild(running bool) error                 { return c.dbt(running, "build") }

// dbt as the spec runs it: `run --rm dbt ...`; without a running stack,
// run starts PostgreSQL first, and down stops it again.
func (c *compose) dbt(running bool, cmd string) error {
	_, err := composeRun("run", "--rm", "dbt", cmd)
	defer removeWrittenCfg()
	if !running {
		if _, derr := composeRun("down"); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}

// Synced: nothing to do, dags/ is bind-mounted; nothing to run for it either.
func (c *compose) Synced() error         { return nil }
func (c *compose) Live() (func(), error) { return func() {}, nil }

func (c *compose) Memory() (uint64, int, error) {
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+composeProject).Output()
	if err != nil {
		return 0, 0, err
	}
	var pids []int
	for _, id := range strings.Fields(string(out)) {
		top, err := exec.Command("docker", "top", id, "-eo", "pid").Output()
		if err != nil {
			continue // ended meanwhile
		}
		for _, f := range strings.Fields(string(top))[1:] {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return cgroupsMemory(pids)
}

// --- shared ---------------------------------------------------------------

// execTime is how long the exec whose command line holds what ran, as a
// call's plain progress output says: its span ("withExec ...") ends with
// "Container.withExec DONE [3.9s]", and each line of its output carries
// the time since it began ("[3.7s] | ..."). The plain output may print a
// DONE line early, so the longest of these is taken.
func execTime(progress, what string) (time.Duration, error) {
	span, longest := "", time.Duration(0)
	for _, raw := range strings.Split(progress, "\n") {
		m := harness.SpanLine.FindStringSubmatch(ansi.ReplaceAllString(raw, ""))
		if m == nil {
			continue
		}
		if strings.HasPrefix(m[3], "withExec ") && strings.Contains(m[3], what) {
			span = m[1]
		}
		if m[1] != span || span == "" {
			continue
		}
		for _, re := range []*regexp.Regexp{execDone, execOutput} {
			if d := re.FindStringSubmatch(m[3]); d != nil {
				if t, err := time.ParseDuration(d[1]); err == nil {
					longest = max(longest, t)
				}
			}
		}
	}
	if longest == 0 {
		return 0, fmt.Errorf("no exec of %q with a time in the progress output", what)
	}
	return longest, nil
}

var (
	execDone   = regexp.MustCompile(`^Container\.withExec DONE \[([0-9hms.]+)\]$`)
	execOutput = regexp.MustCompile(`^\[([0-9hms.]+)\] \| `)
)

// ownStamp is the time a line of Airflow's gives itself, at its start
// (structlog's "2026-12-06T18:30:37.035533Z [info ...").
var ownStamp = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) `)

// readyFrom finds, in a service's timestamped output, its first line and
// its ready line at or after t0. Stamps of a coarse precision (the kept
// logs' whole seconds) count from t0 truncated alike, so the two errors
// cancel out on average; a line's own, finer stamp in the same second is
// taken instead, from t0 itself. A missing ready line is an error: a
// figure never silently disappears.
func readyFrom(service string, t0 time.Time, precision time.Duration, output string, line *regexp.Regexp) (serviceTimes, error) {
	var ready *regexp.Regexp
	for _, r := range readyLines {
		if strings.HasPrefix(service, r.service) {
			ready = r.line
		}
	}
	if ready == nil {
		return serviceTimes{}, fmt.Errorf("%s: no ready line known", service)
	}
	st := serviceTimes{name: service, first: -1, ready: -1}
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		origin := t0.Truncate(precision)
		if err != nil || at.Before(origin) {
			continue
		}
		since := at.Sub(origin)
		if own := ownStamp.FindStringSubmatch(m[2]); own != nil && precision > 0 {
			if fine, err := time.Parse(time.RFC3339Nano, own[1]); err == nil && fine.Truncate(precision).Equal(at) {
				if fine.Before(t0) {
					continue // in the start's second, but before it
				}
				since = fine.Sub(t0)
			}
		}
		if st.first < 0 {
			st.first = since
		}
		if ready.MatchString(m[2]) {
			st.ready = since
			return st, nil
		}
	}
	return serviceTimes{}, fmt.Errorf("%s: no ready line (%s) in its output since the start", service, ready)
}

// cgroupsMemory sums, once per memory cgroup the processes are in, the
// anonymous memory its processes hold (not the file cache): summing RSS
// instead would count the pages forked workers share many times over.
func cgroupsMemory(pids []int) (uint64, int, error) {
	groups := map[string]bool{}
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			// "4:memory:/docker/ID" (cgroup v1) or "0::/..." (v2)
			parts := strings.SplitN(l, ":", 3)
			if len(parts) == 3 && (slices.Contains(strings.Split(parts[1], ","), "memory") || parts[0] == "0" && parts[1] == "") {
				groups[parts[1]+":"+parts[2]] = true
			}
		}
	}
	var sum uint64
	n := 0
	v1 := false
	for g := range groups {
		if strings.HasPrefix(g, "memory:") {
			v1 = true
		}
	}
	for g := range groups {
		path, isV1 := strings.CutPrefix(g, "memory:")
		switch {
		case isV1:
			sum += statValue("/sys/fs/cgroup/memory"+path+"/memory.stat", "total_rss")
			n++
		case !v1:
			sum += statValue("/sys/fs/cgroup"+strings.TrimPrefix(g, ":")+"/memory.stat", "anon")
			n++
		}
	}
	if sum == 0 {
		return 0, n, fmt.Errorf("no memory found for %d processes in %d cgroups", len(pids), n)
	}
	return sum, n, nil
}
