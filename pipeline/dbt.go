package pipeline

import (
	"fmt"
	"regexp"
)

// PortDbtDocs is where dbt-docs serves the documentation site.
const PortDbtDocs = 8081

// Dbt runs one dbt command line against the analytics database; profiles.yml
// reads the DBT_* variables with env_var(). Packages are installed first
// (scripts/dbt-deps.sh), into a volume of the project, only when packages.yml
// changed.
func Dbt(c Config, args []string) Spec {
	return Spec{
		Name:    "dbt",
		Kind:    Job,
		Image:   c.DbtImage,
		Args:    append([]string{"dbt"}, args...),
		Prepare: [][]string{{"sh", dbtDepsScript, DbtProject, DbtPackagesCache}},
		Volumes: []Volume{c.dbtPackagesVolume()},
		Env: map[string]string{
			"DBT_PROFILES_DIR": DbtProject,
			"DBT_DB_HOST":      c.DatabaseHost(),
			"DBT_DB_PORT":      itoa(PortPostgres),
			"DBT_DB_USER":      c.DbtDBUser,
			"DBT_DB_NAME":      c.DbtDBName,
			"DBT_SCHEMA":       c.DbtSchema,
		},
		SecretEnv: map[string]string{"DBT_DB_PASSWORD": SecretDbtDBPassword},
		Mounts:    []Mount{{Path: DbtProject, Source: "dbt", Dir: true}},
		Needs:     []string{HostPostgres},
		Output:    DbtProject + "/target",
	}
}

// HostDbtServer is the stack's warm dbt: one dbt process that keeps dbt
// imported and the project parsed, and runs one dbt command at a time
// (dbt-server.py), for the live command's builds and `dagger call dbt`
// beside the stack.
const HostDbtServer = "dbt-server"

// PortDbtServer is its port in its container (never on the host).
const PortDbtServer = 8585

// DbtServer is the warm dbt, on the dbt image, in the stack's dbt folder
// (the live folder dbt-prepare made the project's), as AIRFLOW_UID with the
// dbt role's own credentials only. It holds its place in the run volume as
// a server holds its data, so that a call finds its address.
func DbtServer(c Config) Spec {
	s := Dbt(c, nil)
	s.Name, s.Kind = HostDbtServer, Service
	s.Args = []string{"python3", dbtServerScript, itoa(PortDbtServer), DbtProject}
	s.Mounts, s.Prepare, s.Output = nil, nil, ""
	s.Volumes = []Volume{c.liveVolume("dbt")}
	s.User = c.AirflowUser()
	s.Env["HOME"] = "/tmp"
	s.Ports = []int{PortDbtServer}
	s.Needs = []string{HostPostgres, JobDbtPrepare}
	// Its lock beside the servers', which run as root.
	s.AsRoot = []string{"sh", ownVolumesScript, c.AirflowUser(), "--shared", RunDir}
	return holding(c, supervise(s, "TERM"), HostDbtServer)
}

// DbtCommand runs one dbt command line, as `dagger call dbt` does: through
// the running stack's warm dbt when there is one (the project's dbt/
// synced into the stack first, as compose's bind mount has it; dbt's
// output, exit status and target/ as a dbt of its own gives them), or in a
// dbt container of its own (Dbt).
func DbtCommand(c Config, args []string) Spec {
	if c.dbtServer == "" {
		return Dbt(c, args)
	}
	out := "/tmp/dataplatform-dbt-target"
	s := Spec{
		Name:    "dbt",
		Kind:    Job,
		Image:   c.DbtImage,
		Args:    append([]string{"python3", dbtClientScript, fmt.Sprintf("http://%s:%d", c.dbtServer, PortDbtServer), DbtProject, out, "--"}, args...),
		User:    c.AirflowUser(),
		Env:     map[string]string{"HOME": "/tmp"},
		Volumes: []Volume{c.liveVolume("dbt")},
		Output:  out,
	}
	return withLiveFolders(c, s, "", "dbt")
}

// JobDbtPrepare makes the stack's dbt folder (a live folder, which every
// Airflow container sees at DbtProject) the project's, with its packages
// installed and its manifest parsed (target/manifest.json), before any
// Airflow service starts: for the DAGs that run dbt.
const JobDbtPrepare = "dbt-prepare"

