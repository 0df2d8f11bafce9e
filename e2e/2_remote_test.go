//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/pipeline"
	"dagger/data-platform/restapi"
)

// remoteDAG has 20 tasks of 15 s each, which retry (testdata/faults/dags).
const remoteDAG = "remote_fanout"

// remoteWorkers runs a worker node beside the fault-test stack (started
// with --remote-workers), as a second machine would: another session
// whose containers know none of the stack's names and reach it only by
// address and host port. Its workers take tasks, their logs are read
// through the stack's REST API, Flower lists them, killing them loses no
// task, and a wrong Valkey password stops it at start.
func remoteWorkers(t *testing.T, token string) {
	addr, err := harness.HostAddr()
	if err != nil {
		fatal(t, err)
	}
	node := []string{"worker-node", "--stack", addr, "--advertise", addr}
	nodeProject := faultProject + "-node"

	// Each way the node's check fails, named by the variable to fix: the
	// stack refuses a password, or nothing of the stack answers at a port.
	t.Run("a wrong password or port fails at start, named", func(t *testing.T) {
		for _, c := range []struct {
			what    string
			secrets map[string]string // secret argument -> the variable that passes another value
			set     []string
			want    []string
		}{
			{"wrong passwords, the API's port closed", map[string]string{
				"env://E2E_VALKEY_PASSWORD":     "env://E2E_NEW_VALKEY_PASSWORD",
				"env://E2E_AIRFLOW_DB_PASSWORD": "env://E2E_NEW_AIRFLOW_DB_PASSWORD",
			}, []string{"AIRFLOW_API_PORT=18181"}, []string{
				fmt.Sprintf("VALKEY_PASSWORD: the stack's Valkey at %s:%d refused the password", addr, valkeyPort),
				fmt.Sprintf("AIRFLOW_DB_PASSWORD: the stack's PostgreSQL at %s:%d refused the password of role airflow", addr, pgPort),
				"AIRFLOW_API_PORT: the stack's api-server does not answer at http://" + addr + ":18181",
			}},
			{"Valkey's and PostgreSQL's ports closed", nil, []string{"VALKEY_PORT=16380", "POSTGRES_PORT=15433"}, []string{
				"VALKEY_PORT: no Valkey answers at " + addr + ":16380",
				"POSTGRES_PORT: no PostgreSQL of the stack answers at " + addr + ":15433",
			}},
		} {
			wrong := slices.Clone(faultArgs())
			for i, a := range wrong {
				if other, ok := c.secrets[a]; ok {
					wrong[i] = other
				}
			}
			for _, s := range c.set {
				wrong = append(wrong, "--set", s)
			}
			start := time.Now()
			out, err := callWith(t, 10*time.Minute, wrong, append(node, "up")...)
			if err == nil {
				fatalf(t, "%s: the worker node started:\n%s", c.what, tail(out, 20))
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					errorf(t, "%s: the error lacks %q:\n%s", c.what, want, tail(err.Error(), 30))
				}
			}
			t.Logf("%s: refused in %s", c.what, time.Since(start).Round(time.Second))
		}
	})

	st := startWith(t, faultArgs(), append(node, "--workers", "2", "up")...)
	stopped := false
	defer func() {
		if !stopped {
			stop(t, st)
		}
		if t.Failed() {
			t.Logf("worker-node output (tail):\n%s", tail(st.Log.String(), 60))
		}
	}()
	t0 := time.Now()
	if err := harness.WaitPort(st, pipeline.PortWorkerLog, 10*time.Minute); err != nil {
		fatal(t, err)
	}
	t.Logf("the worker node's log server on the host after %s", time.Since(t0).Round(time.Second))
	nodeWorkers := []string{"airflow-worker-1@" + addr, "airflow-worker-2@" + addr}

	t.Run("flower on the stack lists the node's workers", func(t *testing.T) {
		waitFor(t, "the node's workers in Flower", 3*time.Minute, 3*time.Second, func() error {
			names, err := flowerWorkers()
			if err != nil {
				return err
			}
			for _, w := range nodeWorkers {
				if !slices.Contains(names, w) {
					return fmt.Errorf("workers: %v", names)
				}
			}
			return nil
		})
	})

	t.Run("tasks run on both machines, logs read through the stack", func(t *testing.T) {
		run, err := restapi.RunDAG(testProject.API(), token, remoteDAG,
			map[string]any{"logical_date": nil, "dag_run_id": fmt.Sprintf("remote-%d", time.Now().UnixNano())}, 10*time.Minute)
		if err != nil {
			fatal(t, err)
		}
		tis := remoteTasks(t, token, run.DagRunID)
		var onNode, onStack []remoteTI
		for _, ti := range tis {
			if ti.Hostname == addr {
				onNode = append(onNode, ti)
			} else {
				onStack = append(onStack, ti)
			}
		}
		t.Logf("run %s: %d tasks on the node (%s), %d on the stack's workers", run.DagRunID, len(onNode), addr, len(onStack))
		if len(tis) != 20 || len(onNode) == 0 || len(onStack) == 0 {
			fatalf(t, "want 20 tasks on both machines, got %d: %d on the node, %d on the stack", len(tis), len(onNode), len(onStack))
		}
		ti := onNode[0]
		log := taskLog(t, token, run.DagRunID, ti)
		want := fmt.Sprintf("remote-fanout task %d try 1 on %s", ti.MapIndex, addr)
		if !strings.Contains(log, want) || !strings.Contains(log, fmt.Sprintf("http://%s:%d/log/", addr, pipeline.PortWorkerLog)) {
			fatalf(t, "the log of task %d, read through the stack, is not the node's (want %q from its log server):\n%s", ti.MapIndex, want, tail(log, 20))
		}
	})

	t.Run("the node killed mid-run loses no task", func(t *testing.T) {
		runID := fmt.Sprintf("remote-kill-%d", time.Now().UnixNano())
		type result struct {
			run restapi.DagRun
			err error
		}
		done := make(chan result, 1)
		go func() {
			run, err := restapi.RunDAG(testProject.API(), token, remoteDAG,
				map[string]any{"logical_date": nil, "dag_run_id": runID}, 15*time.Minute)
			done <- result{run, err}
		}()
		var running []remoteTI
		waitFor(t, "a task of the run running on the node", 5*time.Minute, time.Second, func() error {
			running = nil
			tis, err := readRemoteTasks(token, runID)
			if err != nil {
				return err // the run may not exist yet
			}
			for _, ti := range tis {
				if ti.Hostname == addr && ti.State == "running" {
					running = append(running, ti)
				}
			}
			if len(running) == 0 {
				return errors.New("none yet")
			}
			return nil
		})
		// The machine goes away: its CLI and every process of its containers
		// (the engine would stop them only some seconds later).
		st.Kill()
		stopped = true
		killedAt := time.Now()
		var pids []int
		for _, p := range projectProcesses(nodeProject, "") {
			pids = append(pids, p.pid)
		}
		killed := signal(syscall.SIGKILL, pids...)
		waitFor(t, "the node's workers gone", 2*time.Minute, time.Second, func() error {
			if ps := projectProcesses(nodeProject, "celery"); len(ps) > 0 {
				return fmt.Errorf("%d processes left", len(ps))
			}
			return nil
		})
		t.Logf("SIGKILL to the worker node's CLI and its %d processes", killed)
		t.Logf("killed the worker node while %d tasks ran on it", len(running))
		r := <-done
		if r.err != nil {
			fatalf(t, "after the node was killed: %v", r.err)
		}
		t.Logf("run %s succeeded %s after the kill", runID, time.Since(killedAt).Round(time.Second))
		final := remoteTasks(t, token, runID)
		for _, lost := range running {
			for _, ti := range final {
				if ti.MapIndex != lost.MapIndex {
					continue
				}
				if ti.State != "success" || ti.TryNumber < 2 || ti.Hostname == addr {
					errorf(t, "task %d, running on the killed node: %s at try %d on %s; want success at a later try on the stack",
						ti.MapIndex, ti.State, ti.TryNumber, ti.Hostname)
				}
			}
		}
	})
}

