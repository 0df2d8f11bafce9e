package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/restapi"
)

// dbtModel is the staging model the dbt loop saves.
var dbtModel = filepath.Join("dbt", "models", "staging", "stg_customers.sql")

// dbtLoop measures the analytics engineer's loop on a running stack with
// the example's data: a saved staging model until its build and tests are
// shown (the module: the live command's terminal, nothing typed; compose:
// `run --rm dbt build --select` typed right after the save, from the
// command to its exit), a typed `dbt test`, and dbt's own time in the
// stack's warm process against a fresh one.
func dbtLoop(runs int) {
	start := time.Now()
	original, err := os.ReadFile(dbtModel)
	must(err)
	projectFiles[dbtModel] = original // put back when it ends, or fails
	defer restoreProjectFiles()
	mod, cmp := &module{}, &compose{}
	for _, s := range []system{mod, cmp} {
		fmt.Fprintf(os.Stderr, "bench: dbt loop, %s\n", s.Name())
		must(s.Wipe())
		up(s, func() {
			token, err := restapi.Token(apiBase, "airflow", "airflow")
			must(err)
			_, err = restapi.RunDAG(apiBase, token, "elt_shop_orders", nil, 15*time.Minute)
			must(err)
			stopLive, err := s.Live()
			must(err)
			for r := 1; r <= runs; r++ {
				changed, err := harness.WithColumn(original, "bench_column", fmt.Sprintf("bench-%d", time.Now().UnixNano()))
				must(err)
				savedToBuilt(s, changed)
			}
			stopLive()
			must(os.WriteFile(dbtModel, original, 0o644))
			for r := 1; r <= runs; r++ {
				dbtTest(s, true)
			}
		})
		if s == system(mod) { // a fresh dbt process, no stack running
			for r := 1; r <= runs; r++ {
				dbtTest(s, false)
			}
		}
	}
	requireFigures(runs, map[string][]string{
		savedModel: {mod.Name(), cmp.Name()}, "dbt test, stack running": {mod.Name(), cmp.Name()},
		warmOwn: {mod.Name()}, freshOwn: {mod.Name()},
	})
	printTable(runs, start)
	modSave, cmpSave := median(figures[savedModel][mod.Name()]), median(figures[savedModel][cmp.Name()])
	modTest, cmpTest := median(figures["dbt test, stack running"][mod.Name()]), median(figures["dbt test, stack running"][cmp.Name()])
	fmt.Println()
	fmt.Println("| target (module) | figure | verdict |")
	fmt.Println("|---|---|---|")
	verdict("saved model → built and tested ≤ 3 s", fmt.Sprintf("%.2f s", modSave), modSave <= 3, fmt.Sprintf("%.2f s", modSave-3))
	verdict("saved model → built and tested ≤ 0.5× compose's typed build", fmt.Sprintf("%.2f×", modSave/cmpSave),
		modSave <= 0.5*cmpSave, fmt.Sprintf("%.2f s", modSave-0.5*cmpSave))
	verdict("dagger call dbt --cmd=test beside the stack ≤ 1.0× compose's", fmt.Sprintf("%.2f×", modTest/cmpTest),
		modTest <= cmpTest, fmt.Sprintf("%.2f s", modTest-cmpTest))
	fmt.Printf("\ndbt's own time for `dbt test`: %.2f s in the stack's warm process, %.2f s in a fresh one\n",
		median(figures[warmOwn][mod.Name()]), median(figures[freshOwn][mod.Name()]))
}

const savedModel = "saved staging model → its build and tests shown"

// savedToBuilt saves the model and times what the user waits for until the
// build's result is on screen.
func savedToBuilt(s system, content []byte) {
	if m, ok := s.(*module); ok {
		before := strings.Count(m.live.String(), "live: dbt: built ")
		must(os.WriteFile(dbtModel, content, 0o644))
		t0 := time.Now()
		for strings.Count(m.live.String(), "live: dbt: built ") == before {
			if time.Since(t0) > 5*time.Minute {
				must(fmt.Errorf("live: no dbt build 5 minutes after the save:\n%s", m.live.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
		record(savedModel, "s", s.Name(), time.Since(t0).Seconds())
		if last := lastBuilt.FindAllStringSubmatch(m.live.String(), -1); len(last) == 0 || last[len(last)-1][1] != "0" {
			must(fmt.Errorf("live: the saved model's build failed:\n%s", m.live.String()))
		}
		return
	}
	must(os.WriteFile(dbtModel, content, 0o644))
	t0 := time.Now()
	_, err := composeRun("run", "--rm", "dbt", "build", "--select", strings.TrimSuffix(filepath.Base(dbtModel), ".sql"))
	must(err)
	removeWrittenCfg()
	record(savedModel, "s", s.Name(), time.Since(t0).Seconds())
}

var lastBuilt = regexp.MustCompile(`live: dbt: built \d+ nodes, (\d+) failed`)
