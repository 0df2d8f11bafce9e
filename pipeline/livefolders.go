package pipeline

import (
	"path"
	"strings"
)

// LiveFolders are the project's folders that every Airflow container of the
// project sees live, from volumes: init, the dbt job and `sync` make them
// exactly the project's, so an edit reaches the running stack without a
// restart (the live command sends each save). dbt/ is there for the DAGs
// that run dbt (the example's, through Cosmos), at the dbt image's path.
var LiveFolders = []string{"dags", "plugins", "dbt"}

// LiveGenerated are what tools write into a live folder, never synced:
// dbt's output, logs and installed packages.
var LiveGenerated = map[string][]string{"dbt": {"target", "logs", "dbt_packages"}}

// LiveFolder is the project's folder (relative to its root) that the live
// folder name mirrors: dags/ and plugins/ under AIRFLOW_PROJ_DIR, dbt/ at
// the root.
func (c Config) LiveFolder(name string) string {
	if name == "dbt" {
		return name
	}
	return path.Join(c.ProjDir(), name)
}

// LiveMount is where the live folder name is in the containers.
func (c Config) LiveMount(name string) string { return c.liveVolume(name).Path }

// projectCopy is where init and sync find the project's folders.
const projectCopy = "/tmp/dataplatform-project"

// withLiveFolders makes a container start by making the live folders
// (all of them by default) exactly the project's (sync-folders.sh), listing
// what it changed in list when list is not "".
func withLiveFolders(c Config, s Spec, list string, folders ...string) Spec {
	step := []string{"sh", syncFoldersScript}
	if list != "" {
		step = append(step, "--list", list)
	}
	if len(folders) == 0 {
		folders = LiveFolders
	}
	for _, f := range folders {
		s.Mounts = append(s.Mounts, Mount{Path: projectCopy + "/" + f, Source: c.LiveFolder(f), Dir: true, Optional: true})
		if keep := LiveGenerated[f]; len(keep) > 0 {
			step = append(step, "--keep", strings.Join(keep, ","))
		}
		step = append(step, projectCopy+"/"+f, c.liveVolume(f).Path)
	}
	s.Prepare = append(s.Prepare, step)
	return s
}

// liveTrees are own-volumes.sh's options giving the live folders and the
// parse stamps to AIRFLOW_UID.
func liveTrees(c Config) []string {
	var opts []string
	for _, f := range LiveFolders {
		opts = append(opts, "--tree", c.liveVolume(f).Path)
	}
	return append(opts, "--tree", c.stampsVolume().Path)
}

// ParseStamps is where the dag-processor leaves a stamp for every DAG file
// it compiles: the SHA-256 of the bytes it compiled and when it read them
// (pipeline/scripts/python/dataplatform_parse_stamps.py). The live command
// and sync read them to report on a parse of the content they sent, and
// never on one of what the file held before.
const ParseStamps = "/var/lib/dataplatform/parsed"

// PythonDir holds the module's Python modules Airflow imports: the parse
// stamps (an airflow.policy plugin) and a worker node's hostname callable.
const PythonDir = ScriptsDir + "/python"

// withStamps makes s, an Airflow container (which mounts the stamps'
// volume), stamp the DAG files it compiles.
func withStamps(s Spec) Spec {
	s.Env["DATAPLATFORM_PARSE_STAMPS"] = ParseStamps
	s.Env["PYTHONPATH"] = PythonDir
	return s
}

// syncList is where sync lists the files it changed.
const syncList = "/tmp/dataplatform-synced"

// Sync makes the project's live folders (dags/, plugins/, dbt/) the stack's,
// running or not, copying only the files that changed; then it says what
// Airflow makes of the changed DAG files and fails naming every one that
// does not import (scripts/parse-now.py): beside a running stack, its own
// dag-processor is asked to parse them at once and its verdict read; with
// no stack, they are imported here.
func Sync(c Config) Spec {
	s := withCredentials(c, airflow(c, "sync", Job, []string{"python3", parseNowScript, syncList, AirflowHome + "/dags", ParseStamps}),
		SecretSQLAlchemyConn, Connections)
	if c.database != "" {
		s.Env["DATAPLATFORM_STACK_DB"] = "1"
	} else {
		// No stack runs: the live folders may not be AIRFLOW_UID's yet (a
		// running stack's init made them so).
		s.AsRoot = append([]string{"sh", ownVolumesScript, c.AirflowUser()}, liveTrees(c)...)
	}
	return withLiveFolders(c, s, syncList)
}

// DagCheck parses every DAG under dags/ and fails on import errors, naming
// each file. dir overrides the folder (a path inside the project).
func DagCheck(c Config, dir string) Spec {
	if dir == "" {
		dir = path.Join(c.ProjDir(), "dags")
	}
	s := withCredentials(c, airflow(c, "dag-check", Job, []string{"python3", checkDagsScript, AirflowHome + "/dags"}),
		SecretSQLAlchemyConn, Connections)
	s.Mounts = append(s.Mounts,
		Mount{Path: AirflowHome + "/dags", Source: dir, Dir: true},
		// DAGs that render dbt at parse (the example's) read the project's.
		Mount{Path: DbtProject, Source: "dbt", Dir: true, Optional: true})
	s.Volumes = nil
	return s
}
