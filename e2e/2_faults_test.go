//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fault-test project: its own data, its own DAGs (fault_retry,
// remote_fanout) and an Airflow setting that fails a task whose worker
// died after 30 s instead of 300 s (e2e/testdata/faults/config/airflow.cfg),
// in the test project's folder faults/ (AIRFLOW_PROJ_DIR).
const faultProject = "e2e-faults"

func faultArgs() []string {
	return append(moduleArgs(),
		"--set", "COMPOSE_PROJECT_NAME="+faultProject,
		"--set", "AIRFLOW_PROJ_DIR=faults",
		"--set", fmt.Sprintf("VALKEY_PORT=%d", valkeyPort))
}

// TestFaults kills a Celery worker in the middle of a task, then stops
// PostgreSQL under a running scheduler, and checks the stack recovers from
// both: the DAG runs still succeed. Then workers of a second machine join
// the stack, and that machine goes away mid-run (remoteWorkers).
func TestFaults(t *testing.T) {
	recapOnFailure(t)
	needPrivilege(t)
	module := faultArgs()
	wipe(t, module)
	st := startWith(t, module, "up", "--workers", "2", "--flower", "--remote-workers", "up")
	defer func() {
		stop(t, st)
		if t.Failed() {
			t.Logf("up output (tail):\n%s", tail(st.Log.String(), 80))
		}
	}()
	waitHealthy(t, st, 15*time.Minute)
	t.Run("--remote-workers adds one host port, Valkey's", func(t *testing.T) {
		ports := hostPorts(t, st)
		if want := []int{pgPort, flowerPort, valkeyPort, apiPort, livePort}; !slices.Equal(ports, want) {
			errorf(t, "up --flower --remote-workers listens on %v, want %v", ports, want)
		}
		if stackPorts != nil {
			if added := slices.DeleteFunc(slices.Clone(ports), func(p int) bool { return slices.Contains(stackPorts, p) }); !slices.Equal(added, []int{valkeyPort}) {
				errorf(t, "--remote-workers adds %v to the ports of `up --flower` (%v), want only VALKEY_PORT %d", added, stackPorts, valkeyPort)
			}
		}
	})
	token := login(t)
	waitFor(t, "fault_retry registered and unpaused", 3*time.Minute, 3*time.Second, func() error {
		return api("PATCH", "/api/v2/dags/fault_retry", token, map[string]any{"is_paused": false}, nil)
	})

	t.Run("a worker killed while its task runs", func(t *testing.T) {
		runID := triggerFault(t, token, map[string]any{"hold": true})
		// The first try holds: find its marker process and the worker above it.
		var marker proc
		ps := waitProcs(t, "the task running on a worker", func(ps []proc) bool {
			for _, p := range ps {
				if p.argv[0] == "sh" && strings.Contains(p.cmdline(), "fault-test "+runID) {
					marker = p
					return true
				}
			}
			return false
		})
		sup, worker, err := supervisorOf(ps, marker.pid)
		if err != nil {
			fatal(t, err)
		}
		before := children(ps, sup.pid)
		killed := killDescendants(sup.pid)
		killedAt := time.Now()
		t.Logf("fault: SIGKILL to all %d processes of %s while try 1 of run %s ran on it", killed, worker, runID)

		waitProcs(t, worker+" restarted by its supervisor", func(ps []proc) bool {
			for _, c := range children(ps, sup.pid) {
				if len(before) == 0 || c.pid != before[0].pid {
					return strings.Contains(c.cmdline(), "celery")
				}
			}
			return false
		})
		state := waitRun(t, token, runID, 8*time.Minute)
		ti := taskInstance(t, token, runID)
		t.Logf("run %s: %s %s after the kill; task %s at try %d",
			runID, state, time.Since(killedAt).Round(time.Second), ti.State, ti.TryNumber)
		if state != "success" {
			fatalf(t, "run %s ended %s after its worker was killed", runID, state)
		}
		if ti.TryNumber != 2 {
			errorf(t, "the task succeeded at try %d, want 2 (the first try died with its worker)", ti.TryNumber)
		}
	})

	t.Run("postgres stopped while the scheduler runs", func(t *testing.T) {
		waitHealthy(t, st, 3*time.Minute)
		sup, err := supervisor("postgres", faultProject)
		if err != nil {
			fatal(t, err)
		}
		server := children(processes(), sup.pid)
		if len(server) != 1 {
			fatalf(t, "postgres's supervisor has %d children, want the server", len(server))
		}
		restartsBefore := strings.Count(st.Log.String(), "airflow-scheduler: exited")
		// Hold the supervisor, so postgres stays down like after `docker
		// stop`, then stop the server (INT: its fast shutdown).
		if signal(syscall.SIGSTOP, sup.pid) != 1 {
			fatalf(t, "SIGSTOP did not reach postgres's supervisor (%d)", sup.pid)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				signal(syscall.SIGCONT, sup.pid)
			}
		}
		defer resume()
		if signal(syscall.SIGINT, server[0].pid) != 1 {
			fatalf(t, "SIGINT did not reach postgres (%d)", server[0].pid)
		}
		stoppedAt := time.Now()
		waitFor(t, "postgres down", time.Minute, time.Second, func() error {
			if _, err := psql("airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "airflow", "select 1"); err == nil {
				return errors.New("still answers")
			}
			return nil
		})
		// The scheduler keeps running against a database that is gone.
		time.Sleep(20*time.Second - time.Since(stoppedAt))
		resume()
		resumedAt := time.Now()
		waitFor(t, "postgres back", 2*time.Minute, time.Second, func() error {
			_, err := psql("airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "airflow", "select 1")
			return err
		})
		backAt := time.Now()
		// Healthy is not enough: the report tolerates a 30 s old heartbeat.
		waitFor(t, "scheduler heartbeating again", 5*time.Minute, 2*time.Second, func() error {
			var health struct {
				Scheduler struct {
					Heartbeat *time.Time `json:"latest_scheduler_heartbeat"`
				} `json:"scheduler"`
			}
			if err := api("GET", "/api/v2/monitor/health", "", nil, &health); err != nil {
				return err
			}
			if hb := health.Scheduler.Heartbeat; hb == nil || hb.Before(backAt) {
				return fmt.Errorf("last heartbeat %v", hb)
			}
			return nil
		})
		healthyAt := time.Now()
		restarts := strings.Count(st.Log.String(), "airflow-scheduler: exited") - restartsBefore
		runID := triggerFault(t, token, nil)
		state := waitRun(t, token, runID, 5*time.Minute)
		t.Logf("fault: postgres down %s (held stopped %s, answering %s after its supervisor was let go); "+
			"scheduler heartbeating %s after that; scheduler restarts: %d; next run %s: %s",
			backAt.Sub(stoppedAt).Round(time.Second), resumedAt.Sub(stoppedAt).Round(time.Second),
			backAt.Sub(resumedAt).Round(time.Second), healthyAt.Sub(backAt).Round(time.Second), restarts, runID, state)
		if state != "success" {
			fatalf(t, "the first run after postgres came back ended %s", state)
		}
	})

	t.Run("workers of another machine", func(t *testing.T) {
		waitHealthy(t, st, 3*time.Minute)
		remoteWorkers(t, login(t))
	})
}

