//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/pipeline"
	"dagger/data-platform/restapi"
)

// stackHealthy is how long TestStack's `up` took to be healthy (the
// project's image already built): a start without packages to build.
var stackHealthy time.Duration

// imageCheckDAG imports a provider the stand-in image lacks (from
// requirements.txt), runs a Debian package's tool (packages.txt) and
// imports a package of _PIP_ADDITIONAL_REQUIREMENTS, and prints the
// versions its worker runs.
const imageCheckDAG = `import importlib.metadata
import subprocess

import pendulum
from airflow.providers.http.hooks.http import HttpHook  # requirements.txt
from airflow.sdk import dag, task


@dag(dag_id="image_check", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["e2e"])
def image_check():
    @task
    def versions():
        import airflow
        import pyfiglet  # _PIP_ADDITIONAL_REQUIREMENTS

        jq = subprocess.run(["jq", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        print(f"image_check: airflow {airflow.__version__}, http provider "
              f"{importlib.metadata.version('apache-airflow-providers-http')}, {jq}, pyfiglet {pyfiglet.__version__}, "
              f"hook {HttpHook.__name__}")

    versions()


image_check()
`

// TestProjectImage: a project's own packages, built by the module into its
// Airflow image (requirements.txt, packages.txt, _PIP_ADDITIONAL_REQUIREMENTS;
// a Dockerfile is the example project's, in TestStack). Bad input fails
// before any server starts, naming the file and its line; a good project's
// DAG imports and runs what it added, on the image's own Airflow; a second
// start builds nothing, and a changed file rebuilds its own layer.
func TestProjectImage(t *testing.T) {
	recapOnFailure(t)
	dir := t.TempDir()
	p := testProject
	p.Dir, p.Source, p.Name = dir, dir, "e2e-image"
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			fatal(t, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			fatal(t, err)
		}
	}
	call := func(timeout time.Duration, flags []string, args ...string) (string, string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		start := time.Now()
		out, progress, err := p.Call(ctx, append(p.ModuleFlags(), flags...), args...)
		t.Logf("dagger call %s: %s", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
		return out, progress, err
	}
	write("dags/image_check.py", imageCheckDAG)
	const pipReq = "_PIP_ADDITIONAL_REQUIREMENTS=pyfiglet==1.0.2"

	t.Run("bad input fails before any server starts, naming the file and line", func(t *testing.T) {
		for _, c := range []struct {
			what  string
			files map[string]string
			want  []string
		}{
			{"a requirement that does not exist", map[string]string{"requirements.txt": "# ours\ndataplatform-no-such-package==1.0\n"},
				[]string{"requirements.txt: pip could not install it beside apache-airflow==3.1.7", "requirements.txt line 2: dataplatform-no-such-package==1.0", "pip's last lines:"}},
			{"a version that conflicts with Airflow", map[string]string{"requirements.txt": "apache-airflow-core==3.0.0\n"},
				[]string{"requirements.txt: pip could not install it beside apache-airflow==3.1.7", "requirements.txt line 1: apache-airflow-core==3.0.0"}},
			{"a package apt does not know", map[string]string{"packages.txt": "jq\ndataplatform-no-such-deb\n"},
				[]string{"packages.txt line 2: no Debian package \"dataplatform-no-such-deb\""}},
			{"a Dockerfile that fails", map[string]string{"Dockerfile": "ARG AIRFLOW_IMAGE_NAME\nFROM ${AIRFLOW_IMAGE_NAME}\nRUN exit 3\n"},
				[]string{"Dockerfile line 3: RUN exit 3 exited with 3"}},
		} {
			for name, content := range c.files {
				write(name, content)
			}
			_, progress, err := call(10*time.Minute, nil, "up")
			for name := range c.files {
				_ = os.Remove(filepath.Join(dir, name))
			}
			if err == nil {
				errorf(t, "%s: up built the image", c.what)
				continue
			}
			msg := harness.Uncoloured(err.Error())
			for _, want := range c.want {
				if !strings.Contains(msg, want) {
					errorf(t, "%s: the error lacks %q:\n%s", c.what, want, tail(msg, 30))
				}
			}
			if strings.Contains(harness.Uncoloured(progress), "hold-data.sh") {
				errorf(t, "%s: a server started before the error", c.what)
			}
		}
	})

	// Contents no earlier run built (Dagger's cache outlives a test run): the
	// first start builds both layers, and each says what it installed.
	run := time.Now().UnixNano()
	write("requirements.txt", fmt.Sprintf("# the project's packages (run %d)\napache-airflow-providers-http==5.3.4\n", run))
	write("packages.txt", fmt.Sprintf("# run %d\njq\n", run))
	// The project's own init/init-db.sh (the file a user may customize)
	// runs instead of the module's, on the first start of empty data.
	initDB, err := os.ReadFile(filepath.Join(repoRoot(), "init", "init-db.sh"))
	if err != nil {
		fatal(t, err)
	}
	write("init/init-db.sh", string(initDB)+`psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "CREATE SCHEMA e2e_own_init"`+"\n")
	wipeProject(t, p, nil)
	up := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		st, err := p.Start(nil, append(p.ModuleFlags(), "--set", pipReq), "up", "up")
		if err != nil {
			fatal(t, err)
		}
		defer func() {
			st.Stop(time.Minute)
			if t.Failed() {
				t.Logf("up output (tail):\n%s", tail(st.Log.String(), 60))
			}
		}()
		waitFor(t, what+": all components healthy", 20*time.Minute, 2*time.Second, func() error {
			if st.Exited() {
				fatalf(t, "up exited early:\n%s", tail(st.Log.String(), 60))
			}
			return harness.Unhealthy(p.API())
		})
		healthy := time.Since(start)
		plain := harness.Uncoloured(st.Log.String())
		// Every service runs its program: no pip at any start.
		for _, line := range strings.Split(plain, "\n") {
			if strings.Contains(line, "asService") || strings.Contains(line, "restart-always.sh") {
				if strings.Contains(line, "pip install") || strings.Contains(line, "install-requirements") {
					errorf(t, "%s: a service installs packages when it starts: %s", what, line)
				}
			}
		}
		if what == "the first start" {
			for _, step := range []string{"install-packages.sh", "install-requirements.py"} {
				if !harness.ExecRan(plain, step) {
					errorf(t, "%s: the %s layer was not built:\n%s", what, step, grepLines(plain, step))
				}
			}
			token := login(t)
			waitFor(t, "image_check registered", 3*time.Minute, 3*time.Second, func() error {
				return api("PATCH", "/api/v2/dags/image_check", token, map[string]any{"is_paused": false}, nil)
			})
			run, err := restapi.RunDAG(p.API(), token, "image_check", nil, 10*time.Minute)
			if err != nil || run.State != "success" {
				fatalf(t, "image_check ended %q: %v", run.State, err)
			}
			var logs struct {
				Content any `json:"content"`
			}
			if err := api("GET", "/api/v2/dags/image_check/dagRuns/"+run.DagRunID+"/taskInstances/versions/logs/1", token, nil, &logs); err != nil {
				fatal(t, err)
			}
			text := fmt.Sprint(logs.Content)
			for _, want := range []string{"image_check: airflow 3.1.7, http provider 5.3.4, jq-", "pyfiglet 1.0.2", "hook HttpHook"} {
				if !strings.Contains(text, want) {
					errorf(t, "the task's log lacks %q:\n%s", want, tail(text, 30))
				}
			}
			var version struct {
				Version string `json:"version"`
			}
			if err := api("GET", "/api/v2/version", token, nil, &version); err != nil || version.Version != "3.1.7" {
				errorf(t, "the api-server runs Airflow %q (%v), not the image's 3.1.7", version.Version, err)
			}
			out, _, err := call(10*time.Minute, []string{"--set", pipReq}, "airflow-cli", "--args", "version")
			if err != nil || !strings.Contains(out, "3.1.7") {
				errorf(t, "the CLI runs Airflow %q (%v), not the image's 3.1.7", out, err)
			}
			if got, err := psql("app", secrets["E2E_POSTGRES_PASSWORD"], "app", "SELECT count(*) FROM pg_namespace WHERE nspname = 'e2e_own_init'"); got != "1" {
				errorf(t, "the project's own init/init-db.sh did not run (its schema: %q %v)", got, err)
			}
			if !strings.Contains(plain, "airflow-init: Airflow 3.1.7") {
				errorf(t, "init does not say it ran the image's Airflow 3.1.7:\n%s", grepLines(plain, "airflow-init"))
			}
			// Every long-running Airflow service's container holds the
			// image's Airflow and no other.
			if why := privileged(); why != "" {
				t.Logf("the Airflow installed in each service's container is not read: %s", why)
			} else {
				for _, service := range []string{pipeline.HostAPIServer, "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker-1"} {
					sup, err := supervisor(service, p.Name)
					if err != nil {
						errorf(t, "%v", err)
						continue
					}
					if versions, err := airflowInstalled(sup.pid); err != nil || !slices.Equal(versions, []string{"3.1.7"}) {
						errorf(t, "%s's container holds apache-airflow %v (%v), not the image's 3.1.7 alone", service, versions, err)
					}
				}
			}
		} else {
			// The layers were built before: nothing installs again. (A
			// layer under one answered from Dagger's cache is not even
			// looked at, so it may show no CACHED line. One the engine's
			// garbage collector evicted in between builds again: the CI
			// engine keeps a run's cache, ci/engine/engine.json.)
			for _, step := range []string{"install-packages.sh", "install-requirements.py"} {
				if harness.ExecRan(plain, step) {
					errorf(t, "%s: the %s layer was built again:\n%s", what, step, grepLines(plain, step))
				}
			}
		}
		return healthy
	}
	first := up("the first start")
	second := up("a second start")
	t.Logf("healthy after: the first start (building the image) %s, the second %s; TestStack's start (no packages to build) %s",
		first.Round(time.Second), second.Round(time.Second), stackHealthy.Round(time.Second))
	if stackHealthy > 0 && second > stackHealthy+15*time.Second {
		errorf(t, "a second start took %s, against %s for a start with nothing to build", second.Round(time.Second), stackHealthy.Round(time.Second))
	}

	t.Run("a changed requirements.txt rebuilds its layer, not packages.txt's", func(t *testing.T) {
		// A content no earlier run built: Dagger's cache outlives a test run.
		write("requirements.txt", fmt.Sprintf("# the project's packages, changed (%d)\napache-airflow-providers-http==5.3.4\n", time.Now().UnixNano()))
		_, progress, err := call(15*time.Minute, []string{"--set", pipReq}, "dag-check")
		if err != nil {
			fatal(t, err)
		}
		plain := harness.Uncoloured(progress)
		if !strings.Contains(plain, "requirements.txt: installed beside apache-airflow==3.1.7") {
			errorf(t, "requirements.txt was not installed again:\n%s", grepLines(plain, "install-requirements"))
		}
		if harness.ExecRan(plain, "install-packages.sh") {
			errorf(t, "packages.txt's layer was built again:\n%s", grepLines(plain, "install-packages"))
		}
	})
}

// grepLines are the lines of s holding word.
func grepLines(s, word string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
