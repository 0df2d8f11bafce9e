package main

import (
	"testing"
	"time"
)

// The exec of a dbt call, in the progress output's shape: its span's
// withExec line, its output, its DONE lines (the plain output may print one
// early, with a shorter time).
func TestExecTimeReadsTheExecSpan(t *testing.T) {
	progress := "22  : ┆ Container.withExec DONE [0.3s]\n" +
		"39  : ┆ withExec sh /usr/local/lib/dataplatform/dbt-deps.sh /usr/app/dbt /usr/app/dbt-packages-cache -- dbt test (expect: ANY)\n" +
		"39  : ┆ Container.withExec DONE [0.0s]\n" +
		"39  : ┆ [7.4s] | 12:41:06  Done. PASS=21 WARN=0 ERROR=0 SKIP=0 TOTAL=21\n" +
		"40  : ┆ Container.withExec DONE [1m9.9s]\n" +
		"\x1b[2m39  : ┆ Container.withExec DONE [3.0s]\x1b[0m\n"
	d, err := execTime(progress, "dbt test")
	if err != nil || d != 7400*time.Millisecond {
		t.Errorf("execTime = %v, %v; want 7.4s (its last line; not another span's 1m9.9s)", d, err)
	}
	if _, err := execTime(progress, "dbt run"); err == nil {
		t.Error("an exec that is not there was found")
	}
}
