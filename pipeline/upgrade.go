package pipeline

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The upgrade test: another Airflow (and dbt) on a copy of the project's
// data. The project's metadata database is copied into a throwaway
// PostgreSQL (the project's own is only read), the other Airflow's
// migration runs on the copy, every DAG file is imported under both
// Airflows, and the packages of both project images are compared.

// Names of the upgrade test's containers.
const (
	HostUpgradeDB     = "upgrade-db"
	JobUpgradeCopy    = "upgrade-copy"
	JobUpgradeImport  = "upgrade-import"
	JobUpgradeDbt     = "upgrade-dbt"
	JobUpgradeMigrate = "upgrade-migrate"
)

// upgradeOut is where the upgrade test's jobs leave their findings.
const upgradeOut = "/tmp/dataplatform-upgrade"

// CheckUpgradeImage refuses an --image (or --dbt-image) that is not a
// pinned image reference, as AIRFLOW_IMAGE_NAME's check does.
func CheckUpgradeImage(arg, image string) error {
	if problem := checks["image"](image); problem != "" {
		return fmt.Errorf("%s: %s", arg, problem)
	}
	return nil
}

// UpgradeDB is the throwaway PostgreSQL the copy goes into: no volume,
// the Airflow role its owner with the project's password.
func UpgradeDB(c Config) Spec {
	return Spec{
		Name:  HostUpgradeDB,
		Kind:  Service,
		Image: c.PostgresImage,
		Env: map[string]string{"POSTGRES_USER": c.AirflowDBUser, "POSTGRES_DB": c.AirflowDBName,
			"PGDATA": PGData},
		SecretEnv: map[string]string{"POSTGRES_PASSWORD": SecretAirflowDBPassword},
		Ports:     []int{PortPostgres},
	}
}

// UpgradeCopy copies the project's metadata database (the running stack's,
// or else the project's own) into the throwaway one (upgrade-copy.sh).
func UpgradeCopy(c Config) Spec {
	return Spec{
		Name:      JobUpgradeCopy,
		Kind:      Job,
		Image:     c.PostgresImage,
		Args:      []string{"sh", upgradeCopyScript, c.DatabaseHost(), itoa(PortPostgres), HostUpgradeDB, c.AirflowDBUser, c.AirflowDBName},
		Env:       map[string]string{},
		SecretEnv: map[string]string{"PGPASSWORD": SecretAirflowDBPassword},
		Needs:     []string{HostPostgres, HostUpgradeDB},
	}
}

// UpgradeRevision prints the project's Alembic revision, read again after
// the test: the project's database is only read.
func UpgradeRevision(c Config) Spec {
	return Spec{
		Name:      "upgrade-revision",
		Kind:      Job,
		Image:     c.PostgresImage,
		Args:      []string{"psql", "-h", c.DatabaseHost(), "-p", itoa(PortPostgres), "-U", c.AirflowDBUser, "-d", c.AirflowDBName, "-tAc", "SELECT version_num FROM alembic_version"},
		Env:       map[string]string{},
		SecretEnv: map[string]string{"PGPASSWORD": SecretAirflowDBPassword},
		Needs:     []string{HostPostgres},
	}
}