// triggerFault starts a fault_retry run with conf and returns its id.
func triggerFault(t *testing.T, token string, conf map[string]any) string {
	t.Helper()
	var run struct {
		DagRunID string `json:"dag_run_id"`
	}
	body := map[string]any{"logical_date": nil, "dag_run_id": fmt.Sprintf("fault-%d", time.Now().UnixNano())}
	if conf != nil {
		body["conf"] = conf
	}
	if err := api("POST", "/api/v2/dags/fault_retry/dagRuns", token, body, &run); err != nil {
		fatal(t, err)
	}
	return run.DagRunID
}

// waitRun waits for a fault_retry run to end and returns its final state.
func waitRun(t *testing.T, token, runID string, timeout time.Duration) string {
	t.Helper()
	var run struct{ State string }
	waitFor(t, "run "+runID+" ended", timeout, 2*time.Second, func() error {
		if err := api("GET", "/api/v2/dags/fault_retry/dagRuns/"+runID, token, nil, &run); err != nil {
			return err
		}
		if run.State == "success" || run.State == "failed" {
			return nil
		}
		return fmt.Errorf("state %s", run.State)
	})
	return run.State
}

type faultTI struct {
	State     string `json:"state"`
	TryNumber int    `json:"try_number"`
}

func taskInstance(t *testing.T, token, runID string) faultTI {
	t.Helper()
	var ti faultTI
	if err := api("GET", "/api/v2/dags/fault_retry/dagRuns/"+runID+"/taskInstances/hold", token, nil, &ti); err != nil {
		fatal(t, err)
	}
	return ti
}

// waitProcs polls the host's processes until found is true, and returns
// the list it was true for.
func waitProcs(t *testing.T, what string, found func([]proc) bool) []proc {
	t.Helper()
	var ps []proc
	waitFor(t, what, 3*time.Minute, 500*time.Millisecond, func() error {
		ps = processes()
		if !found(ps) {
			return errors.New("not yet")
		}
		return nil
	})
	return ps
}
