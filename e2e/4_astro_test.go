//go:build e2e

package e2e

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"

	"go.yaml.in/yaml/v3"
)

// writeProjectFile puts a file in the test project for the rest of the
// test; one already there is never overwritten.
func writeProjectFile(t *testing.T, name, content string) {
	t.Helper()
	path := filepath.Join(testProject.Dir, name)
	if _, err := os.Stat(path); err == nil {
		fatalf(t, "%s exists: the e2e tests need their own there; move yours away while they run", path)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		fatal(t, err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })
}

// exportedSettings is an airflow_settings.yaml as settings-export writes it.
type exportedSettings struct {
	Airflow struct {
		Connections []map[string]any `yaml:"connections"`
		Pools       []map[string]any `yaml:"pools"`
		Variables   []map[string]any `yaml:"variables"`
	} `yaml:"airflow"`
}

// exportSettings calls settings-export (with flags) on the test project
// and returns the file's text and its entries.
func exportSettings(t *testing.T, flags ...string) (string, exportedSettings) {
	t.Helper()
	return exportSettingsOf(t, testProject, flags...)
}

// exportSettingsOf is exportSettings of project p.
func exportSettingsOf(t *testing.T, p harness.Project, flags ...string) (string, exportedSettings) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "airflow_settings.yaml")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	if _, _, err := p.Call(ctx, nil, append(append([]string{"settings-export"}, flags...), "export", "--path", path)...); err != nil {
		fatal(t, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fatal(t, err)
	}
	var s exportedSettings
	if err := yaml.Unmarshal(data, &s); err != nil {
		fatalf(t, "settings-export wrote no YAML: %v\n%s", err, data)
	}
	return string(data), s
}

func entry(list []map[string]any, key, name string) map[string]any {
	for _, e := range list {
		if e[key] == name {
			return e
		}
	}
	return nil
}

// settingsRoundTrip: the project's airflow_settings.yaml (settingsFile) is
// in Airflow once the stack is up, its password from .env; settings-export
// writes it back, the password only when asked; settings-import applies a
// changed file to the running stack.
func settingsRoundTrip(t *testing.T, token string) {
	var conn struct {
		ConnType string `json:"conn_type"`
		Host     string `json:"host"`
		Login    string `json:"login"`
		Schema   string `json:"schema"`
		Port     int    `json:"port"`
		Extra    string `json:"extra"`
	}
	if err := api("GET", "/api/v2/connections/e2e_settings_warehouse", token, nil, &conn); err != nil {
		fatalf(t, "the settings file's connection: %v", err)
	}
	if conn.ConnType != "postgres" || conn.Host != "postgres" || conn.Login != "dbt" || conn.Schema != "analytics" ||
		conn.Port != 5432 || !strings.Contains(conn.Extra, "sslmode") {
		errorf(t, "the settings file's connection in Airflow: %+v", conn)
	}
	var pool struct {
		Slots       int    `json:"slots"`
		Description string `json:"description"`
	}
	if err := api("GET", "/api/v2/pools/e2e_pool", token, nil, &pool); err != nil || pool.Slots != 3 || pool.Description != "from the settings file" {
		errorf(t, "the settings file's pool in Airflow: %+v (%v)", pool, err)
	}
	var variable struct {
		Value string `json:"value"`
	}
	if err := api("GET", "/api/v2/variables/e2e_greeting", token, nil, &variable); err != nil || variable.Value != "hello from the settings file" {
		errorf(t, "the settings file's variable in Airflow: %+v (%v)", variable, err)
	}

	password := secrets["E2E_SETTINGS_PASSWORD"]
	text, plain := exportSettings(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "export"), []byte(text), 0o600); err != nil {
		fatal(t, err)
	}
	keepExported(t, dir) // the leak scan checks it holds no secret
	c := entry(plain.Airflow.Connections, "conn_id", "e2e_settings_warehouse")
	switch {
	case c == nil:
		errorf(t, "settings-export lacks the connection:\n%s", text)
	case c["conn_password"] != nil || strings.Contains(text, password):
		errorf(t, "settings-export wrote the connection's password without --include-secrets")
	case !strings.Contains(text, "left out; --include-secrets writes them"):
		errorf(t, "settings-export does not say what it left out:\n%s", text)
	}
	if p := entry(plain.Airflow.Pools, "pool_name", "e2e_pool"); p == nil || p["pool_slot"] != 3 {
		errorf(t, "settings-export's pool: %v", p)
	}
	if v := entry(plain.Airflow.Variables, "variable_name", "e2e_greeting"); v == nil || v["variable_value"] != "hello from the settings file" {
		errorf(t, "settings-export's variable: %v", v)
	}
	fullText, full := exportSettings(t, "--include-secrets")
	if c := entry(full.Airflow.Connections, "conn_id", "e2e_settings_warehouse"); c == nil || c["conn_password"] != password {
		errorf(t, "settings-export --include-secrets: the connection's password is not .env's E2E_SETTINGS_PASSWORD")
	}
	importIntoAWipedProject(t, fullText, full)

	// A changed file, applied now: the variable updated, the pool deleted.
	path := filepath.Join(testProject.Dir, "airflow_settings.yaml")
	changed := strings.Replace(settingsFile, "hello from the settings file", "changed by settings-import", 1)
	changed = strings.Replace(changed, "      pool_slot: 3\n", "      delete: true\n", 1)
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		fatal(t, err)
	}
	defer func() { _ = os.WriteFile(path, []byte(settingsFile), 0o644) }()
	out := mustCall(t, 10*time.Minute, "settings-import")
	for _, want := range []string{"settings: variable e2e_greeting updated", "settings: pool e2e_pool deleted", "settings: connection e2e_settings_warehouse updated"} {
		if !strings.Contains(out, want) {
			errorf(t, "settings-import does not say %q:\n%s", want, out)
		}
	}
	if err := api("GET", "/api/v2/variables/e2e_greeting", token, nil, &variable); err != nil || variable.Value != "changed by settings-import" {
		errorf(t, "the variable after settings-import: %+v (%v)", variable, err)
	}
	if err := api("GET", "/api/v2/pools/e2e_pool", token, nil, &pool); err == nil {
		errorf(t, "the pool marked delete: true is still in Airflow: %+v", pool)
	}
}

