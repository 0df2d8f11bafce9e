package main

import (
	"fmt"
	"os"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/pipeline"
	"dagger/data-platform/restapi"
)

const (
	oneLocal      = "throughput, 50-task DAG, 1 local worker"
	localAndNodes = "throughput, 50-task DAG, 1 local + 2 remote workers"
)

// remoteWorkers measures the 50-task DAG on the module's stack with its one
// worker, then with a worker node of two more workers joined (`go run
// ./bench -remote`). The node runs on this machine too, so the figures
// show the overhead of the remote path and that it works, not a speed-up:
// both share the same cores.
func remoteWorkers(runs int) {
	addr, err := harness.HostAddr()
	must(err)
	mod := &module{upArgs: []string{"--remote-workers"}}
	must(mod.Wipe())
	var onNode int
	up(mod, func() {
		token, err := restapi.Token(apiBase, "airflow", "airflow")
		must(err)
		fanout := func(measure string) []string {
			run, err := restapi.RunDAG(apiBase, token, "bench_fanout", nil, 15*time.Minute)
			must(err)
			record(measure, "tasks/min", mod.Name(), 50/run.EndDate.Sub(run.StartDate).Minutes())
			return hostnames(token, run.DagRunID)
		}
		for i := 0; i < runs; i++ {
			fanout(oneLocal)
		}
		node, err := benchProject.Start(nil, nil, "worker-node", "--stack", addr, "--advertise", addr, "--workers", "2", "up")
		must(err)
		defer node.Stop(time.Minute)
		must(harness.WaitPort(node, pipeline.PortWorkerLog, 10*time.Minute))
		for i := 0; i < runs; i++ {
			for _, h := range fanout(localAndNodes) {
				if h == addr {
					onNode++
				}
			}
		}
	})
	for _, m := range []string{oneLocal, localAndNodes} {
		if len(figures[m][mod.Name()]) < runs {
			must(fmt.Errorf("missing figure: %s has %d of %d runs", m, len(figures[m][mod.Name()]), runs))
		}
	}
	if onNode == 0 {
		must(fmt.Errorf("the worker node (%s) ran no task of the %d runs", addr, runs))
	}
	fmt.Printf("\nRemote workers, %s, %d runs each (the worker node on this machine too: the overhead of the remote path, not a speed-up)\n\n",
		time.Now().UTC().Format("2006-01-02"), runs)
	fmt.Println("| measure | Dagger module |")
	fmt.Println("|---|---|")
	for _, m := range []string{oneLocal, localAndNodes} {
		fmt.Printf("| %s | %s |\n", m, cell(figures[m][mod.Name()], "tasks/min"))
	}
	fmt.Printf("\n%d of %d tasks ran on the worker node (hostname %s).\n", onNode, 50*runs, addr)
}

// hostnames are the hosts the task instances of a bench_fanout run ran on.
func hostnames(token, runID string) []string {
	var out struct {
		TaskInstances []struct {
			Hostname string `json:"hostname"`
		} `json:"task_instances"`
	}
	must(restapi.Do("GET", fmt.Sprintf("%s/api/v2/dags/bench_fanout/dagRuns/%s/taskInstances?limit=100", apiBase, runID), token, nil, &out))
	var hosts []string
	for _, ti := range out.TaskInstances {
		hosts = append(hosts, ti.Hostname)
	}
	if len(hosts) == 0 {
		fmt.Fprintln(os.Stderr, "bench: no task instances read for run", runID)
	}
	return hosts
}
