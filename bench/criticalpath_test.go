package main

import (
	"strings"
	"testing"
	"time"
)

// The critical path is PostgreSQL, then the longer of the api-server's boot
// (beside init) and init followed by the slowest service after it; from
// the median warm start; a service without times is an error.
func TestCriticalPath(t *testing.T) {
	s := func(first, ready float64) serviceTimes {
		return serviceTimes{first: time.Duration(first * float64(time.Second)), ready: time.Duration(ready * float64(time.Second))}
	}
	start := func(total float64, api float64) upResult {
		return upResult{total: time.Duration(total * float64(time.Second)), services: map[string]serviceTimes{
			"postgres": s(1, 2), "airflow-init": s(2, 5), "airflow-apiserver": s(3, 3+api),
			"airflow-scheduler": s(6, 10), "airflow-dag-processor": s(6, 12), "airflow-triggerer": s(6, 9),
		}}
	}
	// The median (20 s) start: init 3 + dag-processor 6 = 9 beats the api-server's 8.
	path, d, err := criticalPath([]upResult{start(30, 20), start(20, 8), start(10, 1)})
	if err != nil || d != 10*time.Second || !strings.Contains(path, "dag-processor boot 6.0") {
		t.Errorf("got %v %q %v, want 10 s through the dag-processor", d, path, err)
	}
	// The api-server's longer boot is the path.
	if _, d, err := criticalPath([]upResult{start(20, 12)}); err != nil || d != 13*time.Second {
		t.Errorf("got %v %v, want 13 s through the api-server", d, err)
	}
	missing := start(20, 8)
	delete(missing.services, "airflow-triggerer")
	if _, _, err := criticalPath([]upResult{missing}); err == nil || !strings.Contains(err.Error(), "no times of airflow-triggerer") {
		t.Errorf("a start without the triggerer's times: %v", err)
	}
}