// DbtPrepare is the dbt job of the stack, on the dbt image, as AIRFLOW_UID
// (the live folder's owner, which the live receiver writes as).
func DbtPrepare(c Config) Spec {
	s := Dbt(c, []string{"parse"})
	s.Name = JobDbtPrepare
	s.Mounts, s.Prepare = nil, nil // the live folder, not a copy
	// It needs no database (parse does not connect), but starts beside
	// init, which starts the servers, rather than before them.
	s.Needs = []string{HostPostgres}
	s.Volumes = append(s.Volumes, c.liveVolume("dbt"))
	s.User = c.AirflowUser()
	s.Env["HOME"] = "/tmp"
	s.AsRoot = []string{"sh", ownVolumesScript, c.AirflowUser(), "--tree", c.liveVolume("dbt").Path, "--tree", DbtPackagesCache}
	s = withLiveFolders(c, s, "", "dbt")
	s.Prepare = append(s.Prepare, []string{"sh", dbtDepsScript, "--if-project", "--parse-once", DbtProject, DbtPackagesCache})
	return s
}

// Where dbt-ci finds an earlier run's artifacts and leaves its own.
const (
	DbtCIState     = "/ci/state"
	DbtCIArtifacts = "/ci/artifacts"
)

var schemaSuffixRe = regexp.MustCompile(`^[a-z0-9_]{1,20}$`)

// DbtCI runs dbt-ci.sh (a script of the module): build (state-aware when DbtCIState holds
// a manifest), optionally source freshness, docs; artifacts and a summary
// in DbtCIArtifacts. suffix is appended to the target schema (DBT_SCHEMA),
// so parallel runs never share tables.
func DbtCI(c Config, suffix string, freshness bool) Spec {
	s := Dbt(c, nil)
	s.Name = "dbt-ci"
	s.Args = []string{"bash", dbtCIScript}
	withSchemaSuffix(s, suffix)
	if freshness {
		s.Env["DBT_CI_FRESHNESS"] = "true"
	}
	return s
}

// DbtDropSchemas drops the target schema of a suffix and every schema
// derived from it (macro drop_target_schemas).
func DbtDropSchemas(c Config, suffix string) Spec {
	s := Dbt(c, []string{"run-operation", "drop_target_schemas"})
	s.Name = "dbt-drop-schemas"
	withSchemaSuffix(s, suffix)
	return s
}

// withSchemaSuffix gives dbt a schema suffix (see CheckSchemaSuffix).
func withSchemaSuffix(s Spec, suffix string) {
	if suffix != "" {
		s.Env["DBT_SCHEMA_SUFFIX"] = suffix
	}
}

// CheckSchemaSuffix checks a schema suffix: the longest schema it makes
// (<DBT_SCHEMA>_<suffix>_reference) must fit PostgreSQL's 63 characters.
func CheckSchemaSuffix(c Config, suffix string) error {
	if suffix == "" {
		return nil
	}
	if !schemaSuffixRe.MatchString(suffix) {
		return fmt.Errorf("--schema-suffix: %q must be 1-20 lowercase letters, digits or _", suffix)
	}
	if n := len(c.DbtSchema + "_" + suffix + "_reference"); n > 63 {
		return fmt.Errorf("--schema-suffix: with DBT_SCHEMA %q the schema names would be %d characters long (PostgreSQL allows 63)", c.DbtSchema, n)
	}
	return nil
}

// DbtDocs generates dbt's documentation site and serves it on PortDbtDocs.
func DbtDocs(c Config) Spec {
	s := Dbt(c, nil)
	s.Name = "dbt-docs"
	s.Kind = Service
	s.Args = []string{"sh", dbtDocsScript, itoa(PortDbtDocs)}
	s.Ports = []int{PortDbtDocs}
	return s
}

// EltCheck runs elt_check.py (a script of the module) in the dbt image next to a live stack
// (through the gateway): the example DAG via the REST API, then dbt build,
// then the marts compared with the loaded rows.
func EltCheck(c Config) Spec {
	s := Dbt(c, nil)
	s.Name = "elt-check"
	s.Args = []string{"python3", eltCheckScript}
	s.Env["API_URL"] = fmt.Sprintf("http://%s:%d", HostGateway, c.AirflowAPIPort)
	s.Env["AIRFLOW_WWW_USER"] = c.AirflowWWWUser
	s.SecretEnv["AIRFLOW_WWW_PASSWORD"] = SecretWWWPassword
	s.Needs = []string{HostPostgres, HostGateway}
	return s
}
