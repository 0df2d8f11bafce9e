package pipeline

import "strconv"

// ScriptsDir is where every container finds the scripts of the project's
// init/ folder: what its containers run besides their programs (the
// supervisor, the data lock, the output keeper, init, ...). Each is a shell
// file with arguments, checked by shellcheck and unit-tested where it holds
// logic, never shell assembled in Go strings.
const ScriptsDir = "/usr/local/lib/dataplatform"

// The scripts, where the containers find them.
var (
	RestartScript       = script("restart-always.sh")
	HoldDataScript      = script("hold-data.sh")
	FindHoldersScript   = script("find-holders.sh")
	KeepOutputScript    = script("keep-output.sh")
	PostgresStartScript = script("postgres-start.sh")
	airflowInitScript   = script("airflow-init.sh")
	syncFoldersScript   = script("sync-folders.sh")
	ownVolumesScript    = script("own-volumes.sh")
	withPipScript       = script("with-pip.sh")
	dbtDepsScript       = script("dbt-deps.sh")
	dbtDocsScript       = script("dbt-docs.sh")
	forwardScript       = script("forward.sh")
	showLogScript       = script("show-log.sh")
	wipeVolumesScript   = script("wipe-volumes.sh")
	parseNowScript      = script("parse-now.py")
	remoteCheckScript   = script("remote-check.py")
)

func script(name string) string { return ScriptsDir + "/" + name }

// scriptsMount gives a container the scripts.
func scriptsMount() Mount { return Mount{Path: ScriptsDir, Source: "init", Dir: true} }

// withScripts gives s the scripts, once.
func withScripts(s Spec) Spec {
	for _, m := range s.Mounts {
		if m.Path == ScriptsDir {
			return s
		}
	}
	s.Mounts = append(s.Mounts, scriptsMount())
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
