//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const dagID = "elt_shop_orders"

// TestFunctionsListed: the Go module loads in the engine and shows its API.
func TestFunctionsListed(t *testing.T) {
	out, err := daggerCmd(t.Context(), "functions").CombinedOutput()
	if err != nil {
		t.Fatalf("dagger functions: %v\n%s", err, tail(string(out), 40))
	}
	for _, fn := range []string{"up", "dbt", "dbt-target", "dbt-docs", "airflow-cli", "init", "wipe", "dag-check",
		"elt-check", "postgres", "valkey", "api-server", "scheduler", "dag-processor", "triggerer", "worker", "flower"} {
		if !strings.Contains(string(out), "\n"+fn+" ") {
			t.Errorf("dagger functions does not list %s", fn)
		}
	}
}

// TestModuleChecks runs every `+check` function: the contract of each image
// the module pulls (stand-ins in CI) and the DAG import check.
func TestModuleChecks(t *testing.T) {
	ctx := t.Context()
	cmd := daggerCmd(ctx, "check", "--progress=plain")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dagger check: %v\n%s", err, tail(string(out), 80))
	}
	for _, name := range []string{"checkDags", "checkPostgresImage", "checkValkeyImage", "checkAirflowImage", "checkDbtImage"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("dagger check did not run %s", name)
		}
	}
}