// UpgradeMigrate runs image's migration (`airflow db migrate`, as init
// does) on the copy, timed, with the copy's revision before and after it
// (upgrade-migrate.py); the project's image built from image.
func UpgradeMigrate(c Config, image string) Spec {
	s := withCredentials(c, airflow(c, JobUpgradeMigrate, Job, []string{"python3", upgradeMigrateScript, upgradeOut}, JobUpgradeCopy, HostUpgradeDB))
	s.Image = image
	s.Volumes = nil
	s.SecretEnv["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = SecretUpgradeConn
	s.Output = upgradeOut
	return s
}

// UpgradeImport imports every DAG file of the project under the project's
// image built from image, with Airflow's captured warnings, and lists the
// image's packages (upgrade-import.py): no database.
func UpgradeImport(c Config, image string) Spec {
	s := airflow(c, JobUpgradeImport, Job, []string{"python3", upgradeImportScript, upgradeOut + "/import.json"})
	s.Image = image
	s.Volumes = nil
	s.Mounts = append(s.Mounts,
		Mount{Path: AirflowHome + "/dags", Source: c.LiveFolder("dags"), Dir: true, Optional: true},
		Mount{Path: AirflowHome + "/plugins", Source: c.LiveFolder("plugins"), Dir: true, Optional: true},
		Mount{Path: DbtProject, Source: "dbt", Dir: true, Optional: true})
	s.Output = upgradeOut + "/import.json"
	return s
}

// UpgradeDbt parses and compiles the project's dbt under dbtImage, against
// the project's analytics database (read only: compile creates nothing).
func UpgradeDbt(c Config, dbtImage string) Spec {
	s := Dbt(c, nil)
	s.Name, s.Image = JobUpgradeDbt, dbtImage
	s.Args = []string{"sh", "-c", "dbt deps && dbt parse && dbt compile"}
	s.Prepare, s.Output = nil, ""
	return s
}

// ImportResult is what upgrade-import.py found under one Airflow.
type ImportResult struct {
	Airflow  string              `json:"airflow"`
	DAGs     map[string][]string `json:"dags"`     // file -> DAG ids
	Errors   map[string]string   `json:"errors"`   // file -> traceback
	Warnings map[string][]string `json:"warnings"` // file -> warnings
	Packages map[string]string   `json:"packages"` // name -> version
}

// UpgradeFindings are the upgrade test's results, for its report.
type UpgradeFindings struct {
	From, To        string // the two images
	Revision        string // the project's Alembic revision, before
	RevisionAfter   string // the same, read again after the test
	Migrated        bool
	MigrateSeconds  float64
	MigrateRevision string // the copy's, after the migration
	MigrateOutput   string // the migration's last lines, when it failed
	Old, New        ImportResult
	DbtImage        string // "" without --dbt-image
	DbtOK           bool
	DbtOutput       string
}

var traceFrame = regexp.MustCompile(`File "([^"]+)", line (\d+)`)

// errorAt is the line of file in a traceback (its last frame there) and
// the error (its last line).
func errorAt(trace, file string) (int, string) {
	line := 0
	for _, m := range traceFrame.FindAllStringSubmatch(trace, -1) {
		if strings.HasSuffix(m[1], "/"+file) || m[1] == file {
			fmt.Sscan(m[2], &line)
		}
	}
	lines := strings.Split(strings.TrimSpace(trace), "\n")
	return line, strings.TrimSpace(lines[len(lines)-1])
}

// Broken says what the upgrade would break, empty when nothing: the
// migration, a DAG file that imports under the old Airflow and not the
// new, dbt under the new image.
func (f UpgradeFindings) Broken() []string {
	var out []string
	if !f.Migrated {
		out = append(out, "the migration of the metadata database failed")
	}
	for _, file := range sortedKeys(f.New.Errors) {
		if _, before := f.Old.Errors[file]; !before {
			out = append(out, "dags/"+file+" no longer imports")
		}
	}
	if f.DbtImage != "" && !f.DbtOK {
		out = append(out, "dbt fails under "+f.DbtImage)
	}
	if f.RevisionAfter != f.Revision {
		out = append(out, "the project's own metadata database changed (it must only be read)")
	}
	return out
}

// Report is the upgrade test's report, in Markdown.
func (f UpgradeFindings) Report() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Upgrade test: %s → %s", f.From, f.To)
	w("")
	if broken := f.Broken(); len(broken) > 0 {
		w("**Result: broken.** %s.", strings.Join(broken, "; "))
	} else {
		w("**Result: passed.** The migration ran, every DAG file that imports now imports under %s.", f.To)
	}
	w("")
	w("## Metadata database (a copy: the project's own is only read)")
	w("")
	w("- The project's Alembic revision: %s before the test, %s after it.", f.Revision, f.RevisionAfter)
	if f.Migrated {
		w("- `airflow db migrate` under %s: succeeded in %.1f s; the copy is at revision %s.", f.To, f.MigrateSeconds, f.MigrateRevision)
	} else {
		w("- `airflow db migrate` under %s: **failed** after %.1f s. Its last lines:", f.To, f.MigrateSeconds)
		w("")
		w("```\n%s\n```", strings.TrimSpace(f.MigrateOutput))
	}
	w("")
	w("## DAG files")
	w("")
	files := map[string]bool{}
	for _, r := range []ImportResult{f.Old, f.New} {
		for file := range r.DAGs {
			files[file] = true
		}
		for file := range r.Errors {
			files[file] = true
		}
	}
	w("| file | under Airflow %s | under Airflow %s |", f.Old.Airflow, f.New.Airflow)
	w("|---|---|---|")
	status := func(r ImportResult, file string) string {
		if trace, ok := r.Errors[file]; ok {
			line, msg := errorAt(trace, file)
			return fmt.Sprintf("**line %d: %s**", line, strings.ReplaceAll(msg, "|", `\|`))
		}
		if dags := r.DAGs[file]; len(dags) > 0 {
			return "imports: " + strings.Join(dags, ", ")
		}
		return "imports, no DAG"
	}
	for _, file := range sortedKeys(files) {
		w("| dags/%s | %s | %s |", file, status(f.Old, file), status(f.New, file))
	}
	w("")
	w("## Deprecation warnings under Airflow %s, by file", f.New.Airflow)
	w("")
	if len(f.New.Warnings) == 0 {
		w("None.")
	}
	for _, file := range sortedKeys(f.New.Warnings) {
		w("- dags/%s:", file)
		for _, warning := range f.New.Warnings[file] {
			w("  - %s", warning)
		}
	}
	w("")
	w("## Packages of the project's image")
	w("")
	for _, line := range PackageChanges(f.Old.Packages, f.New.Packages) {
		w("- %s", line)
	}
	if f.DbtImage != "" {
		w("")
		w("## dbt under %s", f.DbtImage)
		w("")
		if f.DbtOK {
			w("`dbt deps`, `dbt parse` and `dbt compile` succeeded.")
		} else {
			w("**Failed.** The last lines:")
			w("")
			w("```\n%s\n```", strings.TrimSpace(f.DbtOutput))
		}
	}
	return b.String()
}

