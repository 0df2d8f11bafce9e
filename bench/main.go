// Command bench measures the Dagger module side by side with the spec's
// docker compose stack (bench/compose), on the same images, .env, host ports
// and machine, alternating the two, and prints one table: each figure the
// median of several runs with its spread, module/compose ratios, the ratio
// to the stack's critical path (from the services' own lines) and to
// Dagger's floor (an empty call). It also draws the start-up timeline
// (bench/startup.svg). Run from the repository root, as root on Linux, with
// an engine and dockerd (docs/performance.md):
//
//	go run ./bench [-runs 3]
//	go run ./bench -remote [-runs 3]   # 1 local worker, then 1 local + 2 of a worker node
//	go run ./bench -dbt-loop [-runs 3] # save a model → built and tested; dbt test typed
//	go run ./bench -packages [-runs 3] # up with 5 packages: requirements.txt, built image, pip at start
//
// It uses its own projects (module: bench, compose: benchcompose) and wipes
// their data first; its 50-task DAG (bench/dags) is in dags/ only while it
// runs. It is not part of the test suite.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/restapi"
)

const (
	apiPort        = 28080
	pgPort         = 25432
	flowerPort     = 25555
	livePort       = 28090
	valkeyPort     = 26379 // with --remote-workers
	project        = "bench"
	composeProject = "benchcompose"
	chartPath      = "bench/startup.svg"
)

var apiBase = fmt.Sprintf("http://localhost:%d", apiPort)

// samples are one measure's figures over the runs, by system.
type samples map[string][]float64

var (
	figures = map[string]samples{}
	order   []string // measures in the order first seen
	units   = map[string]string{}
)

// record adds one figure of a system to a measure.
func record(measure, unit, sys string, v float64) {
	if figures[measure] == nil {
		figures[measure] = samples{}
		order = append(order, measure)
		units[measure] = unit
	}
	figures[measure][sys] = append(figures[measure][sys], v)
	fmt.Fprintf(os.Stderr, "bench: %-40s %-14s %8.2f %s\n", measure, sys, v, unit)
}

func main() {
	runs := flag.Int("runs", 3, "runs of each measure per system (the median is reported)")
	remote := flag.Bool("remote", false, "instead, the 50-task DAG's throughput with a worker node joined (module only)")
	dbt := flag.Bool("dbt-loop", false, "instead, the dbt loop: a saved model until it is built and tested, a typed dbt test")
	packages := flag.Bool("packages", false, "instead, a start with the project's own packages (5 in requirements.txt)")
	flag.Parse()
	if *dbt {
		must(preflight())
		dbtLoop(*runs)
		return
	}
	if *packages {
		must(preflight())
		packagesBench(*runs)
		return
	}
	if *remote {
		must(addBenchDAG())
		remoteWorkers(*runs)
		removeBenchDAG()
		return
	}
	must(preflight())
	must(addBenchDAG())
	start := time.Now()
	mod, cmp := &module{}, &compose{}
	systems := []system{mod, cmp}
	startups := map[string][]upResult{}

	for r := 1; r <= *runs; r++ {
		for _, s := range systems {
			fmt.Fprintf(os.Stderr, "bench: run %d/%d, %s\n", r, *runs, s.Name())
			must(s.Wipe())
			cold := up(s, func() { underLoad(s) })
			recordUp("cold up", s, cold)
			dbtTest(s, false)
			warm := up(s, nil)
			recordUp("warm up", s, warm)
			startups[s.Name()] = append(startups[s.Name()], warm)
		}
	}

	// Dagger's floor, on the same engine.
	_, _, err := call("config") // once untimed: a changed checkout rebuilds the module first
	must(err)
	for i := 0; i < *runs; i++ {
		timed("empty dagger call (config)", mod, func() error { _, _, err := call("config"); return err })
	}
	// The floor of a call Dagger cannot answer from its cache: the same
	// function on a .env it has not seen (a comment with a new number).
	for i := 0; i < *runs; i++ {
		dir, err := unseenEnv()
		must(err)
		timed(uncachedEmpty, mod, func() error { _, _, err := call("config", "--source", dir); return err })
		_ = os.RemoveAll(dir)
	}

	report(*runs, startups, start)
	must(drawStartups(startups))
	removeBenchDAG()
}

