//go:build userpath

package e2e

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/restapi"
)

// TestUserPath is the README's first command as a user types it, with no
// flag at all, on whatever engine the dagger CLI finds (ci/user-path runs
// it against the engine the CLI starts in Docker): `dagger call up up`
// serves a healthy API on the host, the default admin gets a token, and
// the example DAG is listed. Build tag userpath: it uses the default
// project and ports, which the e2e suite never touches.
func TestUserPath(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	user := harness.Project{Dir: filepath.Dir(filepath.Dir(file))}
	up, err := user.Start(nil, nil, "up", "up")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Stop(time.Minute)
	start := time.Now()
	for err := harness.Unhealthy(user.API()); err != nil; err = harness.Unhealthy(user.API()) {
		if up.Exited() {
			t.Fatalf("dagger call up up exited:\n%s", harness.Tail(up.Log.String(), 40))
		}
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("not healthy after 15 minutes: %v\n%s", err, harness.Tail(up.Log.String(), 40))
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("healthy %s after `dagger call up up`", time.Since(start).Round(time.Second))
	token, err := restapi.Token(user.API(), "airflow", "airflow")
	if err != nil {
		t.Fatal(err)
	}
	var dags struct {
		Dags []struct {
			DagID string `json:"dag_id"`
		} `json:"dags"`
	}
	if err := restapi.Do("GET", user.API()+"/api/v2/dags", token, nil, &dags); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range dags.Dags {
		ids = append(ids, d.DagID)
	}
	t.Logf("DAGs through the host port: %s", strings.Join(ids, ", "))
	if !strings.Contains(strings.Join(ids, ","), "elt_shop_orders") {
		t.Errorf("the API does not list elt_shop_orders: %v", ids)
	}
}
