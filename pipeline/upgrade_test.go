package pipeline

import (
	"slices"
	"strings"
	"testing"
)

const trace33 = `Traceback (most recent call last):
  File "/opt/airflow/dags/old_api.py", line 3, in <module>
    from airflow.datasets import Dataset
ModuleNotFoundError: No module named 'airflow.datasets'`

func findings() UpgradeFindings {
	return UpgradeFindings{
		From: "apache/airflow:3.1.7", To: "apache/airflow:3.3.2",
		Revision: "cc92b33c6709", RevisionAfter: "cc92b33c6709",
		Migrated: true, MigrateSeconds: 41.2, MigrateRevision: "d2f4e1b3c5a7",
		Old: ImportResult{Airflow: "3.1.7", DAGs: map[string][]string{"elt.py": {"elt"}, "old_api.py": {"old"}},
			Packages: map[string]string{"apache-airflow": "3.1.7", "apache-airflow-providers-fab": "3.10.2", "cryptography": "50.0.2", "gone": "1.0"}},
		New: ImportResult{Airflow: "3.3.2", DAGs: map[string][]string{"elt.py": {"elt"}},
			Errors:   map[string]string{"old_api.py": trace33},
			Warnings: map[string][]string{"elt.py": {"elt.py:1: DeprecatedImportWarning: ..."}},
			Packages: map[string]string{"apache-airflow": "3.3.2", "apache-airflow-providers-fab": "3.9.0", "cryptography": "51.0.1", "new": "2.0"}},
	}
}

// The report says what broke (a DAG file that imported, and no longer
// does, with its line), the migration, the warnings and the versions.
func TestUpgradeReport(t *testing.T) {
	f := findings()
	if got := f.Broken(); !slices.Equal(got, []string{"dags/old_api.py no longer imports"}) {
		t.Errorf("broken: %v", got)
	}
	r := f.Report()
	for _, want := range []string{
		"# Upgrade test: apache/airflow:3.1.7 → apache/airflow:3.3.2",
		"**Result: broken.** dags/old_api.py no longer imports.",
		"The project's Alembic revision: cc92b33c6709 before the test, cc92b33c6709 after it.",
		"succeeded in 41.2 s; the copy is at revision d2f4e1b3c5a7",
		"| dags/old_api.py | imports: old | **line 3: ModuleNotFoundError: No module named 'airflow.datasets'** |",
		"- dags/elt.py:\n  - elt.py:1: DeprecatedImportWarning: ...",
		"- apache-airflow 3.1.7 → 3.3.2\n- apache-airflow-providers-fab 3.10.2 → 3.9.0\n- cryptography 50.0.2 → 51.0.1\n- gone 1.0 (removed)\n- new 2.0 (added)",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("the report lacks %q:\n%s", want, r)
		}
	}
	// Already broken before: not the upgrade's doing.
	f.Old.Errors = map[string]string{"old_api.py": trace33}
	if got := f.Broken(); len(got) != 0 {
		t.Errorf("a file broken under both: %v", got)
	}
	f.Migrated, f.RevisionAfter, f.DbtImage = false, "d2f4e1b3c5a7", "dbt:2"
	if got := f.Broken(); len(got) != 3 {
		t.Errorf("migration failed, project's database changed, dbt failed: %v", got)
	}
}

// The copy reads the project's database (pg_dump) into a throwaway
// server; the other Airflow migrates the copy, never the project's.
func TestUpgradePlan(t *testing.T) {
	c := mustDefault(t)
	p, err := JobsPlan(c, Options{}, func(c Config) []Spec {
		return []Spec{UpgradeDB(c), UpgradeCopy(c), UpgradeMigrate(c, "apache/airflow:3.3.2")}
	})
	if err != nil {
		t.Fatal(err)
	}
	m := p.Specs[JobUpgradeMigrate]
	if m.Image != "apache/airflow:3.3.2" || !m.ProjectImage || m.SecretEnv["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] != SecretUpgradeConn {
		t.Errorf("the migration: image %q (project's %v), database %q", m.Image, m.ProjectImage, m.SecretEnv["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
	}
	if url := p.Secrets()[SecretUpgradeConn]; !strings.Contains(url, "@"+HostUpgradeDB+":5432/airflow") {
		t.Errorf("the copy's URL %q", url)
	}
	if db := p.Specs[HostUpgradeDB]; len(db.Volumes) != 0 {
		t.Errorf("the copy's server keeps data: %v", db.Volumes)
	}
	if !slices.Contains(p.Stages[len(p.Stages)-2], JobUpgradeCopy) {
		t.Errorf("stages %v", p.Stages)
	}
	if err := CheckUpgradeImage("image", "apache/airflow:latest"); err == nil || !strings.HasPrefix(err.Error(), "image: ") {
		t.Errorf("latest: %v", err)
	}
}

// The image contract check reads the version from the image, and holds it
// to its tag when the tag names one.
func TestCheckAirflowVersion(t *testing.T) {
	for _, c := range []struct {
		image, version string
		ok             bool
	}{
		{"apache/airflow:3.1.7", "3.1.7", true},
		{"apache/airflow:3.3.2", "3.3.2", true},
		{"apache/airflow:3.3.2", "3.1.7", false},
		{"registry.example.com/team/airflow:prod-7", "3.2.0", true},
		{"apache/airflow:2.10.5", "2.10.5", false},
	} {
		if err := CheckAirflowVersion(c.image, c.version); (err == nil) != c.ok {
			t.Errorf("%s running %s: %v", c.image, c.version, err)
		}
	}
}
