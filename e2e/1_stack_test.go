//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"dagger/data-platform/internal/harness"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const dagID = "elt_shop_orders"

// stackPorts are the host ports TestStack's `up --flower` listened on.
var stackPorts []int

// TestFunctionsListed: the Go module loads in the engine and shows its API.
func TestFunctionsListed(t *testing.T) {
	recapOnFailure(t)
	out, err := dagger(t.Context(), "functions").CombinedOutput()
	if err != nil {
		fatalf(t, "dagger functions: %v\n%s", err, tail(string(out), 40))
	}
	for _, fn := range []string{"up", "dbt", "dbt-target", "dbt-docs", "airflow-cli", "init", "wipe", "dag-check",
		"elt-check", "postgres", "valkey", "api-server", "scheduler", "dag-processor", "triggerer", "worker", "flower",
		"pytest", "upgrade-test", "settings-export", "settings-import", "live-key", "live-client", "sync", "logs", "shell"} {
		if !strings.Contains(string(out), "\n"+fn+" ") {
			errorf(t, "dagger functions does not list %s", fn)
		}
	}
}

// TestModuleChecks runs every `+check` function: the contract of each image
// the module pulls (stand-ins in CI) and the DAG import check.
func TestModuleChecks(t *testing.T) {
	recapOnFailure(t)
	ctx := t.Context()
	cmd := dagger(ctx, "check", "--progress=plain")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// The lines that say which check failed, and why.
		var failed []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "ERROR") || strings.Contains(line, "! ") {
				failed = append(failed, line)
			}
		}
		fatalf(t, "dagger check: %v\n%s\n...\n%s", err, strings.Join(failed, "\n"), tail(string(out), 40))
	}
	for _, name := range []string{"checkDags", "checkTests", "checkPostgresImage", "checkValkeyImage", "checkAirflowImage", "checkDbtImage"} {
		if !strings.Contains(string(out), name) {
			errorf(t, "dagger check did not run %s", name)
		}
	}
}

func TestDagCheckNamesBrokenFile(t *testing.T) {
	recapOnFailure(t)
	out, err := call(t, 10*time.Minute, "dag-check", "--dags", filepath.Join(repoRoot(), "e2e/testdata/broken_dags"))
	if err == nil {
		fatalf(t, "broken DAG passed the check:\n%s", out)
	}
	for _, want := range []string{"broken_dag.py", "No module named 'airflow.providers.does_not_exist'", "1 DAG file(s) failed to import"} {
		if !strings.Contains(err.Error(), want) {
			errorf(t, "error lacks %q:\n%v", want, err)
		}
	}
	ok := mustCall(t, 10*time.Minute, "dag-check")
	if !strings.Contains(ok, "ok     "+dagID) {
		errorf(t, "shipped DAG not reported as ok:\n%s", ok)
	}
}

// Two problems of different kinds (a value that is not a number, an
// invalid one) come in one error, in the module's own words.
func TestInvalidConfigFailsBeforeStart(t *testing.T) {
	recapOnFailure(t)
	_, err := call(t, 5*time.Minute, "--set", "VALKEY_MAXMEMORY=256", "--set", "POSTGRES_PORT=http", "config")
	if err == nil {
		fatal(t, "invalid configuration accepted")
	}
	for _, want := range []string{`VALKEY_MAXMEMORY: "256" needs a positive size with a unit`, `POSTGRES_PORT: "http" is not a whole number`} {
		if !strings.Contains(err.Error(), want) {
			errorf(t, "error lacks %q:\n%v", want, err)
		}
	}
}