// uncachedEmpty is Dagger's floor for a function it runs.
const uncachedEmpty = "  uncached empty call (config, .env changed)"

// unseenEnv is a folder with the project's .env and a comment no earlier
// call has seen.
func unseenEnv() (string, error) {
	dotenv, err := os.ReadFile(".env")
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	dir, err := os.MkdirTemp("", "bench-env-")
	if err != nil {
		return "", err
	}
	dotenv = append(dotenv, fmt.Sprintf("\n# bench %d\n", time.Now().UnixNano())...)
	return dir, os.WriteFile(filepath.Join(dir, ".env"), dotenv, 0o600)
}

// benchDAG is the benchmark's 50-task DAG, in dags/ while it runs.
const benchDAG = "bench_fanout.py"

func addBenchDAG() error {
	data, err := os.ReadFile(filepath.Join("bench", "dags", benchDAG))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join("dags", benchDAG), data, 0o644)
}

func removeBenchDAG() { _ = os.Remove(filepath.Join("dags", benchDAG)) }

// dbtTest times `dbt test` and records dbt's own time where the system
// tells it apart.
func dbtTest(s system, running bool) {
	measure := map[bool]string{true: "dbt test, stack running", false: "dbt test, no stack running"}[running]
	t0 := time.Now()
	own, err := s.DbtTest(running)
	must(err)
	record(measure, "s", s.Name(), time.Since(t0).Seconds())
	if s.Name() == (&module{}).Name() {
		record(map[bool]string{true: warmOwn, false: freshOwn}[running], "s", s.Name(), own.Seconds())
	}
}

// dbt's own time, as the module's progress output gives it: in the stack's
// warm process, and in a dbt process of its own.
const (
	warmOwn  = "  dbt's own time (its exec), stack running"
	freshOwn = "  dbt's own time (its exec), no stack running"
)

