package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDbtCIDefinition(t *testing.T) {
	c := mustDefault(t)
	if err := CheckSchemaSuffix(c, "pr42"); err != nil {
		t.Fatal(err)
	}
	s := DbtCI(c, "pr42", true)
	if s.Env["DBT_SCHEMA_SUFFIX"] != "pr42" || s.Env["DBT_CI_FRESHNESS"] != "true" || strings.Join(s.Args, " ") != "bash "+dbtCIScript {
		t.Errorf("dbt-ci: env %v, args %v", s.Env, s.Args)
	}
	if len(s.Prepare) != 1 || s.Prepare[0][1] != dbtDepsScript {
		t.Errorf("packages are not installed first: %q", s.Prepare)
	}
	if v := s.Volumes[0]; v.Path != DbtPackagesCache || v.Key != "dataplatform-dataplatform-dbt-packages" {
		t.Errorf("packages volume %+v", v)
	}
	for _, bad := range []string{"PR-42", "a b", "x;drop", strings.Repeat("a", 21)} {
		if err := CheckSchemaSuffix(c, bad); err == nil || !strings.Contains(err.Error(), "--schema-suffix: ") {
			t.Errorf("suffix %q: %v", bad, err)
		}
	}
	long, _ := load(t, "DBT_SCHEMA="+strings.Repeat("s", 40))
	if err := CheckSchemaSuffix(long, strings.Repeat("x", 15)); err == nil || !strings.Contains(err.Error(), "PostgreSQL allows 63") {
		t.Errorf("too long a schema: %v", err)
	}
	if d := DbtDropSchemas(c, "pr42"); strings.Join(d.Args, " ") != "dbt run-operation drop_target_schemas" || d.Env["DBT_SCHEMA_SUFFIX"] != "pr42" {
		t.Errorf("drop: %v %v", d.Args, d.Env)
	}
}

// The summary names every failure with its failing rows and message.
func TestDbtSummary(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed to test scripts/dbt_summary.py")
	}
	results := `{"results": [
	 {"unique_id": "model.shop.stg_orders", "status": "success", "execution_time": 0.5, "message": "CREATE VIEW", "failures": null},
	 {"unique_id": "model.shop.daily_revenue", "status": "error", "execution_time": 1.5, "message": "relation \"x\"\n does not exist", "failures": null},
	 {"unique_id": "test.shop.not_null_orders_id.abc", "status": "fail", "execution_time": 0.1, "message": "Got 7 results, configured to fail if != 0", "failures": 7},
	 {"unique_id": "test.shop.unique_orders_id.def", "status": "pass", "execution_time": 0.1, "message": null, "failures": 0}]}`
	path := filepath.Join(t.TempDir(), "run_results.json")
	if err := os.WriteFile(path, []byte(results), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "scripts/dbt_summary.py", path, "1").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"# dbt build: FAILED (exit 1)",
		"4 nodes: 1 error, 1 fail, 1 pass, 1 success",
		"- FAIL test not_null_orders_id, 7 failing rows: Got 7 results, configured to fail if != 0",
		`- ERROR model daily_revenue: relation "x" does not exist`,
		"- daily_revenue: 1.50 s (error)",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// Packages come from `dbt deps` once, then from the project's volume, and
// from dbt deps again when packages.yml changes. The real script runs here,
// with a stand-in for dbt.
func TestDbtPackagesKeptUntilPackagesYmlChanges(t *testing.T) {
	dir := t.TempDir()
	project, cache, bin := filepath.Join(dir, "project"), filepath.Join(dir, "cache"), filepath.Join(dir, "bin")
	for _, d := range []string{project, cache, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fake := "#!/bin/sh\necho \"$@\" >> " + filepath.Join(dir, "calls") + "\nmkdir -p dbt_packages/utils && echo macro > dbt_packages/utils/m.sql\n"
	if err := os.WriteFile(filepath.Join(bin, "dbt"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	// The dbt container's real command, `dbt` run by the stand-in.
	argv := onHost(t, Dbt(mustDefault(t), []string{"--version"}), DbtPackagesCache, cache, DbtProject, project)
	run := func() {
		t.Helper()
		_ = os.RemoveAll(filepath.Join(project, "dbt_packages")) // a new container
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(project, "dbt_packages/utils/m.sql")); err != nil {
			t.Fatalf("no packages after the step: %v", err)
		}
	}
	deps := func() int {
		data, _ := os.ReadFile(filepath.Join(dir, "calls"))
		return strings.Count(string(data), "deps")
	}
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(project, "packages.yml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("packages:\n  - local: packages/utils\n")
	run()
	run()
	if n := deps(); n != 1 {
		t.Errorf("dbt deps ran %d times for one packages.yml, want 1", n)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "calls")); strings.Count(string(data), "--version") != 2 {
		t.Errorf("dbt's own command did not run after the packages, twice: %q", data)
	}
	write("packages:\n  - local: packages/other\n")
	run()
	if n := deps(); n != 2 {
		t.Errorf("dbt deps ran %d times after packages.yml changed, want 2", n)
	}
}