// TestStack brings the whole stack up as a user would, with two workers and
// Flower, and walks the spec: health, API, database roles, Flower, an ELT
// run through Airflow and dbt, the ad-hoc CLI; then dbt on its own.
func TestStack(t *testing.T) {
	recapOnFailure(t)
	writeDotenv(t, stackDotenv())
	writeProjectFile(t, "airflow_settings.yaml", settingsFile)
	wipe(t, moduleArgs())
	st := startStack(t, "--workers", "2", "--flower")
	stopped := false
	defer func() {
		if !stopped {
			stop(t, st)
		}
		if t.Failed() {
			t.Logf("up output (tail):\n%s", tail(st.Log.String(), 80))
		}
	}()

	stackHealthy = waitHealthy(t, st, 15*time.Minute)

	t.Run("on the host: the API, PostgreSQL, live edits and Flower, nothing else", func(t *testing.T) {
		stackPorts = hostPorts(t, st)
		if want := []int{pgPort, flowerPort, apiPort, livePort}; !slices.Equal(stackPorts, want) {
			errorf(t, "up listens on %v, want %v", stackPorts, want)
		}
	})

	t.Run("host ports answer a client address used again and again", func(t *testing.T) {
		fromOneAddress(t, apiPort, 25, httpAsk("/api/v2/monitor/health", 200))
		fromOneAddress(t, livePort, 25, httpAsk("/files", 401))
		fromOneAddress(t, pgPort, 25, postgresAsk)
	})

	var token string
	t.Run("token works on the REST API", func(t *testing.T) {
		token = login(t)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := api("POST", "/auth/token", "", map[string]string{"username": "airflow", "password": "wrong"}, &tok); err == nil {
			fail(t, "a wrong admin password got a token")
		}
		waitFor(t, "shipped DAG registered", 3*time.Minute, 5*time.Second, func() error {
			var dags struct {
				Dags []struct {
					DagID string `json:"dag_id"`
				}
			}
			if err := api("GET", "/api/v2/dags", token, nil, &dags); err != nil {
				return err
			}
			for _, d := range dags.Dags {
				if d.DagID == dagID {
					return nil
				}
			}
			return fmt.Errorf("dags: %+v", dags.Dags)
		})
	})
	if token == "" {
		t.FailNow()
	}

	t.Run("settings: airflow_settings.yaml applied at start, exported, imported again", func(t *testing.T) {
		settingsRoundTrip(t, token)
	})

	t.Run("postgres roles have least privilege", func(t *testing.T) {
		out, err := psql("app", secrets["E2E_POSTGRES_PASSWORD"], "app", "SELECT current_user")
		if err != nil || out != "app" {
			fatalf(t, "app user: %v %s", err, out)
		}
		denied := []struct{ user, pw, db string }{
			{"dbt", secrets["E2E_DBT_DB_PASSWORD"], "airflow"},
			{"dbt", secrets["E2E_DBT_DB_PASSWORD"], "app"},
			{"airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "analytics"},
			{"airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "app"},
		}
		for _, d := range denied {
			out, err := psql(d.user, d.pw, d.db, "SELECT 1")
			if err == nil || !strings.Contains(out, "permission denied") {
				errorf(t, "%s could connect to %s: %v %s", d.user, d.db, err, out)
			}
		}
		out, err = psql("app", secrets["E2E_POSTGRES_PASSWORD"], "app",
			"SELECT string_agg(rolname || '=' || rolsuper || rolcreatedb || rolcreaterole, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('airflow','dbt')")
		if err != nil || out != "airflow=falsefalsefalse,dbt=falsefalsefalse" {
			errorf(t, "role attributes: %v %s", err, out)
		}
	})

	t.Run("flower shows two workers", func(t *testing.T) {
		waitFor(t, "two workers in Flower", 3*time.Minute, 5*time.Second, func() error {
			workers, err := flowerWorkers()
			if err != nil {
				return err
			}
			n := 0
			for _, name := range workers {
				if strings.HasPrefix(name, "airflow-worker-") {
					n++
				}
			}
			if n != 2 {
				return fmt.Errorf("workers: %v", workers)
			}
			return nil
		})
	})

	var eltRun string
	t.Run("ELT: the scheduled run loads a day and dbt builds it, a task a seed, model and test", func(t *testing.T) {
		run := scheduledRun(t, token)
		eltRun = run
		// The load task used the connection and the variable from .env.
		var logs json.RawMessage
		if err := api("GET", run+"/taskInstances/load/logs/1", token, nil, &logs); err != nil {
			fatal(t, err)
		}
		if !strings.Contains(string(logs), "loading into the Airflow connection 'e2e_warehouse'") {
			errorf(t, "load did not use AIRFLOW_CONN_E2E_WAREHOUSE from .env:\n%s", tail(string(logs), 40))
		}
		// Each task says which worker ran it (not every one "localhost").
		var tis struct {
			TaskInstances []struct {
				TaskID   string `json:"task_id"`
				Hostname string `json:"hostname"`
			} `json:"task_instances"`
		}
		if err := api("GET", run+"/taskInstances?limit=100", token, nil, &tis); err != nil || len(tis.TaskInstances) == 0 {
			fatalf(t, "the run's task instances: %v", err)
		}
		tasks, tests := map[string]bool{}, 0
		for _, ti := range tis.TaskInstances {
			if ti.Hostname != "airflow-worker-1" && ti.Hostname != "airflow-worker-2" {
				errorf(t, "task %s ran on %q, not a worker's name", ti.TaskID, ti.Hostname)
			}
			tasks[ti.TaskID] = true
			if strings.HasPrefix(ti.TaskID, "dbt.") && strings.HasSuffix(ti.TaskID, "_test") {
				tests++
			}
		}
		// Cosmos's tasks: each seed and model, and each test on its own.
		for _, want := range []string{"extract", "load", "dbt.customers_seed", "dbt.products_seed", "dbt.stg_orders_run", "dbt.stg_customers_run",
			"dbt.daily_revenue_run", "dbt.customer_revenue_run", "dbt.assert_revenue_matches_orders_test", "dbt.unique_stg_orders_order_id_test"} {
			if !tasks[want] {
				errorf(t, "the run has no task %s: %v", want, keys(tasks))
			}
		}
		if tests < 10 {
			errorf(t, "the run has %d test tasks, want one per dbt test (10 or more): %v", tests, keys(tasks))
		}
		dbtPW := secrets["E2E_DBT_DB_PASSWORD"]
		raw, err := psql("dbt", dbtPW, "analytics", "SELECT count(*) FROM raw.orders")
		if err != nil {
			fatal(t, raw, err)
		}
		checks := map[string]string{
			"SELECT sum(orders) FROM marts.daily_revenue": raw,
			"SELECT count(*) FROM marts.customer_revenue": "20",
			"SELECT (SELECT count(*) FROM raw.orders WHERE status <> 'returned') = (SELECT sum(orders) FROM marts.customer_revenue)": "t",
		}
		for q, want := range checks {
			got, err := psql("dbt", dbtPW, "analytics", q)
			if err != nil || got != want {
				errorf(t, "%s = %q (%v), want %q", q, got, err, want)
			}
		}
		t.Logf("raw.orders rows: %s", raw)
	})

	t.Run("ELT: a dbt test broken on purpose fails its own task, and the run", func(t *testing.T) {
		if eltRun == "" {
			t.Skip("no ELT run to rerun a test of (the step before failed)")
		}
		test := filepath.Join(testProject.Dir, "dbt/tests/assert_revenue_matches_orders.sql")
		good, err := os.ReadFile(test)
		if err != nil {
			fatal(t, err)
		}
		defer func() {
			if err := os.WriteFile(test, good, 0o644); err == nil {
				_, _ = call(t, 5*time.Minute, "sync")
			}
		}()
		if err := os.WriteFile(test, []byte("-- broken on purpose by the e2e test\nselect 1 as always_failing\n"), 0o644); err != nil {
			fatal(t, err)
		}
		mustCall(t, 5*time.Minute, "sync")
		task := "dbt.assert_revenue_matches_orders_test"
		runID, err := url.PathUnescape(eltRun[strings.LastIndex(eltRun, "/")+1:])
		if err != nil {
			fatal(t, err)
		}
		if err := api("POST", "/api/v2/dags/"+dagID+"/clearTaskInstances", token, map[string]any{
			"dag_run_id": runID, "task_ids": []string{task}, "dry_run": false, "reset_dag_runs": true, "only_failed": false,
		}, nil); err != nil {
			fatal(t, err)
		}
		waitFor(t, "the run failed by the broken test", 5*time.Minute, 2*time.Second, func() error {
			var ti, run struct {
				State string `json:"state"`
			}
			if err := api("GET", eltRun+"/taskInstances/"+task, token, nil, &ti); err != nil {
				return err
			}
			if err := api("GET", eltRun, token, nil, &run); err != nil {
				return err
			}
			if ti.State != "failed" || run.State != "failed" {
				return fmt.Errorf("task %s, run %s", ti.State, run.State)
			}
			return nil
		})
	})

	t.Run("deferrable sensor waits on the triggerer", func(t *testing.T) {
		base := "/api/v2/dags/deferred_heartbeat"
		if err := api("PATCH", base, token, map[string]any{"is_paused": false}, nil); err != nil {
			fatal(t, err)
		}
		var run struct {
			DagRunID string `json:"dag_run_id"`
			State    string `json:"state"`
		}
		if err := api("POST", base+"/dagRuns", token, map[string]any{"logical_date": nil}, &run); err != nil {
			fatal(t, err)
		}
		sawDeferred := false
		waitFor(t, "deferrable DAG run finished", 5*time.Minute, 2*time.Second, func() error {
			var ti struct {
				State string `json:"state"`
			}
			if api("GET", base+"/dagRuns/"+run.DagRunID+"/taskInstances/wait", token, nil, &ti) == nil && ti.State == "deferred" {
				sawDeferred = true
			}
			if err := api("GET", base+"/dagRuns/"+run.DagRunID, token, nil, &run); err != nil {
				return err
			}
			if run.State == "success" || run.State == "failed" {
				return nil
			}
			return fmt.Errorf("state %s", run.State)
		})
		if run.State != "success" {
			fatalf(t, "deferrable DAG run ended %s", run.State)
		}
		if !sawDeferred {
			fail(t, "the sensor was never seen in state deferred")
		}
	})

	t.Run(".env read as compose reads it, Airflow settings passed through", func(t *testing.T) {
		cfg := mustCall(t, 5*time.Minute, "config")
		for _, want := range []string{
			"AIRFLOW_JWT_ISSUER=e2e\"issuer  # .env\n",
			"AIRFLOW__API__INSTANCE_NAME=${POSTGRES_USER}  # .env, passed to Airflow\n",
			"AIRFLOW__CORE__DEFAULT_TASK_RETRIES=4  # .env, passed to Airflow\n",
			"AIRFLOW_CONN_E2E_WAREHOUSE=***  # .env, passed to Airflow as a secret\n",
			"AIRFLOW_VAR_ANALYTICS_CONN_ID=***  # .env, passed to Airflow as a secret\n",
			"COMPOSE_PROJECT_NAME=e2e  # --set\n",
			"POSTGRES_PASSWORD=***  # --postgres-password\n",
			"POSTGRES_DB=app  # default\n",
		} {
			if !strings.Contains(cfg, want) {
				errorf(t, "config lacks %q:\n%s", want, cfg)
			}
		}
		out := mustCall(t, 10*time.Minute, "airflow-cli", "--args", "config get-value core default_task_retries")
		if strings.TrimSpace(out) != "4" {
			errorf(t, "airflow config get-value core default_task_retries = %q, want 4 (from .env)", out)
		}
	})

	t.Run("the live receiver takes only the project's live key", func(t *testing.T) {
		liveReceiverRefusesStrangers(t, token)
	})

	t.Run("live edits reach the running stack with nothing typed", func(t *testing.T) {
		liveEdits(t, token)
	})

	t.Run("DAG edits reach the running stack with sync", func(t *testing.T) {
		dags := filepath.Join(testProject.Dir, "dags")
		live, broken := filepath.Join(dags, "e2e_live.py"), filepath.Join(dags, "e2e_broken.py")
		t.Cleanup(func() { _ = os.Remove(live); _ = os.Remove(broken) })
		write := func(path, content string) {
			t.Helper()
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				fatal(t, err)
			}
		}
		// visible: after sync, how long until the REST API shows the change.
		visible := func(what string, check func() error) {
			t.Helper()
			took := waitFor(t, what, 2*time.Minute, 500*time.Millisecond, check)
			t.Logf("edit-to-visible: %s %.1f s after sync ended", what, took.Seconds())
		}
		// A module the DAG files import: Airflow never parses it, and sync
		// says so at once instead of waiting for a parse.
		helper := filepath.Join(dags, "e2e_helper.py")
		t.Cleanup(func() { _ = os.Remove(helper) })
		write(helper, "ANSWER = 42  # imported by the DAG files\n")
		write(live, string(harness.DAGFile("e2e_live", "e2e-v1")))
		if out := mustCall(t, 5*time.Minute, "sync"); !strings.Contains(out, "ok       dags/e2e_helper.py: no DAG (Airflow parses only files that mention airflow and dag)") {
			errorf(t, "sync does not say the helper module holds no DAG:\n%s", out)
		}
		_ = os.Remove(helper)
		visible("a new DAG file", dagTagged(token, "e2e_live", "e2e-v1"))

		write(live, string(harness.DAGFile("e2e_live", "e2e-v2")))
		mustCall(t, 5*time.Minute, "sync")
		visible("a changed DAG file (a new tag)", dagTagged(token, "e2e_live", "e2e-v2"))

		if err := os.Remove(live); err != nil {
			fatal(t, err)
		}
		mustCall(t, 5*time.Minute, "sync")
		visible("a deleted DAG file (stale)", dagGone(token, "e2e_live"))

		// "airflow" and "dag" in it, or Airflow's safe mode skips the file.
		write(broken, "from airflow.sdk import dag  # a DAG file that cannot import\nimport does_not_exist_e2e\n")
		_, err := call(t, 5*time.Minute, "sync")
		if err == nil || !strings.Contains(err.Error(), "e2e_broken.py") || !strings.Contains(err.Error(), "No module named 'does_not_exist_e2e'") {
			errorf(t, "sync does not name the broken file and Python's error: %v", err)
		}
		visible("the broken file in importErrors", importError(token, "e2e_broken.py", "No module named 'does_not_exist_e2e'"))
		_ = os.Remove(broken)
		mustCall(t, 5*time.Minute, "sync") // the project's folder again
	})

	t.Run("init, wipe and a second stack refuse while the stack runs, losing nothing", func(t *testing.T) {
		before, err := psql("dbt", secrets["E2E_DBT_DB_PASSWORD"], "analytics", "SELECT count(*) FROM raw.orders")
		if err != nil {
			fatal(t, before, err)
		}
		for _, fn := range [][]string{{"init"}, {"wipe"}, {"up", "up"}, {"postgres", "up"}} {
			start := time.Now()
			_, err := call(t, 3*time.Minute, fn...)
			if err == nil || !strings.Contains(err.Error(), `the data of project "e2e" is in use by its running stack (postgres at 10.`) {
				errorf(t, "%s while up runs: %v", fn, err)
			}
			t.Logf("%s refused after %s", fn, time.Since(start).Round(100*time.Millisecond))
		}
		if after, err := psql("dbt", secrets["E2E_DBT_DB_PASSWORD"], "analytics", "SELECT count(*) FROM raw.orders"); after != before {
			errorf(t, "raw.orders: %s rows before, %q (%v) after", before, after, err)
		}
	})

	t.Run("one service's logs and a shell beside the running stack", func(t *testing.T) {
		logs := mustCall(t, 5*time.Minute, "logs", "--service", "airflow-scheduler", "--tail", "500")
		if !strings.Contains(logs, "Starting the scheduler") {
			errorf(t, "the scheduler's log lacks its start:\n%s", tail(logs, 20))
		}
		if strings.Contains(logs, "Application startup complete") {
			fail(t, "the scheduler's log holds the api-server's lines")
		}
		out := mustCall(t, 10*time.Minute, "shell",
			"with-exec", "--args", "airflow,dags,list", "stdout")
		if !strings.Contains(out, dagID) {
			errorf(t, "airflow dags list in the shell's container:\n%s", out)
		}
	})

	t.Run("dbt and the Airflow CLI beside the running stack", func(t *testing.T) {
		// They find the running stack's PostgreSQL themselves and say so;
		// had they started their own, they would wait for its data.
		out, progress, err := callOutput(t, 10*time.Minute, moduleArgs(), "dbt", "--cmd", "debug")
		if err != nil || !strings.Contains(out, "All checks passed") {
			errorf(t, "dbt debug beside up: %v\n%s", err, out)
		}
		if !strings.Contains(progress, `note: using the PostgreSQL of project "e2e"'s running stack (10.`) {
			errorf(t, "dbt beside up does not say it uses the running stack's PostgreSQL:\n%s", tail(progress, 40))
		}
		raw, err := psql("dbt", secrets["E2E_DBT_DB_PASSWORD"], "analytics", "SELECT count(*) FROM raw.orders")
		if err != nil {
			fatal(t, raw, err)
		}
		out, err = call(t, 10*time.Minute, "dbt", "--cmd", `show --inline "select count(*) as e2e_rows from raw.orders"`)
		if err != nil || !strings.Contains(out, "e2e_rows") || !strings.Contains(out, " "+raw+" ") {
			errorf(t, "dbt show beside up (raw.orders has %s rows): %v\n%s", raw, err, out)
		}
		// Through the stack's warm dbt, which says so, with dbt's own exit
		// status (compared with a dbt of its own after the stack stops).
		warmTest = dbtTestStatus(t)
		for _, s := range warmTest {
			if !strings.Contains(s.out, "runs in the stack's warm dbt") {
				errorf(t, "dbt test beside up did not go through the warm dbt:\n%s", tail(s.out, 10))
			}
		}
	})

	t.Run("ad-hoc airflow CLI lists the DAGs", func(t *testing.T) {
		out := mustCall(t, 10*time.Minute, "airflow-cli", "--args", "dags list")
		for _, id := range []string{dagID, "deferred_heartbeat"} {
			if !strings.Contains(out, id) {
				errorf(t, "dags list lacks %s:\n%s", id, out)
			}
		}
	})

	t.Run("upgrade-test on the running stack's data: a DAG file 3.3 breaks is named, the stack's database untouched", func(t *testing.T) {
		upgradeBreaks(t)
	})

	stop(t, st)
	stopped = true

	t.Run("logs of the stopped stack", func(t *testing.T) {
		logs := mustCall(t, 5*time.Minute, "logs", "--service", "airflow-apiserver", "--tail", "2000")
		if !strings.Contains(logs, "Application startup complete") {
			errorf(t, "the api-server's log lacks its start:\n%s", tail(logs, 20))
		}
	})

	t.Run("dbt on its own, never from cache", func(t *testing.T) {
		debug := mustCall(t, 10*time.Minute, "dbt", "--cmd", "debug")
		if !strings.Contains(debug, "All checks passed") {
			errorf(t, "dbt debug:\n%s", debug)
		}
		first := mustCall(t, 10*time.Minute, "dbt", "--cmd", "test")
		second := mustCall(t, 10*time.Minute, "dbt", "--cmd", "test")
		for _, out := range []string{first, second} {
			if !strings.Contains(out, "Completed successfully") {
				fatalf(t, "dbt test:\n%s", out)
			}
		}
		if first == second {
			fail(t, "second dbt test printed exactly the first one's output: answered from cache")
		}
		// The first call's parse was kept: the second re-parses nothing.
		if strings.Contains(second, "Unable to do partial parsing") {
			errorf(t, "the second dbt test parsed the project in full:\n%s", second)
		}
		cold := dbtTestStatus(t)
		for i, s := range cold {
			if strings.Contains(s.out, "warm dbt") {
				errorf(t, "dbt test with no stack went through a warm dbt:\n%s", tail(s.out, 10))
			}
			if i < len(warmTest) && warmTest[i].code != s.code {
				errorf(t, "dbt test (%s): exit %d through the warm dbt, %d on its own", s.what, warmTest[i].code, s.code)
			}
		}
	})

	t.Run("upgrade-test on the stopped stack's data passes, with its report", func(t *testing.T) {
		upgradePasses(t)
	})

	// The module's own end-to-end check, on the same data: the stack starts
	// again on 3.1.7 after the upgrade test.
	t.Run("elt-check: the stack starts again, the DAG runs, the marts match the raw rows", func(t *testing.T) {
		out := mustCall(t, 30*time.Minute, "elt-check")
		for _, want := range []string{"the stack runs Airflow 3.1.7", "ELT check passed", "ok   orders in marts.daily_revenue", "Completed successfully"} {
			if !strings.Contains(out, want) {
				errorf(t, "elt-check output lacks %q:\n%s", want, tail(out, 40))
			}
		}
		t.Log(tail(out, 6))
	})
}

// warmTest: `dbt test` through TestStack's warm dbt, passing and failing.
var warmTest []dbtStatus

type dbtStatus struct {
	what string
	code int
	out  string
}

var exitedWith = regexp.MustCompile(`dbt exited with (\d+)`)

// dbtTestStatus runs `dagger call dbt --cmd test` on the test project as
// it is (passing), then with a test broken on purpose (failing), and
// returns each one's exit status, as the call reports it, and output.
func dbtTestStatus(t *testing.T) []dbtStatus {
	t.Helper()
	test := filepath.Join(testProject.Dir, "dbt/tests/assert_revenue_matches_orders.sql")
	good, err := os.ReadFile(test)
	if err != nil {
		fatal(t, err)
	}
	defer func() { _ = os.WriteFile(test, good, 0o644) }()
	var out []dbtStatus
	for _, what := range []string{"passing", "failing"} {
		if what == "failing" {
			if err := os.WriteFile(test, []byte("select 1 as always_failing\n"), 0o644); err != nil {
				fatal(t, err)
			}
		}
		stdout, err := call(t, 10*time.Minute, "dbt", "--cmd", "test")
		s := dbtStatus{what: what, out: stdout}
		if err != nil {
			s.out = err.Error()
			m := exitedWith.FindStringSubmatch(err.Error())
			if m == nil {
				fatalf(t, "dbt test (%s) failed without dbt's exit status: %v", what, err)
			}
			fmt.Sscan(m[1], &s.code)
		}
		if want := map[string]int{"passing": 0, "failing": 1}[what]; s.code != want {
			errorf(t, "dbt test (%s): exit %d, want %d:\n%s", what, s.code, want, tail(s.out, 20))
		}
		out = append(out, s)
	}
	return out
}

// scheduledRun unpauses the example DAG and waits for the run the
// scheduler makes of it (yesterday's: catchup is off) to succeed; on
// failure it prints every task's log. It returns the run's REST path.
func scheduledRun(t *testing.T, token string) string {
	t.Helper()
	base := "/api/v2/dags/" + dagID
	if err := api("PATCH", base, token, map[string]any{"is_paused": false}, nil); err != nil {
		fatal(t, err)
	}
	var runID, state string
	waitFor(t, "the scheduled run ended", 15*time.Minute, 3*time.Second, func() error {
		var runs struct {
			DagRuns []struct {
				ID      string `json:"dag_run_id"`
				RunType string `json:"run_type"`
				State   string `json:"state"`
			} `json:"dag_runs"`
		}
		if err := api("GET", base+"/dagRuns", token, nil, &runs); err != nil {
			return err
		}
		for _, r := range runs.DagRuns {
			if r.RunType == "scheduled" && (r.State == "success" || r.State == "failed") {
				runID, state = r.ID, r.State
				return nil
			}
		}
		return fmt.Errorf("runs %+v", runs.DagRuns)
	})
	path := base + "/dagRuns/" + url.PathEscape(runID)
	if state != "success" {
		var tis struct {
			TaskInstances []struct {
				TaskID    string `json:"task_id"`
				State     string `json:"state"`
				TryNumber int    `json:"try_number"`
			} `json:"task_instances"`
		}
		_ = api("GET", path+"/taskInstances?limit=100", token, nil, &tis)
		for _, ti := range tis.TaskInstances {
			if ti.State == "success" {
				continue
			}
			var logs map[string]any
			_ = api("GET", fmt.Sprintf("%s/taskInstances/%s/logs/%d", path, ti.TaskID, max(ti.TryNumber, 1)), token, nil, &logs)
			b, _ := json.MarshalIndent(logs, "", " ")
			t.Logf("task %s: %s\n%s", ti.TaskID, ti.State, tail(string(b), 60))
		}
		fatalf(t, "DAG run %s ended %s", runID, state)
	}
	return path
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDbtDocsServe serves the generated dbt docs and fetches the page, the
// manifest (the project's models) and the catalog (what the database holds).
func TestDbtDocsServe(t *testing.T) {
	recapOnFailure(t)
	const port = 18081
	docs := startService(t, "dbt-docs", "up", "--ports", fmt.Sprintf("%d:8081", port))
	defer stop(t, docs)
	var body string
	waitFor(t, "dbt docs served", 10*time.Minute, 3*time.Second, func() error {
		if docs.Exited() {
			fatalf(t, "dbt-docs exited:\n%s", tail(docs.Log.String(), 40))
		}
		for _, path := range []string{"/", "/manifest.json", "/catalog.json"} {
			resp, err := http.Get(fmt.Sprintf("http://localhost:%d%s", port, path))
			if err != nil {
				return err
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("GET %s: %s", path, resp.Status)
			}
			body += string(data)
		}
		return nil
	})
	for _, want := range []string{"<html", "customer_revenue"} {
		if !strings.Contains(body, want) {
			errorf(t, "docs lack %q", want)
		}
	}
}

// TestDbtCI runs dbt as a team's CI does, on a copy of the project, against
// the project's database (a PostgreSQL service started on its own, which
// the calls find and use): a first run returns every artifact; after one model changes, a run
// with the first one's artifacts as state builds exactly that model and its
// children; a failing data test fails the call, named with its failing rows,
// and --allow-failure still returns the artifacts; two schema suffixes write
// to two sets of schemas, a non-default DBT_SCHEMA puts every relation in
// schemas derived from it; dbt-ci-drop removes them.
func TestDbtCI(t *testing.T) {
	recapOnFailure(t)
	proj := t.TempDir()
	if err := os.CopyFS(filepath.Join(proj, "dbt"), os.DirFS(filepath.Join(repoRoot(), "dbt"))); err != nil {
		fatal(t, err)
	}
	for _, generated := range []string{"target", "dbt_packages", "logs"} {
		_ = os.RemoveAll(filepath.Join(proj, "dbt", generated))
	}
	pg := startService(t, "postgres", "up", "--ports", fmt.Sprintf("%d:5432", pgPort))
	defer stop(t, pg)
	dbtPW := secrets["E2E_DBT_DB_PASSWORD"]
	waitFor(t, "postgres answers", 5*time.Minute, 2*time.Second, func() error {
		_, err := psql("dbt", dbtPW, "analytics", "SELECT 1")
		return err
	})
	module := moduleArgs()
	ci := func(t *testing.T, module []string, args ...string) (string, error) {
		t.Helper()
		return callWith(t, 15*time.Minute, module, append([]string{"dbt-ci", "--source", proj}, args...)...)
	}

	first := t.TempDir()
	if _, err := ci(t, module, "--schema-suffix", "e2e_a", "-o", first); err != nil {
		fatal(t, err)
	}
	keepExported(t, first)
	for _, f := range []string{"manifest.json", "run_results.json", "catalog.json", "index.html", "static_index.html", "summary.md", "dbt-exit-code"} {
		if info, err := os.Stat(filepath.Join(first, f)); err != nil || info.Size() == 0 {
			errorf(t, "artifact %s missing or empty: %v", f, err)
		}
	}
	if summary, _ := os.ReadFile(filepath.Join(first, "summary.md")); !strings.Contains(string(summary), "# dbt build: passed") {
		errorf(t, "summary of a passing build:\n%s", summary)
	}

	t.Run("state-aware: the changed model, its unchanged parent deferred to the state's", func(t *testing.T) {
		// daily_revenue changes; its parent stg_orders does not. In a
		// schema of its own (suffix e2e_c), the run builds daily_revenue
		// alone and reads stg_orders from the first run's relation (--defer):
		// there is no stg_orders in e2e_c's schemas.
		model := filepath.Join(proj, "dbt/models/marts/daily_revenue.sql")
		f, err := os.OpenFile(model, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			fatal(t, err)
		}
		fmt.Fprintln(f, "-- changed by the e2e test")
		f.Close()
		second := t.TempDir()
		t.Cleanup(func() { // e2e_c's schemas, whatever happens
			if _, err := callWith(t, 10*time.Minute, module, "dbt-ci-drop", "--source", proj, "--schema-suffix", "e2e_c"); err != nil {
				fail(t, err)
			}
		})
		if _, err := ci(t, module, "--schema-suffix", "e2e_c", "--state", first, "-o", second); err != nil {
			fatal(t, err)
		}
		keepExported(t, second)
		want := lineage(t, filepath.Join(first, "manifest.json"), "model.shop_analytics.daily_revenue")
		got := map[string]bool{}
		for _, r := range runResults(t, filepath.Join(second, "run_results.json")) {
			if strings.HasPrefix(r.UniqueID, "model.") {
				got[r.UniqueID] = true
			}
		}
		if !maps.Equal(got, want) || !got["model.shop_analytics.daily_revenue"] {
			errorf(t, "models built %v, want the changed one and its children %v", keys(got), keys(want))
		}
		rel, err := psql("dbt", dbtPW, "analytics", "SELECT to_regclass('public_e2e_c_marts.daily_revenue') IS NOT NULL, "+
			"to_regclass('public_e2e_c_staging.stg_orders') IS NULL, (SELECT count(*) FROM public_e2e_c_marts.daily_revenue) > 0")
		if err != nil || rel != "t|t|t" {
			errorf(t, "daily_revenue built in e2e_c from the deferred stg_orders (built, parent absent, rows): %q %v", rel, err)
		}
	})

	t.Run("a failing data test fails the call and is named with its rows", func(t *testing.T) {
		failing := filepath.Join(proj, "dbt/tests/e2e_must_fail.sql")
		if err := os.WriteFile(failing, []byte("select order_id from {{ ref('stg_orders') }}\n"), 0o644); err != nil {
			fatal(t, err)
		}
		defer os.Remove(failing)
		rows, err := psql("dbt", dbtPW, "analytics", "SELECT count(*) FROM public_e2e_a_staging.stg_orders")
		if err != nil || rows == "0" {
			fatalf(t, "stg_orders rows: %q %v", rows, err)
		}
		_, err = ci(t, module, "--schema-suffix", "e2e_a")
		if err == nil {
			fatal(t, "a failing test passed the call")
		}
		for _, want := range []string{"dbt failed (exit 1)", "FAIL test e2e_must_fail, " + rows + " failing rows"} {
			if !strings.Contains(err.Error(), want) {
				errorf(t, "error lacks %q:\n%v", want, err)
			}
		}
		kept := t.TempDir()
		if _, err := ci(t, module, "--schema-suffix", "e2e_a", "--allow-failure", "-o", kept); err != nil {
			fatal(t, err)
		}
		keepExported(t, kept)
		code, _ := os.ReadFile(filepath.Join(kept, "dbt-exit-code"))
		if strings.TrimSpace(string(code)) != "1" || len(runResults(t, filepath.Join(kept, "run_results.json"))) == 0 {
			errorf(t, "--allow-failure: exit code %q, run results missing?", code)
		}
	})

	t.Run("schemas: one set per suffix, all derived from DBT_SCHEMA", func(t *testing.T) {
		if _, err := ci(t, module, "--schema-suffix", "e2e_b"); err != nil {
			fatal(t, err)
		}
		got, err := psql("dbt", dbtPW, "analytics", "SELECT string_agg(table_schema, ',' ORDER BY table_schema) FROM information_schema.tables "+
			"WHERE table_name = 'daily_revenue' AND table_schema LIKE 'public_e2e_%'")
		if err != nil || got != "public_e2e_a_marts,public_e2e_b_marts" {
			errorf(t, "daily_revenue in schemas %q (%v), want one per suffix", got, err)
		}
		judge := t.TempDir()
		withSchema := append(slices.Clone(module), "--set", "DBT_SCHEMA=e2e_judge")
		if _, err := ci(t, withSchema, "-o", judge); err != nil {
			fatal(t, err)
		}
		keepExported(t, judge)
		n := 0
		for _, r := range runResults(t, filepath.Join(judge, "run_results.json")) {
			if r.RelationName == "" {
				continue
			}
			n++
			if parts := strings.Split(r.RelationName, "."); len(parts) != 3 || !strings.HasPrefix(parts[1], `"e2e_judge`) {
				errorf(t, "%s landed in %s, outside DBT_SCHEMA e2e_judge", r.UniqueID, r.RelationName)
			}
		}
		if n < 4 {
			errorf(t, "only %d relations named in the run", n)
		}
		// Seeds too: every schema the run made is derived from DBT_SCHEMA.
		schemas, err := psql("dbt", dbtPW, "analytics", "SELECT string_agg(DISTINCT table_schema, ',' ORDER BY table_schema) "+
			"FROM information_schema.tables WHERE table_schema LIKE 'e2e\\_judge%'")
		if err != nil || schemas != "e2e_judge_marts,e2e_judge_reference,e2e_judge_staging" {
			errorf(t, "schemas of the e2e_judge run: %q (%v)", schemas, err)
		}
		for _, drop := range [][]string{{"--schema-suffix", "e2e_a"}, {"--schema-suffix", "e2e_b"}} {
			if _, err := callWith(t, 10*time.Minute, module, append([]string{"dbt-ci-drop", "--source", proj}, drop...)...); err != nil {
				fail(t, err)
			}
		}
		if _, err := callWith(t, 10*time.Minute, withSchema, "dbt-ci-drop"); err != nil {
			fail(t, err)
		}
		left, _ := psql("dbt", dbtPW, "analytics", `SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'public\_e2e\_%' OR schema_name LIKE 'e2e\_judge%'`)
		if left != "0" {
			errorf(t, "%s schemas left after dbt-ci-drop", left)
		}
	})
}

type runResult struct {
	UniqueID     string `json:"unique_id"`
	Status       string `json:"status"`
	RelationName string `json:"relation_name"`
}

func runResults(t *testing.T, path string) []runResult {
	t.Helper()
	var rr struct {
		Results []runResult `json:"results"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &rr)
	}
	if err != nil {
		fatal(t, err)
	}
	return rr.Results
}

// lineage is a model and every model downstream of it, from a manifest.
func lineage(t *testing.T, manifest, model string) map[string]bool {
	t.Helper()
	var m struct {
		ChildMap map[string][]string `json:"child_map"`
	}
	data, err := os.ReadFile(manifest)
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		fatal(t, err)
	}
	out := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		if out[id] || !strings.HasPrefix(id, "model.") {
			return
		}
		out[id] = true
		for _, c := range m.ChildMap[id] {
			walk(c)
		}
	}
	walk(model)
	return out
}

// dagTagged waits until the REST API shows DAG id of harness.DAGFile, active,
// with tag, and with its task for tag (the DAG's serialized form, which
// Airflow stores apart from its tags).
func dagTagged(token, id, tag string) func() error {
	return func() error {
		var tasks struct {
			Tasks []struct {
				ID string `json:"task_id"`
			} `json:"tasks"`
		}
		if err := api("GET", "/api/v2/dags/"+id+"/tasks", token, nil, &tasks); err != nil {
			return err
		}
		if len(tasks.Tasks) != 1 || tasks.Tasks[0].ID != harness.TaskOf(tag) {
			return fmt.Errorf("tasks %v", tasks.Tasks)
		}
		var dag struct {
			IsStale bool `json:"is_stale"`
			Tags    []struct {
				Name string `json:"name"`
			} `json:"tags"`
		}
		if err := api("GET", "/api/v2/dags/"+id, token, nil, &dag); err != nil {
			return err
		}
		for _, tg := range dag.Tags {
			if tg.Name == tag && !dag.IsStale {
				return nil
			}
		}
		return fmt.Errorf("tags %v, stale %v", dag.Tags, dag.IsStale)
	}
}

// liveEdits runs the live-edit command beside the running stack, with
// nothing configured but where the stack is (it fetches the live key
// through the module itself), and reads what it says of each save: a new
// file parsed; a file changed twice in a row with the same size, the
// second save within a second of the first (Python's bytecode check
// cannot tell those two apart), repeated until ten rounds had both saves
// in one second, each time "parsed" only once the REST API holds the
// second version; a broken file named with its
// line; a deleted file's DAGs gone; ten files written at once, each
// parsed. The seconds from each write to the REST API are printed.
func liveEdits(t *testing.T, token string) {
	// Built by the module for this machine, as a user of the module builds
	// it, and run in the project with the module named in DAGGER_MODULE.
	bin := filepath.Join(t.TempDir(), "live")
	builder := testProject
	builder.Source = "" // live-client builds from the module alone
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	if _, _, err := builder.Call(ctx, nil, "live-client", "--platform=current", "export", "--path", bin); err != nil {
		fatal(t, err)
	}
	t.Logf("dagger call live-client: %s", time.Since(start).Round(100*time.Millisecond))
	cmd := exec.Command(bin, projectArgs()...)
	cmd.Dir = testProject.Dir
	cmd.Env = append(os.Environ(), "DAGGER_MODULE="+testProject.Module)
	cmd.Env = append(cmd.Env, "AIRFLOW_WWW_PASSWORD="+secrets["E2E_AIRFLOW_WWW_PASSWORD"])
	out := &harness.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		fatal(t, err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		transcript.Write([]byte(out.String()))
		t.Logf("live's output:\n%s", out.String())
	}()
	waitFor(t, "the live command watching", 3*time.Minute, 200*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "watching dags, dbt, plugins") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	dags := filepath.Join(testProject.Dir, "dags")
	write := func(name, content string) time.Time {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dags, name), []byte(content), 0o644); err != nil {
			fatal(t, err)
		}
		return time.Now()
	}
	says := func(name, verdict string) int { return strings.Count(out.String(), "live: dags/"+name+": "+verdict) }
	// await waits for live's n-th line saying verdict of name, and returns
	// the seconds from since.
	await := func(name, verdict string, n int, since time.Time) float64 {
		t.Helper()
		waitFor(t, fmt.Sprintf("live's line %d saying %q of %s", n, verdict, name), 2*time.Minute, 50*time.Millisecond, func() error {
			if says(name, verdict) < n {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		return time.Since(since).Seconds()
	}

	file := "e2e_edit.py"
	t.Cleanup(func() { _ = os.Remove(filepath.Join(dags, file)) })
	at := write(file, string(harness.DAGFile("e2e_edit", "live-a0")))
	took := await(file, "parsed, DAG e2e_edit", 1, at)
	if err := dagTagged(token, "e2e_edit", "live-a0")(); err != nil {
		errorf(t, "live said a new file was parsed, but the REST API shows: %v", err)
	}
	t.Logf("edit-to-verdict, live: a new DAG file parsed %.1f s after the write", took)

	// Same size, the second save as soon as the dag-processor has read
	// the first (its stamp shows it), the first written just after a
	// second began: both within one second, the case Python's bytecode
	// check cannot tell apart (counted).
	key := liveKey(t)
	const wantSameSecond, maxRounds = 10, 15
	sameSecond, rounds := 0, 0
	for i := 1; sameSecond < wantSameSecond && i <= maxRounds; i++ {
		rounds = i
		a, b := fmt.Sprintf("live-a%d", i), fmt.Sprintf("live-b%d", i)
		n := says(file, "parsed, DAG e2e_edit")
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
		first := write(file, string(harness.DAGFile("e2e_edit", a)))
		waitFor(t, "the dag-processor's read of "+a, time.Minute, 10*time.Millisecond, stamped(key, "dags/"+file, harness.DAGFile("e2e_edit", a)))
		second := write(file, string(harness.DAGFile("e2e_edit", b)))
		if first.Unix() == second.Unix() {
			sameSecond++
		}
		took := await(file, "parsed, DAG e2e_edit", n+2, second)
		// "parsed" means the REST API holds what was sent, at once.
		if err := dagTagged(token, "e2e_edit", b)(); err != nil {
			errorf(t, "round %d: live said the second save (%s, same size, %.2f s after the first) was parsed, but the REST API shows: %v",
				i, b, second.Sub(first).Seconds(), err)
		}
		t.Logf("edit-to-verdict, live: a same-size change %.2f s after another, parsed %.1f s after the write", second.Sub(first).Seconds(), took)
	}
	t.Logf("same-size changes: %d rounds, %d with both saves in the same second", rounds, sameSecond)
	if sameSecond < wantSameSecond {
		errorf(t, "only %d of %d rounds saved twice within one second (want %d): the case Python's bytecode check cannot tell apart was not shown to hold", sameSecond, rounds, wantSameSecond)
	}

	n := says(file, "its DAGs are gone")
	at = time.Now()
	_ = os.Remove(filepath.Join(dags, file))
	took = await(file, "its DAGs are gone", n+1, at)
	if err := dagGone(token, "e2e_edit")(); err != nil {
		errorf(t, "live said the deleted file's DAGs are gone, but the REST API shows: %v", err)
	}
	t.Logf("edit-to-verdict, live: a deleted DAG file gone %.1f s after the removal", took)

	// "airflow" and "dag" in it, or Airflow's safe mode skips the file.
	broken := "e2e_edit_broken.py"
	t.Cleanup(func() { _ = os.Remove(filepath.Join(dags, broken)) })
	at = write(broken, "from airflow.sdk import dag  # cannot import\nimport does_not_exist_live\n")
	took = await(broken, "import error at line 2: ModuleNotFoundError: No module named 'does_not_exist_live'", 1, at)
	if err := importError(token, broken, "No module named 'does_not_exist_live'")(); err != nil {
		errorf(t, "live named the broken file, but the REST API: %v", err)
	}
	t.Logf("edit-to-verdict, live: a broken DAG file named %.1f s after the write", took)
	_ = os.Remove(filepath.Join(dags, broken))

	helper := "e2e_edit_helper.py"
	t.Cleanup(func() { _ = os.Remove(filepath.Join(dags, helper)) })
	at = write(helper, "ANSWER = 42  # imported by the DAG files\n")
	await(helper, "no DAG (Airflow parses only files that mention airflow and dag)", 1, at)
	_ = os.Remove(filepath.Join(dags, helper))
	waitFor(t, "the broken file's and the helper module's deletions sent", time.Minute, 200*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "deleted dags/"+broken) || !strings.Contains(out.String(), "deleted dags/"+helper) {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	// Ten new files at once, as a git checkout writes them.
	var ten []string
	for i := range 10 {
		ten = append(ten, fmt.Sprintf("e2e_ten_%d.py", i))
	}
	t.Cleanup(func() {
		for _, f := range ten {
			_ = os.Remove(filepath.Join(dags, f))
		}
	})
	at = time.Now()
	for i, f := range ten {
		write(f, string(harness.DAGFile(fmt.Sprintf("e2e_ten_%d", i), "ten")))
	}
	for i, f := range ten {
		took = await(f, "parsed, DAG "+fmt.Sprintf("e2e_ten_%d", i), 1, at)
		if err := dagTagged(token, fmt.Sprintf("e2e_ten_%d", i), "ten")(); err != nil {
			errorf(t, "live said %s was parsed, but the REST API shows: %v", f, err)
		}
	}
	t.Logf("edit-to-verdict, live: ten new DAG files written at once, all parsed %.1f s after the writes", took)
	at = time.Now()
	for _, f := range ten {
		_ = os.Remove(filepath.Join(dags, f))
	}
	for _, f := range ten {
		took = await(f, "its DAGs are gone", 1, at)
	}
	t.Logf("edit-to-verdict, live: the ten files deleted at once, all gone %.1f s after the removals", took)

	liveDbt(t, out)

	time.Sleep(2 * time.Second) // live looks at Airflow every 250 ms while it follows a file
	for _, f := range []string{broken, helper} {
		if strings.Contains(out.String(), "dags/"+f+": its DAGs are gone") {
			errorf(t, "live says the DAGs of %s, which had none, are gone:\n%s", f, out.String())
		}
	}
	if strings.Contains(out.String(), "has not parsed it within a minute") {
		errorf(t, "live waited a minute in vain for a verdict:\n%s", out.String())
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		errorf(t, "live did not stop cleanly on Ctrl-C: %v", err)
	}
	stopped = true
}

// liveDbt: the dbt half of the live command, beside the running stack,
// with nothing typed: a changed model is built by the stack's warm dbt (its
// new column in the warehouse), with its tests; a SQL error is named with
// its file and line, and the next good save builds; a broken test is named
// failing; two saves 0.1 s apart make one build, of the second version.
// out is the live command's output.
func liveDbt(t *testing.T, out *harness.Buffer) {
	t.Helper()
	model := filepath.Join(testProject.Dir, "dbt/models/staging/stg_customers.sql")
	test := filepath.Join(testProject.Dir, "dbt/tests/assert_revenue_matches_orders.sql")
	goodModel, err := os.ReadFile(model)
	if err != nil {
		fatal(t, err)
	}
	goodTest, err := os.ReadFile(test)
	if err != nil {
		fatal(t, err)
	}
	defer func() { _ = os.WriteFile(model, goodModel, 0o644); _ = os.WriteFile(test, goodTest, 0o644) }()
	withColumn := func(value string) []byte {
		changed, err := harness.WithColumn(goodModel, "e2e_live_column", value)
		if err != nil {
			fatalf(t, "stg_customers.sql: %v", err)
		}
		return changed
	}
	builds := func() int { return strings.Count(out.String(), "live: dbt: built ") }
	save := func(path string, content []byte) time.Time {
		t.Helper()
		if err := os.WriteFile(path, content, 0o644); err != nil {
			fatal(t, err)
		}
		return time.Now()
	}
	awaitBuild := func(n int, since time.Time) float64 {
		t.Helper()
		waitFor(t, fmt.Sprintf("live's dbt build %d", n), 3*time.Minute, 50*time.Millisecond, func() error {
			if builds() < n {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		return time.Since(since).Seconds()
	}
	column := func() string {
		got, err := psql("dbt", secrets["E2E_DBT_DB_PASSWORD"], "analytics", "SELECT e2e_live_column FROM staging.stg_customers LIMIT 1")
		if err != nil {
			return fmt.Sprintf("(%v: %s)", err, got)
		}
		return got
	}

	n := builds()
	took := awaitBuild(n+1, save(model, withColumn("v1")))
	if got := column(); got != "v1" {
		errorf(t, "after live built the changed model, its new column holds %q, want v1", got)
	}
	for _, want := range []string{"live: dbt: model stg_customers: success", "live: dbt: test unique_stg_customers_customer_id: pass"} {
		if !strings.Contains(out.String(), want) {
			errorf(t, "live's output lacks %q", want)
		}
	}
	t.Logf("save-to-built, live: a changed model and its tests %.1f s after the save", took)

	n = builds()
	broken := strings.Replace(string(withColumn("v1")), "select", "selec", 1)
	awaitBuild(n+1, save(model, []byte(broken)))
	if !regexp.MustCompile(`live: dbt: model stg_customers: error, [0-9.]+ s \(models/staging/stg_customers.sql line \d+\): [^\n]*syntax error`).MatchString(out.String()) {
		errorf(t, "live does not name the SQL error with its file and line:\n%s", tail(out.String(), 20))
	}
	n = builds()
	awaitBuild(n+1, save(model, withColumn("v2")))
	if got := column(); got != "v2" {
		errorf(t, "the good save after an error: the column holds %q, want v2", got)
	}

	n = builds()
	awaitBuild(n+1, save(test, []byte("-- broken on purpose by the e2e test\nselect 1 as always_failing\n")))
	if !strings.Contains(out.String(), "live: dbt: test assert_revenue_matches_orders: fail, 1 failures") {
		errorf(t, "live does not name the broken test failing:\n%s", tail(out.String(), 20))
	}
	n = builds()
	awaitBuild(n+1, save(test, goodTest))

	// Two saves 0.1 s apart: one build, of the second.
	n = builds()
	first := save(model, withColumn("v3"))
	time.Sleep(100 * time.Millisecond)
	save(model, withColumn("v4"))
	took = awaitBuild(n+1, first)
	time.Sleep(3 * time.Second) // a second build would have begun by now
	if got := builds(); got != n+1 {
		errorf(t, "two saves 0.1 s apart made %d builds, want 1", got-n)
	}
	if got := column(); got != "v4" {
		errorf(t, "after two quick saves the column holds %q, want the second's v4", got)
	}
	t.Logf("save-to-built, live: two saves 0.1 s apart, one build %.1f s after the first", took)
	save(model, goodModel)
	awaitBuild(builds()+1, time.Now())
}

// liveKey is the test project's live key, fetched as the live command
// fetches it (and kept out of the transcript: printing it is the call's
// purpose, no leak to scan for).
func liveKey(t *testing.T) string {
	t.Helper()
	quiet := testProject
	quiet.Transcript = nil
	key, _, err := quiet.Call(t.Context(), nil, "live-key", "plaintext")
	if err != nil {
		fatal(t, err)
	}
	if key = strings.TrimSpace(key); len(key) < 40 {
		fatalf(t, "live-key printed %d characters, not a key", len(key))
	}
	return key
}

// stamped waits until the dag-processor has read content as the file p
// ("dags/x.py"), as its stamp on the stack's receiver says.
func stamped(key, p string, content []byte) func() error {
	want := sha256.Sum256(content)
	return func() error {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://localhost:%d/parsed/%s", livePort, p), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var s struct {
			SHA256 string `json:"sha256"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.SHA256 != hex.EncodeToString(want[:]) {
			return fmt.Errorf("%s: its stamp names %q (%v)", resp.Status, s.SHA256, err)
		}
		return nil
	}
}

// liveReceiverRefusesStrangers: the stack's receiver (LIVE_PORT, on every
// interface of the machine) writes DAG files, code every worker runs, only
// for the project's live key: with no credential, a wrong key, the spec's
// default admin login or the stack's own admin login it answers 401 and
// writes nothing; with the key (fetched as the live command fetches it),
// it lists the folders.
func liveReceiverRefusesStrangers(t *testing.T, token string) {
	key := liveKey(t)
	base := fmt.Sprintf("http://localhost:%d", livePort)
	intruder := harness.DAGFile("e2e_intruder", "intruder")
	for what, auth := range map[string]func(*http.Request){
		"no credential":                  func(*http.Request) {},
		"a wrong key":                    func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", len(key))) },
		"the spec's default admin login": func(r *http.Request) { r.SetBasicAuth("airflow", "airflow") },
		"the stack's admin login":        func(r *http.Request) { r.SetBasicAuth("airflow", secrets["E2E_AIRFLOW_WWW_PASSWORD"]) },
	} {
		req, _ := http.NewRequest("PUT", base+"/files/dags/e2e_intruder.py", strings.NewReader(string(intruder)))
		auth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fatal(t, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			errorf(t, "a PUT with %s: %s, want 401", what, resp.Status)
		}
	}
	req, _ := http.NewRequest("GET", base+"/files", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fatal(t, err)
	}
	defer resp.Body.Close()
	var listing map[string]map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&listing); err != nil || resp.StatusCode != http.StatusOK {
		fatalf(t, "GET /files with the live key: %s, %v", resp.Status, err)
	}
	if _, written := listing["dags"]["e2e_intruder.py"]; written || len(listing["dags"]) == 0 {
		errorf(t, "the stack's dags/ after the refused PUTs: %v", keys(listing["dags"]))
	}
	time.Sleep(6 * time.Second) // the dag-processor looks for new files every 5 s
	if err := api("GET", "/api/v2/dags/e2e_intruder", token, nil, nil); err == nil || !strings.Contains(err.Error(), "404") {
		errorf(t, "Airflow knows a DAG of a refused PUT: %v", err)
	}
}

// dagGone waits until DAG id is stale or unknown to the REST API.
func dagGone(token, id string) func() error {
	return func() error {
		var dag struct {
			IsStale bool `json:"is_stale"`
		}
		err := api("GET", "/api/v2/dags/"+id, token, nil, &dag)
		if err != nil && strings.Contains(err.Error(), "404") || err == nil && dag.IsStale {
			return nil
		}
		return fmt.Errorf("still active (%v)", err)
	}
}

// importError waits until the REST API lists an import error of file with
// Python's message.
func importError(token, file, message string) func() error {
	return func() error {
		var errs json.RawMessage
		if err := api("GET", "/api/v2/importErrors", token, nil, &errs); err != nil {
			return err
		}
		if !strings.Contains(string(errs), file) || !strings.Contains(string(errs), message) {
			return fmt.Errorf("not listed yet")
		}
		return nil
	}
}