// underLoad runs, on a freshly started stack, what needs it running: the
// example ELT (data for dbt), dbt, the 50-task DAG with memory sampled
// while it runs, and a new DAG file until the API lists it.
func underLoad(s system) {
	token, err := restapi.Token(apiBase, "airflow", "airflow")
	must(err)
	_, err = restapi.RunDAG(apiBase, token, "elt_shop_orders", nil, 15*time.Minute)
	must(err)
	must(s.DbtBuild(true))
	dbtTest(s, true)

	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		for {
			if m, _, err := s.Memory(); err == nil && m > max {
				max = m
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	run, err := restapi.RunDAG(apiBase, token, "bench_fanout", nil, 15*time.Minute)
	close(stop)
	must(err)
	p := <-peak
	if p == 0 {
		_, n, merr := s.Memory()
		must(fmt.Errorf("%s: no memory figure while bench_fanout ran (%d cgroups; %v)", s.Name(), n, merr))
	}
	record("peak memory, 50-task DAG running", "GB", s.Name(), float64(p)/(1<<30))
	record("throughput, 50-task DAG, 1 worker", "tasks/min", s.Name(), 50/run.EndDate.Sub(run.StartDate).Minutes())

	editToVisible(s, token)
}

// editToVisible times a new DAG file from its write until the REST API
// lists it, with nothing typed: the module's live-edit command runs (it
// sends the save and asks Airflow to parse it), compose's dags/ is a bind
// mount. Then, for the module, `dagger call sync` after one DAG file
// changed, until it returns (it returns with Airflow's verdict).
func editToVisible(s system, token string) {
	stopLive, err := s.Live()
	must(err)
	defer stopLive()
	id := fmt.Sprintf("bench_live_%d", time.Now().UnixNano())
	file := filepath.Join("dags", id+".py")
	must(os.WriteFile(file, harness.DAGFile(id, "v1"), 0o644))
	t0 := time.Now()
	for restapi.Do("GET", apiBase+"/api/v2/dags/"+id, token, nil, nil) != nil {
		if time.Since(t0) > 5*time.Minute {
			must(fmt.Errorf("%s: DAG %s not visible 5 minutes after its file was written", s.Name(), id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	record("edit-to-visible, new DAG file, nothing typed", "s", s.Name(), time.Since(t0).Seconds())
	stopLive()
	if s.Name() == (&module{}).Name() {
		must(os.WriteFile(file, harness.DAGFile(id, "v2"), 0o644))
		timed("  dagger call sync, one DAG file changed", s, s.Synced)
	}
	must(os.Remove(file))
	must(s.Synced())
}

// timed records the wall time of f, which must succeed.
func timed(measure string, s system, f func() error) {
	t0 := time.Now()
	must(f())
	record(measure, "s", s.Name(), time.Since(t0).Seconds())
}

// upResult is one start: until the API reported every component healthy
// and every worker said ready, and each service's own times.
type upResult struct {
	total    time.Duration
	services map[string]serviceTimes
}

// components of the api-server's health report.
var components = []string{"metadatabase", "scheduler", "triggerer", "dag_processor"}

// up starts a system, polls the API's health every 100 ms, reads each
// service's times from its own output, runs f while the stack is up, and
// stops it. The total ends at the poll that saw all healthy (or at the
// worker's ready line if that came later).
func up(s system, f func()) upResult {
	// A stack left running (an interrupted benchmark's) would answer for
	// this one on the same port.
	if restapi.Do("GET", apiBase+"/api/v2/monitor/health", "", nil, nil) == nil {
		must(fmt.Errorf("%s: something already answers on %s before up: stop it first (docker-compose -p %s down, or the stray dagger call)",
			s.Name(), apiBase, composeProject))
	}
	t0 := time.Now()
	must(s.Start())
	var healthy time.Duration
	for healthy == 0 {
		must(s.Exited())
		if time.Since(t0) > 15*time.Minute {
			s.Stop()
			must(fmt.Errorf("%s: stack not healthy after 15 minutes", s.Name()))
		}
		var health map[string]struct{ Status string }
		if restapi.Do("GET", apiBase+"/api/v2/monitor/health", "", nil, &health) == nil &&
			slices.IndexFunc(components, func(c string) bool { return health[c].Status != "healthy" }) < 0 {
			healthy = time.Since(t0)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := upResult{total: healthy}
	// The worker may say ready after the API is healthy (compose); wait for it.
	deadline := time.Now().Add(5 * time.Minute)
	var err error
	for {
		res.services, err = s.Ready(t0)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		s.Stop()
		must(fmt.Errorf("%s: %w", s.Name(), err))
	}
	for name, st := range res.services {
		if strings.HasPrefix(name, "airflow-worker") {
			res.total = max(res.total, st.ready)
		}
	}
	if f != nil {
		f()
	}
	s.Stop()
	return res
}

func recordUp(name string, s system, u upResult) {
	record(name+", until all healthy", "s", s.Name(), u.total.Seconds())
}

// stats: median, minimum and maximum.
func stats(v []float64) (med, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func cell(v []float64, unit string) string {
	if len(v) == 0 {
		return "—"
	}
	med, lo, hi := stats(v)
	return fmt.Sprintf("%.2f %s (%.2f–%.2f)", med, unit, lo, hi)
}

func median(v []float64) float64 { m, _, _ := stats(v); return m }

// report prints the table; a missing figure fails the benchmark.
func report(runs int, startups map[string][]upResult, start time.Time) {
	mod, cmp := (&module{}).Name(), (&compose{}).Name()
	need := map[string][]string{
		"cold up, until all healthy": {mod, cmp}, "warm up, until all healthy": {mod, cmp},
		"dbt test, stack running": {mod, cmp}, "dbt test, no stack running": {mod, cmp},
		"peak memory, 50-task DAG running": {mod, cmp}, "throughput, 50-task DAG, 1 worker": {mod, cmp},
		"edit-to-visible, new DAG file, nothing typed": {mod, cmp}, "empty dagger call (config)": {mod}, uncachedEmpty: {mod},
		warmOwn: {mod}, freshOwn: {mod}, "  dagger call sync, one DAG file changed": {mod},
	}
	requireFigures(runs, need)
	path, critical, err := criticalPath(startups[mod])
	must(err)

	printTable(runs, start)

	warmMod, warmCmp := median(figures["warm up, until all healthy"][mod]), median(figures["warm up, until all healthy"][cmp])
	empty := median(figures["empty dagger call (config)"][mod])
	dbtOwn := median(figures[warmOwn][mod])
	dbtOverhead := median(figures["dbt test, stack running"][mod]) - dbtOwn
	memMod, memCmp := median(figures["peak memory, 50-task DAG running"][mod]), median(figures["peak memory, 50-task DAG running"][cmp])
	edit, editCmp := median(figures["edit-to-visible, new DAG file, nothing typed"][mod]), median(figures["edit-to-visible, new DAG file, nothing typed"][cmp])
	syncTime := median(figures["  dagger call sync, one DAG file changed"][mod])

	fmt.Println()
	fmt.Println("| target (module) | figure | verdict |")
	fmt.Println("|---|---|---|")
	verdict("warm up ≤ 1.0× compose", fmt.Sprintf("%.2f×", warmMod/warmCmp), warmMod <= warmCmp,
		fmt.Sprintf("%.1f s", warmMod-warmCmp))
	verdict("warm up ≤ 1.5× the critical path", fmt.Sprintf("%.2f× (critical path %.1f s: %s)", warmMod/critical.Seconds(), critical.Seconds(), path),
		warmMod <= 1.5*critical.Seconds(), fmt.Sprintf("%.1f s", warmMod-1.5*critical.Seconds()))
	verdict("dbt call minus dbt's own time ≤ 2× the empty call", fmt.Sprintf("%.2f s − %.2f s = %.2f s = %.1f× %.2f s (an uncached empty call: %.2f s)",
		median(figures["dbt test, stack running"][mod]), dbtOwn, dbtOverhead, dbtOverhead/empty, empty, median(figures[uncachedEmpty][mod])),
		dbtOverhead <= 2*empty, fmt.Sprintf("%.2f s", dbtOverhead-2*empty))
	verdict("peak memory ≤ compose's", fmt.Sprintf("%.2f GB vs %.2f GB", memMod, memCmp), memMod <= memCmp,
		fmt.Sprintf("%.2f GB", memMod-memCmp))
	verdict("edit-to-visible ≤ compose's, nothing typed", fmt.Sprintf("%.2f s vs %.2f s", edit, editCmp), edit <= editCmp,
		fmt.Sprintf("%.2f s", edit-editCmp))
	verdict("edit-to-visible ≤ 5 s", fmt.Sprintf("%.2f s", edit), edit <= 5, fmt.Sprintf("%.2f s", edit-5))
	verdict("dagger call sync ≤ 3 s", fmt.Sprintf("%.2f s", syncTime), syncTime <= 3, fmt.Sprintf("%.2f s", syncTime-3))
}

// requireFigures fails the benchmark when a measure lacks a run.
func requireFigures(runs int, need map[string][]string) {
	for m, syss := range need {
		for _, sys := range syss {
			if len(figures[m][sys]) < runs {
				must(fmt.Errorf("missing figure: %s of %s has %d of %d runs", m, sys, len(figures[m][sys]), runs))
			}
		}
	}
}

// printTable prints every measure: median and spread by system, and the
// ratio of the medians.
func printTable(runs int, start time.Time) {
	mod, cmp := (&module{}).Name(), (&compose{}).Name()
	fmt.Printf("\nBenchmark %s on %d cores, %.0f GB memory (%s, %s), %d runs each, alternating; %s in all\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), float64(totalMemory())/(1<<30), runtime.GOOS,
		dockerVersion(), runs, time.Since(start).Round(time.Second))
	fmt.Println("| measure | Dagger module | docker compose | module / compose |")
	fmt.Println("|---|---|---|---|")
	for _, m := range order {
		f := figures[m]
		ratio := "—"
		if len(f[mod]) > 0 && len(f[cmp]) > 0 {
			ratio = fmt.Sprintf("%.2f", median(f[mod])/median(f[cmp]))
		}
		fmt.Printf("| %s | %s | %s | %s |\n", m, cell(f[mod], units[m]), cell(f[cmp], units[m]), ratio)
	}
}

// verdict prints one target's line: met, or missed by how much.
func verdict(name, figure string, ok bool, by string) {
	v := "met"
	if !ok {
		v = "MISSED by " + by
	}
	fmt.Printf("| %s | %s | %s |\n", name, figure, v)
}

// drawStartups draws, for each system, the warm start whose total is the
// median one.
func drawStartups(startups map[string][]upResult) error {
	var lanes []chartLane
	for _, sys := range []string{(&module{}).Name(), (&compose{}).Name()} {
		ups := slices.Clone(startups[sys])
		slices.SortFunc(ups, func(a, b upResult) int { return int(a.total - b.total) })
		u := ups[len(ups)/2]
		lane := chartLane{System: sys, Healthy: u.total.Seconds()}
		for _, st := range u.services {
			name := strings.TrimSuffix(st.name, "-1") // airflow-worker-1 is compose's airflow-worker
			lane.Bars = append(lane.Bars, chartBar{Service: name, First: max(st.first.Seconds(), 0), Ready: st.ready.Seconds()})
		}
		lanes = append(lanes, lane)
	}
	if err := writeChart(chartPath, "Warm start, median run: each service from its first output to its ready line", lanes); err != nil {
		return err
	}
	fmt.Printf("\nStart-up timeline: %s\n", chartPath)
	return nil
}

func preflight() error {
	if _, err := exec.LookPath("dagger"); err != nil {
		return fmt.Errorf("no dagger CLI on PATH")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("no Docker daemon answers (on our machines: sudo bash ci/docker-bootstrap): %s", out)
	}
	if _, err := composeRun("config", "-q"); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the memory figures read every container's cgroup and environment")
	}
	return nil
}

func dockerVersion() string {
	out, _ := exec.Command("docker", "info", "--format", "dockerd {{.ServerVersion}}").Output()
	v, _ := exec.Command(composeBin()[0], "version", "--short").Output()
	return strings.TrimSpace(string(out)) + ", compose " + strings.TrimSpace(string(v))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		removeBenchDAG()
		restoreProjectFiles()
		os.Exit(1)
	}
}

// statValue reads "key value" from a cgroup memory.stat file.
func statValue(path, key string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

func totalMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// criticalPath is what a start cannot do without, from the services' own
// lines in the median warm start: PostgreSQL from its first line to ready,
// init from its first line to done (the migration), the api-server from its
// first line to ready; each as long as it took in the real start.
func criticalPath(warm []upResult) (string, time.Duration, error) {
	if len(warm) == 0 {
		return "", 0, fmt.Errorf("no warm start to read the critical path from")
	}
	ups := slices.Clone(warm)
	slices.SortFunc(ups, func(a, b upResult) int { return int(a.total - b.total) })
	u := ups[len(ups)/2]
	var parts []string
	var sum time.Duration
	for _, s := range []struct{ name, what string }{{"postgres", "PostgreSQL ready"}, {"airflow-init", "init"}, {"airflow-apiserver", "api-server boot"}} {
		st, ok := u.services[s.name]
		if !ok || st.ready < st.first {
			return "", 0, fmt.Errorf("the median warm start has no times of %s", s.name)
		}
		d := st.ready - st.first
		sum += d
		parts = append(parts, fmt.Sprintf("%s %.1f", s.what, d.Seconds()))
	}
	return strings.Join(parts, " + ") + ", each from its own lines", sum, nil
}
