// Command bench measures how fast the stack comes up and what Dagger costs,
// against baselines measured on the same engine in the same run, and prints
// a table. Run from the repository root, with an engine (README "Benchmarks"):
//
//	go run ./bench
//
// It uses its own project (COMPOSE_PROJECT_NAME=bench) and ports, and wipes
// that project's data first. It is not part of the test suite.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dagger/data-platform/restapi"
)

const (
	apiPort = 28080
	pgPort  = 25432
)

var moduleArgs = []string{
	"--set", "COMPOSE_PROJECT_NAME=bench",
	"--set", fmt.Sprintf("AIRFLOW_API_PORT=%d", apiPort),
	"--set", fmt.Sprintf("POSTGRES_PORT=%d", pgPort),
	"--set", "FLOWER_PORT=25555",
}

type row struct{ name, value, note string }

var table []row

func add(name, value, note string) {
	table = append(table, row{name, value, note})
	fmt.Fprintf(os.Stderr, "bench: %-44s %s %s\n", name, value, note)
}

func main() {
	start := time.Now()
	_, err := call("wipe")
	must(err)

	// Cold: empty volumes.
	cold, _ := up(1, func(token string) {
		runELT(token) // data for dbt and a realistic database
		editToVisible(token, 3)
		mem1 := peakMemory(15 * time.Second)
		add("stack memory, 1 worker (peak, cgroups)", gb(mem1), target(float64(mem1) <= 3<<30, "≤ 3 GB"))
		add("throughput, 1 worker", fmt.Sprintf("%.0f tasks/min", fanout(token)), "50 mapped no-op tasks")
	})
	reportUp("cold up", cold)

	// Warm: the same data.
	warm, _ := up(1, nil)
	reportUp("warm up", warm)

	// Baselines: one plain container exec each, on the same engine.
	_, err = call("dbt", "--cmd", "build")
	must(err)
	out, err := call("bench-baseline")
	must(err)
	base := parseBaseline(out)
	critical := base["postgres_ready"] + base["db_migrate"] + base["api_server_boot"]
	add("critical path: postgres ready", secs(base["postgres_ready"]), "initdb + start, one exec")
	add("critical path: airflow db migrate", secs(base["db_migrate"]), "on the same data, one exec")
	add("critical path: api-server boot", secs(base["api_server_boot"]), "until healthy, one exec")
	add("critical path: total", secs(critical), "")
	ratio := warm.Seconds() / critical.Seconds()
	add("warm up / critical path", fmt.Sprintf("%.2f", ratio), target(ratio <= 1.2, "≤ 1.2"))

	t0 := time.Now()
	_, err = call("dbt", "--cmd", "test")
	must(err)
	dbtWall := time.Since(t0)
	add("dagger call dbt --cmd=test", secs(dbtWall), "wall time of the CLI call")
	add("dbt test in one exec", secs(base["dbt_test"]), "")
	dbtRatio := dbtWall.Seconds() / base["dbt_test"].Seconds()
	add("dbt ratio", fmt.Sprintf("%.2f", dbtRatio), target(dbtRatio <= 1.3, "≤ 1.3"))

	_, _ = up(3, func(token string) {
		mem3 := peakMemory(15 * time.Second)
		add("stack memory, 3 workers (peak, cgroups)", gb(mem3), "")
		add("throughput, 3 workers", fmt.Sprintf("%.0f tasks/min", fanout(token)), "50 mapped no-op tasks")
	})

	fmt.Printf("\nBenchmark %s on %d cores, %s memory (%s), %s in all\n\n", time.Now().UTC().Format("2006-01-02"),
		runtime.NumCPU(), gb(totalMemory()), runtime.GOOS, time.Since(start).Round(time.Second))
	fmt.Println("| measure | value | note |")
	fmt.Println("|---|---|---|")
	for _, r := range table {
		fmt.Printf("| %s | %s | %s |\n", r.name, r.value, r.note)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func target(ok bool, goal string) string {
	if ok {
		return "target " + goal + ": met"
	}
	return "target " + goal + ": MISSED (see README, Performance)"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
func gb(b uint64) string          { return fmt.Sprintf("%.2f GB", float64(b)/(1<<30)) }

func daggerCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "dagger", append(append([]string{"call", "--progress=plain"}, moduleArgs...), args...)...)
	cmd.Env = os.Environ()
	return cmd
}

// call runs one dagger call and returns its stdout.
func call(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := daggerCmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("dagger call %s: %w\n%s", strings.Join(args, " "), err, tailOf(stderr.String(), 30))
	}
	return stdout.String(), nil
}