func TestDagCheckNamesBrokenFile(t *testing.T) {
	out, err := call(t, 10*time.Minute, "dag-check", "--dags", "e2e/testdata/broken_dags")
	if err == nil {
		t.Fatalf("broken DAG passed the check:\n%s", out)
	}
	for _, want := range []string{"broken_dag.py", "does_not_exist", "1 DAG file(s) failed to import"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	ok := mustCall(t, 10*time.Minute, "dag-check")
	if !strings.Contains(ok, "ok     "+dagID) {
		t.Errorf("shipped DAG not reported as ok:\n%s", ok)
	}
}

// Two problems of different kinds (a value that is not a number, an
// invalid one) come in one error, in the module's own words.
func TestInvalidConfigFailsBeforeStart(t *testing.T) {
	_, err := call(t, 5*time.Minute, "--set", "VALKEY_MAXMEMORY=256", "--set", "POSTGRES_PORT=http", "config")
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{`VALKEY_MAXMEMORY: "256" needs a positive size with a unit`, `POSTGRES_PORT: "http" is not a whole number`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestStack brings the whole stack up as a user would, with two workers and
// Flower, and walks the spec: health, API, database roles, Flower, an ELT
// run through Airflow and dbt, the ad-hoc CLI; then dbt on its own.
func TestStack(t *testing.T) {
	writeDotenv(t, stackDotenv())
	mustCall(t, 10*time.Minute, "wipe")
	st := startStack(t, "--workers", "2", "--flower")
	stopped := false
	defer func() {
		if !stopped {
			st.stop(t)
		}
		if t.Failed() {
			t.Logf("up output (tail):\n%s", tail(st.log.String(), 80))
		}
	}()

	st.waitHealthy(t, 15*time.Minute)

	var token string
	t.Run("token works on the REST API", func(t *testing.T) {
		token = login(t)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := api("POST", "/auth/token", "", map[string]string{"username": "airflow", "password": "wrong"}, &tok); err == nil {
			t.Error("a wrong admin password got a token")
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

	t.Run("postgres roles have least privilege", func(t *testing.T) {
		out, err := psql("app", secrets["E2E_POSTGRES_PASSWORD"], "app", "SELECT current_user")
		if err != nil || out != "app" {
			t.Fatalf("app user: %v %s", err, out)
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
				t.Errorf("%s could connect to %s: %v %s", d.user, d.db, err, out)
			}
		}
		out, err = psql("app", secrets["E2E_POSTGRES_PASSWORD"], "app",
			"SELECT string_agg(rolname || '=' || rolsuper || rolcreatedb || rolcreaterole, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('airflow','dbt')")
		if err != nil || out != "airflow=falsefalsefalse,dbt=falsefalsefalse" {
			t.Errorf("role attributes: %v %s", err, out)
		}
	})

	t.Run("flower shows two workers", func(t *testing.T) {
		waitFor(t, "two workers in Flower", 3*time.Minute, 5*time.Second, func() error {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://localhost:%d/api/workers?refresh=true", flowerPort), nil)
			req.SetBasicAuth("airflow", secrets["E2E_AIRFLOW_WWW_PASSWORD"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var workers map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&workers); err != nil {
				return err
			}
			n := 0
			for name := range workers {
				if strings.HasPrefix(name, "airflow-worker-") {
					n++
				}
			}
			if n != 2 {
				return fmt.Errorf("workers: %v", keys(workers))
			}
			return nil
		})
	})

	t.Run("ELT: DAG run, dbt build, marts match the loaded rows", func(t *testing.T) {
		run := runDAG(t, token)
		// The load task used the connection and the variable from .env.
		var logs json.RawMessage
		if err := api("GET", run+"/taskInstances/load/logs/1", token, nil, &logs); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(logs), "loading into the Airflow connection 'e2e_warehouse'") {
			t.Errorf("load did not use AIRFLOW_CONN_E2E_WAREHOUSE from .env:\n%s", tail(string(logs), 40))
		}
		out := mustCall(t, 15*time.Minute, "dbt", "--cmd", "build", "--db", fmt.Sprintf("tcp://localhost:%d", pgPort))
		if !strings.Contains(out, "Completed successfully") {
			t.Fatalf("dbt build:\n%s", out)
		}
		dbtPW := secrets["E2E_DBT_DB_PASSWORD"]
		raw, err := psql("dbt", dbtPW, "analytics", "SELECT count(*) FROM raw.orders")
		if err != nil {
			t.Fatal(raw, err)
		}
		checks := map[string]string{
			"SELECT sum(orders) FROM marts.daily_revenue": raw,
			"SELECT count(*) FROM marts.customer_revenue": "20",
			"SELECT (SELECT count(*) FROM raw.orders WHERE status <> 'returned') = (SELECT sum(orders) FROM marts.customer_revenue)": "t",
		}
		for q, want := range checks {
			got, err := psql("dbt", dbtPW, "analytics", q)
			if err != nil || got != want {
				t.Errorf("%s = %q (%v), want %q", q, got, err, want)
			}
		}
		t.Logf("raw.orders rows: %s", raw)
	})

	t.Run("deferrable sensor waits on the triggerer", func(t *testing.T) {
		base := "/api/v2/dags/deferred_heartbeat"
		if err := api("PATCH", base, token, map[string]any{"is_paused": false}, nil); err != nil {
			t.Fatal(err)
		}
		var run struct {
			DagRunID string `json:"dag_run_id"`
			State    string `json:"state"`
		}
		if err := api("POST", base+"/dagRuns", token, map[string]any{"logical_date": nil}, &run); err != nil {
			t.Fatal(err)
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
			t.Fatalf("deferrable DAG run ended %s", run.State)
		}
		if !sawDeferred {
			t.Error("the sensor was never seen in state deferred")
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
				t.Errorf("config lacks %q:\n%s", want, cfg)
			}
		}
		out := mustCall(t, 10*time.Minute, "airflow-cli", "--args", "config get-value core default_task_retries",
			"--db", fmt.Sprintf("tcp://localhost:%d", pgPort))
		if strings.TrimSpace(out) != "4" {
			t.Errorf("airflow config get-value core default_task_retries = %q, want 4 (from .env)", out)
		}
	})

	t.Run("ad-hoc airflow CLI lists the DAGs", func(t *testing.T) {
		out := mustCall(t, 10*time.Minute, "airflow-cli", "--args", "dags list", "--db", fmt.Sprintf("tcp://localhost:%d", pgPort))
		for _, id := range []string{dagID, "deferred_heartbeat"} {
			if !strings.Contains(out, id) {
				t.Errorf("dags list lacks %s:\n%s", id, out)
			}
		}
	})

	st.stop(t)
	stopped = true

	t.Run("dbt on its own, never from cache", func(t *testing.T) {
		debug := mustCall(t, 10*time.Minute, "dbt", "--cmd", "debug")
		if !strings.Contains(debug, "All checks passed") {
			t.Errorf("dbt debug:\n%s", debug)
		}
		first := mustCall(t, 10*time.Minute, "dbt", "--cmd", "test")
		second := mustCall(t, 10*time.Minute, "dbt", "--cmd", "test")
		for _, out := range []string{first, second} {
			if !strings.Contains(out, "Completed successfully") {
				t.Fatalf("dbt test:\n%s", out)
			}
		}
		if first == second {
			t.Error("second dbt test printed exactly the first one's output: answered from cache")
		}
	})
}

// runDAG unpauses and triggers the example DAG, and waits for success; on
// failure it prints every task's log.
// runDAG triggers the example DAG, waits for it to succeed, and returns the
// run's REST path.
func runDAG(t *testing.T, token string) string {
	t.Helper()
	base := "/api/v2/dags/" + dagID
	if err := api("PATCH", base, token, map[string]any{"is_paused": false}, nil); err != nil {
		t.Fatal(err)
	}
	var run struct {
		DagRunID string `json:"dag_run_id"`
		State    string `json:"state"`
	}
	// Unpausing also schedules yesterday's run (catchup is off): trigger an
	// earlier day, so the two never share a logical date.
	logical := time.Now().UTC().Add(-72 * time.Hour).Truncate(24 * time.Hour).Format(time.RFC3339)
	if err := api("POST", base+"/dagRuns", token, map[string]any{"logical_date": logical, "dag_run_id": "e2e-" + fmt.Sprint(time.Now().Unix())}, &run); err != nil {
		t.Fatal(err)
	}
	path := base + "/dagRuns/" + run.DagRunID
	var final string
	waitFor(t, "DAG run finished", 10*time.Minute, 5*time.Second, func() error {
		if err := api("GET", path, token, nil, &run); err != nil {
			return err
		}
		if run.State == "success" || run.State == "failed" {
			final = run.State
			return nil
		}
		return fmt.Errorf("state %s", run.State)
	})
	if final != "success" {
		var tis struct {
			TaskInstances []struct {
				TaskID    string `json:"task_id"`
				State     string `json:"state"`
				TryNumber int    `json:"try_number"`
			} `json:"task_instances"`
		}
		_ = api("GET", path+"/taskInstances", token, nil, &tis)
		for _, ti := range tis.TaskInstances {
			var logs map[string]any
			_ = api("GET", fmt.Sprintf("%s/taskInstances/%s/logs/%d", path, ti.TaskID, max(ti.TryNumber, 1)), token, nil, &logs)
			b, _ := json.MarshalIndent(logs, "", " ")
			t.Logf("task %s: %s\n%s", ti.TaskID, ti.State, tail(string(b), 60))
		}
		t.Fatalf("DAG run %s ended %s", run.DagRunID, final)
	}
	// The scheduled run may still be loading: let every run finish before
	// the marts are compared with raw.orders.
	waitFor(t, "no DAG run active", 10*time.Minute, 5*time.Second, func() error {
		var runs struct {
			DagRuns []struct {
				State string `json:"state"`
			} `json:"dag_runs"`
		}
		if err := api("GET", base+"/dagRuns", token, nil, &runs); err != nil {
			return err
		}
		for _, r := range runs.DagRuns {
			if r.State == "failed" {
				return fmt.Errorf("a scheduled run failed")
			}
			if r.State != "success" {
				return fmt.Errorf("a run is %s", r.State)
			}
		}
		return nil
	})
	return path
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestEltCheckFunction runs the module's own end-to-end check on fresh data:
// the stack, the DAG through the REST API, dbt build, marts against raw rows.
func TestEltCheckFunction(t *testing.T) {
	mustCall(t, 10*time.Minute, "wipe")
	out := mustCall(t, 30*time.Minute, "elt-check")
	for _, want := range []string{"ELT check passed", "ok   orders in marts.daily_revenue", "Completed successfully"} {
		if !strings.Contains(out, want) {
			t.Errorf("elt-check output lacks %q:\n%s", want, tail(out, 40))
		}
	}
	t.Log(tail(out, 6))
}

// TestDbtDocsServe serves the generated dbt docs and fetches the page, the
// manifest (the project's models) and the catalog (what the database holds).
func TestDbtDocsServe(t *testing.T) {
	const port = 18081
	docs := startService(t, "dbt-docs", "up", "--ports", fmt.Sprintf("%d:8081", port))
	defer docs.stop(t)
	var body string
	waitFor(t, "dbt docs served", 10*time.Minute, 3*time.Second, func() error {
		if docs.exited() {
			t.Fatalf("dbt-docs exited:\n%s", tail(docs.log.String(), 40))
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
			t.Errorf("docs lack %q", want)
		}
	}
}