type remoteTI struct {
	MapIndex  int    `json:"map_index"`
	State     string `json:"state"`
	TryNumber int    `json:"try_number"`
	Hostname  string `json:"hostname"`
}

// remoteTasks are the task instances of a remote_fanout run.
func remoteTasks(t *testing.T, token, runID string) []remoteTI {
	t.Helper()
	tis, err := readRemoteTasks(token, runID)
	if err != nil {
		fatal(t, err)
	}
	return tis
}

// readRemoteTasks reads them; an error while the run does not exist yet.
func readRemoteTasks(token, runID string) ([]remoteTI, error) {
	var out struct {
		TaskInstances []remoteTI `json:"task_instances"`
	}
	path := fmt.Sprintf("/api/v2/dags/%s/dagRuns/%s/taskInstances?limit=100", remoteDAG, url.PathEscape(runID))
	err := api("GET", path, token, nil, &out)
	return out.TaskInstances, err
}

// taskLog is a task's log of its try, as the stack's REST API serves it.
func taskLog(t *testing.T, token, runID string, ti remoteTI) string {
	t.Helper()
	var out struct {
		Content []json.RawMessage `json:"content"`
	}
	path := fmt.Sprintf("/api/v2/dags/%s/dagRuns/%s/taskInstances/work/logs/%d?map_index=%d&full_content=true",
		remoteDAG, url.PathEscape(runID), ti.TryNumber, ti.MapIndex)
	if err := api("GET", path, token, nil, &out); err != nil {
		fatal(t, err)
	}
	var b strings.Builder
	for _, c := range out.Content {
		b.Write(c)
		b.WriteByte('\n')
	}
	return b.String()
}

// flowerWorkers are the workers Flower on the stack knows, by name.
func flowerWorkers() ([]string, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://localhost:%d/api/workers?refresh=true", flowerPort), nil)
	req.SetBasicAuth("airflow", secrets["E2E_AIRFLOW_WWW_PASSWORD"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var workers map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&workers); err != nil {
		return nil, err
	}
	return keys(workers), nil
}