// importIntoAWipedProject: the export (with its secrets) as the settings
// file of another project, wiped, whose metadata database is its own (no
// stack runs): settings-import gives it the same connections, variables
// and pools, as settings-export of that project shows.
func importIntoAWipedProject(t *testing.T, text string, want exportedSettings) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "airflow_settings.yaml"), []byte(text), 0o600); err != nil {
		fatal(t, err)
	}
	p := testProject
	p.Dir, p.Source, p.Name = dir, dir, "e2e-settings-copy"
	do := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		out, _, err := p.Call(ctx, nil, args...)
		t.Logf("dagger call %s (project %s): %s", strings.Join(args, " "), p.Name, time.Since(start).Round(100*time.Millisecond))
		if err != nil {
			fatal(t, err)
		}
		return out
	}
	wipeProject(t, p, nil)
	defer wipeProject(t, p, nil)
	out := do("settings-import")
	for _, name := range []string{"connection e2e_settings_warehouse created", "variable e2e_greeting created", "pool e2e_pool created"} {
		if !strings.Contains(out, "settings: "+name) {
			errorf(t, "settings-import into a wiped project does not say %q:\n%s", name, out)
		}
	}
	_, got := exportSettingsOf(t, p, "--include-secrets")
	if !reflect.DeepEqual(got, want) {
		errorf(t, "the wiped project after settings-import of the export holds other objects:\n%+v\nwant (the stack's):\n%+v", got, want)
	}
}

// TestSettingsFileErrors: a settings file with a misspelt key, or naming a
// variable .env lacks, stops `up` before any container starts, naming
// the file, its line or the variable; a connection type the image does
// not know stops `up` before any server starts, with the types it knows.
func TestSettingsFileErrors(t *testing.T) {
	recapOnFailure(t)
	path := filepath.Join(testProject.Dir, "airflow_settings.yaml")
	writeProjectFile(t, "airflow_settings.yaml", "")
	for _, c := range []struct{ file, want string }{
		{"airflow:\n  connections:\n    - conn_id: x\n      conn_typo: postgres\n", "airflow_settings.yaml: line 4: field conn_typo not found"},
		{"airflow:\n  variables:\n    - variable_name: x\n      variable_value: ${E2E_NOT_IN_DOTENV}\n", "airflow_settings.yaml: ${E2E_NOT_IN_DOTENV} names no variable of .env"},
	} {
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			fatal(t, err)
		}
		_, progress, err := callOutput(t, 5*time.Minute, moduleArgs(), "up")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			errorf(t, "up with a bad settings file: want %q, got %v", c.want, err)
		}
		if containersRan(progress) {
			errorf(t, "up with a bad settings file (%q): containers ran before the error", c.want)
		}
	}
	if err := os.WriteFile(path, []byte("airflow:\n  connections:\n    - conn_id: e2e_unknown_type\n      conn_type: e2e_no_such_type\n"), 0o644); err != nil {
		fatal(t, err)
	}
	_, progress, err := callOutput(t, 15*time.Minute, moduleArgs(), "up")
	if err == nil || !strings.Contains(err.Error(), `airflow_settings.yaml: airflow.connections (conn_id e2e_unknown_type).conn_type: "e2e_no_such_type" is no connection type of the project's Airflow image (its types: `) ||
		!strings.Contains(err.Error(), "postgres") {
		errorf(t, "up with an unknown connection type: %v", err)
	}
	if strings.Contains(harness.Uncoloured(progress), "hold-data.sh") {
		errorf(t, "up with an unknown connection type: a server started before the error")
	}
}

