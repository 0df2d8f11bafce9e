package pipeline

import "strings"

// A project is what a compose (or Astro) user already has, and nothing of
// the module: the module's own scripts travel with the module (see
// ScriptsDir), so a team's repository holds only these files, and an old
// copy of a script in it never runs under a newer module.

// ProjectFile is one file or folder of a project the module reads.
type ProjectFile struct {
	Path string // relative to the project's root
	Dir  bool
	What string // what it holds, for the documentation
}

// ProjectFiles are every file and folder the module reads from a project
// (each function's --source), in the order the documentation lists them.
// Each function's source argument lets in exactly these (a unit test holds
// their +ignore lists to SourceIgnore).
var ProjectFiles = []ProjectFile{
	{".env", false, "the configuration (every variable of .env.example), read as compose reads it"},
	{"dags", true, "the DAG files (under AIRFLOW_PROJ_DIR)"},
	{"plugins", true, "Airflow plugins (under AIRFLOW_PROJ_DIR)"},
	{"config", true, "airflow.cfg and airflow_local_settings.py (under AIRFLOW_PROJ_DIR)"},
	{"dbt", true, "the dbt project, with its profiles.yml"},
	{InitDBFile, false, "the PostgreSQL roles and databases, run once on an empty database; the module's copy of the spec's when missing"},
	{PackagesFile, false, "Debian packages of the project's Airflow image, one a line"},
	{RequirementsFile, false, "pip requirements of the project's Airflow image"},
	{DockerfileFile, false, "the project's Airflow image, built from AIRFLOW_IMAGE_NAME (instead of the two files above)"},
	{DockerignoreFile, false, "what the Dockerfile's build does not see"},
	{"include", true, "any other file the Dockerfile copies into the image"},
	{"tests", true, "the project's tests, which `dagger call pytest` runs"},
	{SettingsFile, false, "connections, variables and pools (Astro CLI's format), applied at every up"},
}

// InitDBFile is the spec's script that makes the Airflow and dbt roles and
// databases; a project may hold its own (see FromProjectOrModule).
const InitDBFile = "init/init-db.sh"

// generatedInProject are paths under the project's files that tools write
// and the module never reads: dbt's output and packages, Python's bytecode.
var generatedInProject = []string{"dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"}

// SourceIgnore is the +ignore list of every function's source argument:
// everything but ProjectFiles (also at any depth for AIRFLOW_PROJ_DIR's
// folders), and what tools generate among them.
func SourceIgnore() []string {
	out := []string{"*"}
	var nested []string
	for _, f := range ProjectFiles {
		out = append(out, "!"+f.Path)
		if f.Path == "dags" || f.Path == "plugins" || f.Path == "config" {
			nested = append(nested, "!**/"+f.Path)
		}
	}
	return append(append(out, nested...), generatedInProject...)
}

// SourcePragma is SourceIgnore as the pragma of a source argument.
func SourcePragma() string {
	return `+ignore=["` + strings.Join(SourceIgnore(), `", "`) + `"]`
}

// SourceDoc is the documentation of every function's source argument
// (what `dagger call FUNCTION --help` says of --source).
func SourceDoc() string {
	var names []string
	for _, f := range ProjectFiles {
		if f.Path == DockerignoreFile || f.Path == "include" {
			continue // the Dockerfile's, said with it
		}
		name := f.Path
		if f.Dir {
			name += "/"
		}
		if f.Path == DockerfileFile {
			name += " (with .dockerignore and include/)"
		}
		names = append(names, name)
	}
	return "The project: " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] +
		", each read when present; this directory by default."
}