func tailOf(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// components of the api-server's health report, in the order they report.
var components = []string{"metadatabase", "scheduler", "triggerer", "dag_processor"}

type upTimes struct {
	total    time.Duration
	each     map[string]time.Duration // health components
	services []serviceTimes           // each service's own output
}

func (u upTimes) Seconds() float64 { return u.total.Seconds() }

// up starts the stack, records when each service says it is ready and when
// each component first reports healthy, runs f while it is up (with an API
// token), and stops it.
func up(workers int, f func(token string)) (upTimes, error) {
	cmd := daggerCmd(context.Background(), "up", "--workers", strconv.Itoa(workers), "up")
	t0 := time.Now()
	log := newTimeline(t0)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	res := upTimes{each: map[string]time.Duration{}}
	for len(res.each) < len(components) {
		select {
		case <-done:
			must(fmt.Errorf("up exited:\n%s", tailOf(log.String(), 40)))
		default:
		}
		if time.Since(t0) > 15*time.Minute {
			must(fmt.Errorf("stack not healthy after 15 minutes"))
		}
		var health map[string]struct{ Status string }
		if getJSON(fmt.Sprintf("http://localhost:%d/api/v2/monitor/health", apiPort), "", &health) == nil {
			for _, c := range components {
				if _, seen := res.each[c]; !seen && health[c].Status == "healthy" {
					res.each[c] = time.Since(t0)
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	res.total = time.Since(t0)
	res.services = log.services()
	if f != nil {
		f(token())
	}
	return res, nil
}

func reportUp(name string, u upTimes) {
	add(name+" (1 worker), until all healthy", secs(u.total), "")
	for _, s := range u.services {
		add(fmt.Sprintf("  %s: %s ready", name, s.name), secs(s.ready),
			fmt.Sprintf("own start %.1f s (first output at %.1f s)", (s.ready-s.first).Seconds(), s.first.Seconds()))
	}
	for _, c := range components {
		add(fmt.Sprintf("  %s: %s healthy", name, c), secs(u.each[c]), "api-server health report")
	}
}

func token() string {
	body := strings.NewReader(`{"username":"airflow","password":"airflow"}`)
	resp, err := http.Post(fmt.Sprintf("http://localhost:%d/auth/token", apiPort), "application/json", body)
	must(err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	must(json.NewDecoder(resp.Body).Decode(&tok))
	return tok.AccessToken
}

func getJSON(url, token string, out any) error { return restapi.Do("GET", url, token, nil, out) }

// runDAG unpauses and triggers a DAG and waits for the run to end; it
// returns the run's duration from its start to its end.
func runDAG(token, dag string) time.Duration {
	base := fmt.Sprintf("http://localhost:%d/api/v2/dags/%s", apiPort, dag)
	deadline := time.Now().Add(5 * time.Minute)
	for restapi.Do("PATCH", base, token, map[string]any{"is_paused": false}, nil) != nil {
		if time.Now().After(deadline) {
			must(fmt.Errorf("DAG %s never registered", dag))
		}
		time.Sleep(2 * time.Second)
	}
	var run struct {
		DagRunID  string    `json:"dag_run_id"`
		State     string    `json:"state"`
		StartDate time.Time `json:"start_date"`
		EndDate   time.Time `json:"end_date"`
	}
	must(restapi.Do("POST", base+"/dagRuns", token, map[string]any{"logical_date": nil}, &run))
	for run.State != "success" {
		if run.State == "failed" || time.Now().After(deadline.Add(10*time.Minute)) {
			must(fmt.Errorf("DAG %s run %s: %s", dag, run.DagRunID, run.State))
		}
		time.Sleep(time.Second)
		must(getJSON(base+"/dagRuns/"+run.DagRunID, token, &run))
	}
	return run.EndDate.Sub(run.StartDate)
}

func runELT(token string) { runDAG(token, "elt_shop_orders") }

// editToVisible times, n times, a new DAG file from the end of `dagger call
// sync` until the REST API lists the DAG, and adds the median with its
// spread. The files go into dags/ and are gone (synced away) at the end.
func editToVisible(token string, n int) {
	var times, syncs []time.Duration
	var files []string
	defer func() {
		for _, f := range files {
			_ = os.Remove(f)
		}
		_, err := call("sync")
		must(err)
	}()
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("bench_live_%d_%d", time.Now().Unix(), i)
		file := filepath.Join("dags", id+".py")
		files = append(files, file)
		must(os.WriteFile(file, []byte(fmt.Sprintf("import pendulum\nfrom airflow.sdk import dag, task\n\n\n"+
			"@dag(dag_id=%q, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz=\"UTC\"))\n"+
			"def live():\n    @task\n    def noop():\n        pass\n\n    noop()\n\n\nlive()\n", id)), 0o644))
		t0 := time.Now()
		_, err := call("sync")
		must(err)
		synced := time.Now()
		syncs = append(syncs, synced.Sub(t0))
		url := fmt.Sprintf("http://localhost:%d/api/v2/dags/%s", apiPort, id)
		for getJSON(url, token, nil) != nil {
			if time.Since(synced) > 5*time.Minute {
				must(fmt.Errorf("DAG %s not visible 5 minutes after sync", id))
			}
			time.Sleep(250 * time.Millisecond)
		}
		times = append(times, time.Since(synced))
	}
	med, lo, hi := spread(times)
	add("edit-to-visible: new DAG file after sync", secs(med),
		fmt.Sprintf("median of %d, min %.1f s, max %.1f s; sync itself %s (median); %s", n, lo.Seconds(), hi.Seconds(),
			secs(median(syncs)), target(med <= 10*time.Second, "≤ 10 s")))
}

// spread is the median, the minimum and the maximum of some durations.
func spread(d []time.Duration) (med, lo, hi time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

func median(d []time.Duration) time.Duration {
	m, _, _ := spread(d)
	return m
}

func fanout(token string) float64 {
	d := runDAG(token, "bench_fanout")
	return 50 / d.Minutes()
}

// peakMemory samples, for the given time, the memory of every container of
// the engine (cgroups under /buildkit/) and returns the highest sum.
func peakMemory(d time.Duration) uint64 {
	var peak uint64
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Second) {
		peak = max(peak, containersMemory())
	}
	return peak
}

// containersMemory sums the anonymous memory (what the processes hold, not
// the file cache) of each container's cgroup once; summing processes' RSS
// instead would count the pages that forked workers share many times over.
func containersMemory() uint64 {
	groups := map[string]bool{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			// "4:memory:/buildkit/ID" (cgroup v1) or "0::/buildkit/ID" (v2)
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && strings.Contains(parts[2], "/buildkit/") &&
				(parts[1] == "memory" || parts[0] == "0" && parts[1] == "") {
				groups[parts[1]+parts[2]] = true
			}
		}
	}
	var sum uint64
	for g := range groups {
		if path, ok := strings.CutPrefix(g, "memory"); ok {
			sum += statValue("/sys/fs/cgroup/memory"+path+"/memory.stat", "total_rss")
		} else if statValue("/sys/fs/cgroup"+g+"/memory.stat", "anon") > 0 && !groups["memory"+g] {
			sum += statValue("/sys/fs/cgroup"+g+"/memory.stat", "anon")
		}
	}
	return sum
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

func totalMemory() uint64 { return statusKB("/proc/meminfo", "MemTotal:") * 1024 }

// statusKB reads a "Name:   N kB" line of a /proc file.
func statusKB(path, field string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// parseBaseline reads the "name=NNNms" lines of bench-baseline.
func parseBaseline(out string) map[string]time.Duration {
	res := map[string]time.Duration{}
	for _, line := range strings.Split(out, "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		d, err := time.ParseDuration(val)
		if err == nil {
			res[name] = d
		}
	}
	for _, k := range []string{"postgres_ready", "db_migrate", "api_server_boot", "dbt_test"} {
		if res[k] == 0 {
			must(fmt.Errorf("bench-baseline did not report %s:\n%s", k, out))
		}
	}
	return res
}