// junitReport is the part of pytest's JUnit XML the tests read.
type junitReport struct {
	Suites []struct {
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Cases    []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitCase struct {
	Name    string    `xml:"name,attr"`
	Failure *struct{} `xml:"failure"`
}

// projectTests are the test functions of the example project's tests/.
func projectTests(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(), "tests", "*", "test_*.py"))
	if err != nil || len(files) == 0 {
		fatalf(t, "no test files in tests/: %v", err)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fatal(t, err)
		}
		for _, m := range regexp.MustCompile(`(?m)^def (test_\w+)\(`).FindAllStringSubmatch(string(data), -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// pytestReport calls pytest with flags and reads the report it returns.
func pytestReport(t *testing.T, flags ...string) junitReport {
	t.Helper()
	path := filepath.Join(t.TempDir(), "junit.xml")
	mustCall(t, 20*time.Minute, append(append([]string{"pytest"}, flags...), "export", "--path", path)...)
	data, err := os.ReadFile(path)
	if err != nil {
		fatal(t, err)
	}
	var r junitReport
	if err := xml.Unmarshal(data, &r); err != nil || len(r.Suites) != 1 {
		fatalf(t, "pytest's report is no JUnit XML of one suite (%v):\n%s", err, data)
	}
	return r
}

// TestPytest: the project's tests (the example's tests/: DAG integrity
// and a task's logic) run in its Airflow image with no stack, and pass;
// a DAG that breaks a rule of the project fails the call, which names the
// test and says why, and --allow-failure returns the report anyway.
func TestPytest(t *testing.T) {
	recapOnFailure(t)
	r := pytestReport(t)
	if s := r.Suites[0]; s.Tests < 8 || s.Failures+s.Errors != 0 {
		errorf(t, "pytest on the example project: %d tests, %d failures, %d errors; want 8 or more, all passing", s.Tests, s.Failures, s.Errors)
	}
	// The JUnit file lists every test of the project's tests/.
	for _, name := range projectTests(t) {
		if !slices.ContainsFunc(r.Suites[0].Cases, func(c junitCase) bool { return c.Name == name || strings.HasPrefix(c.Name, name+"[") }) {
			errorf(t, "pytest's JUnit report lacks %s", name)
		}
	}
	// A throwaway change in the test project (a copy): a DAG loses its tags.
	path := filepath.Join(testProject.Dir, "dags/deferred_heartbeat.py")
	good, err := os.ReadFile(path)
	if err != nil {
		fatal(t, err)
	}
	untagged := strings.Replace(string(good), `tags=["example", "deferrable"],`, "", 1)
	if untagged == string(good) {
		fatalf(t, "deferred_heartbeat.py has no tags line to remove:\n%s", good)
	}
	if err := os.WriteFile(path, []byte(untagged), 0o644); err != nil {
		fatal(t, err)
	}
	defer func() { _ = os.WriteFile(path, good, 0o644) }()
	_, err = call(t, 20*time.Minute, "pytest", "export", "--path", filepath.Join(t.TempDir(), "junit.xml"))
	if err == nil || !strings.Contains(err.Error(), "pytest exited with 1 (--allow-failure returns the report anyway)") ||
		!strings.Contains(err.Error(), "test_every_dag_follows_the_rules[tags]") || !strings.Contains(err.Error(), "deferred_heartbeat: no tags") {
		errorf(t, "pytest with an untagged DAG: %v", err)
	}
	// pytest's own arguments select the rules' tests alone.
	r = pytestReport(t, "--allow-failure", "--args=-k follows_the_rules")
	var failed []string
	for _, c := range r.Suites[0].Cases {
		if c.Failure != nil {
			failed = append(failed, c.Name)
		}
		if !strings.HasPrefix(c.Name, "test_every_dag_follows_the_rules[") {
			errorf(t, "pytest --args='-k follows_the_rules' ran %s", c.Name)
		}
	}
	if len(failed) != 1 || failed[0] != "test_every_dag_follows_the_rules[tags]" {
		errorf(t, "pytest --allow-failure's report: failed %v, want only the tags rule", failed)
	}
}

// upgradeImage is the other Airflow the upgrade test tries (a stand-in in CI).
const upgradeImage = "apache/airflow:3.3.2"

// upgradeDatasetsDAG uses an import Airflow 3 kept only for a while: it
// imports under 3.1.7 and not under 3.3.
const upgradeDatasetsDAG = `from airflow.datasets import Dataset  # Airflow 2's name of an Asset

import pendulum
from airflow.sdk import dag, task

ORDERS = Dataset("postgres://postgres:5432/analytics/raw/orders")


@dag(dag_id="e2e_upgrade_datasets", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     tags=["e2e"], default_args={"owner": "data-team", "retries": 1})
def e2e_upgrade_datasets():
    @task(outlets=[ORDERS])
    def load():
        pass

    load()


e2e_upgrade_datasets()
`

// metadataRevision is the Alembic revision of the running stack's metadata
// database, read on the host port.
func metadataRevision(t *testing.T) string {
	t.Helper()
	out, err := psql("airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "airflow", "SELECT version_num FROM alembic_version")
	if err != nil || out == "" {
		fatalf(t, "the metadata database's revision: %v %s", err, out)
	}
	return out
}

// upgradeBreaks: upgrade-test on the running stack's data, with a DAG file
// that 3.3 no longer imports, fails naming the file and its line, and the
// running stack's database keeps its revision.
func upgradeBreaks(t *testing.T) {
	before := metadataRevision(t)
	writeProjectFile(t, "dags/e2e_upgrade_datasets.py", upgradeDatasetsDAG)
	_, err := call(t, 40*time.Minute, "upgrade-test", "--image", upgradeImage)
	if err == nil {
		fatal(t, "upgrade-test passed with a DAG file that Airflow 3.3 does not import")
	}
	for _, want := range []string{
		"upgrade test: dags/e2e_upgrade_datasets.py no longer imports (--allow-failure returns the report anyway)",
		"| dags/e2e_upgrade_datasets.py | imports: e2e_upgrade_datasets | **line 1: ",
		"- `airflow db migrate` under " + upgradeImage + ": succeeded in ",
	} {
		if !strings.Contains(err.Error(), want) {
			errorf(t, "upgrade-test's error lacks %q:\n%v", want, err)
		}
	}
	if after := metadataRevision(t); after != before {
		errorf(t, "the running stack's metadata database went from revision %s to %s", before, after)
	}
}

var reportRevisions = regexp.MustCompile("The project's Alembic revision: (\\w+) before the test, (\\w+) after it.\n- `airflow db migrate` under \\S+: succeeded in [0-9.]+ s; the copy is at revision (\\w+).")

// upgradePasses: upgrade-test on the stopped stack's data (the project's
// own database, only read), with another dbt too, returns its report: the
// copy migrated to another revision than the project's, which kept its
// own; the DAG files import under both; the versions that change.
func upgradePasses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "upgrade-report.md")
	mustCall(t, 40*time.Minute, "upgrade-test", "--image", upgradeImage,
		"--dbt-image", "ghcr.io/dbt-labs/dbt-postgres:1.9.0", "export", "--path", path)
	data, err := os.ReadFile(path)
	if err != nil {
		fatal(t, err)
	}
	report := string(data)
	m := reportRevisions.FindStringSubmatch(report)
	switch {
	case !strings.Contains(report, "**Result: passed.**"):
		errorf(t, "the upgrade report does not say it passed:\n%s", report)
	case m == nil:
		errorf(t, "the upgrade report lacks the revisions and the migration:\n%s", report)
	case m[1] != m[2] || m[3] == m[1]:
		errorf(t, "revisions: the project's %s before, %s after; the copy's %s", m[1], m[2], m[3])
	}
	for _, want := range []string{
		"| dags/" + dagID + ".py | imports: " + dagID + " | imports: " + dagID + " |",
		"- apache-airflow 3.1.7 → 3.3.2",
		"`dbt deps`, `dbt parse` and `dbt compile` succeeded.",
	} {
		if !strings.Contains(report, want) {
			errorf(t, "the upgrade report lacks %q:\n%s", want, report)
		}
	}
}