// PackageChanges compares two images' packages (name -> version): Airflow
// and its providers first, then the rest; changed, added, removed.
func PackageChanges(old, new map[string]string) []string {
	var airflow, rest []string
	names := map[string]bool{}
	for n := range old {
		names[n] = true
	}
	for n := range new {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		o, inOld := old[n]
		v, inNew := new[n]
		var line string
		switch {
		case inOld && inNew && o != v:
			line = fmt.Sprintf("%s %s → %s", n, o, v)
		case inNew && !inOld:
			line = fmt.Sprintf("%s %s (added)", n, v)
		case inOld && !inNew:
			line = fmt.Sprintf("%s %s (removed)", n, o)
		default:
			continue
		}
		if strings.HasPrefix(n, "apache-airflow") {
			airflow = append(airflow, line)
		} else {
			rest = append(rest, line)
		}
	}
	if len(airflow)+len(rest) == 0 {
		return []string{"No package changed."}
	}
	return append(airflow, rest...)
}

// ParseImportResult reads upgrade-import.py's output.
func ParseImportResult(data string) (ImportResult, error) {
	var r ImportResult
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return r, fmt.Errorf("reading the DAG import's findings: %w", err)
	}
	for _, m := range []map[string][]string{r.DAGs, r.Warnings} {
		for k := range m {
			slices.Sort(m[k])
		}
	}
	return r, nil
}

var versionTag = regexp.MustCompile(`:(\d+\.\d+\.\d+)`)

// CheckAirflowVersion checks the version an Airflow image runs: Airflow 3,
// and the version the image's tag names when it names one (the official
// images' do: apache/airflow:3.1.7).
func CheckAirflowVersion(image, version string) error {
	if !strings.HasPrefix(version, "3.") {
		return fmt.Errorf("%s runs Airflow %q; the platform runs Airflow 3", image, version)
	}
	if m := versionTag.FindStringSubmatch(image); m != nil && m[1] != version {
		return fmt.Errorf("%s runs Airflow %s, not the %s its tag names", image, version, m[1])
	}
	return nil
}
