package pipeline

import "strconv"

// ScriptsDir is where every container finds the module's own scripts
// (pipeline/scripts/): what its containers run besides their programs (the
// supervisor, the data lock, the output keeper, init, the live receiver,
// ...). They travel with the module, never with the project: a project
// holds only its own files (see ProjectFiles). Each is a file with
// arguments, checked by shellcheck and unit-tested where it holds logic,
// never shell assembled in Go strings.
const ScriptsDir = "/usr/local/lib/dataplatform"

// ModuleScripts is the folder of the module's scripts, relative to the
// module's root (where the Dagger layer embeds them from).
const ModuleScripts = "pipeline/scripts"

// The scripts, where the containers find them.
var (
	RestartScript             = script("restart-always.sh")
	HoldDataScript            = script("hold-data.sh")
	FindHoldersScript         = script("find-holders.sh")
	KeepOutputScript          = script("keep-output.sh")
	PostgresStartScript       = script("postgres-start.sh")
	airflowInitScript         = script("airflow-init.sh")
	syncFoldersScript         = script("sync-folders.sh")
	ownVolumesScript          = script("own-volumes.sh")
	installPackagesScript     = script("install-packages.sh")
	installRequirementsScript = script("install-requirements.py")
	dbtDepsScript             = script("dbt-deps.sh")
	dbtDocsScript             = script("dbt-docs.sh")
	dbtCIScript               = script("dbt-ci.sh")
	dbtServerScript           = script("dbt-server.py")
	dbtClientScript           = script("dbt-client.py")
	applySettingsScript       = script("apply-settings.py")
	upgradeCopyScript         = script("upgrade-copy.sh")
	upgradeMigrateScript      = script("upgrade-migrate.py")
	upgradeImportScript       = script("upgrade-import.py")
	exportSettingsScript      = script("export-settings.py")
	checkDagsScript           = script("check_dags.py")
	eltCheckScript            = script("elt_check.py")
	forwardScript             = script("forward.py")
	showLogScript             = script("show-log.sh")
	wipeVolumesScript         = script("wipe-volumes.sh")
	parseNowScript            = script("parse-now.py")
	remoteCheckScript         = script("remote-check.py")
)

func script(name string) string { return ScriptsDir + "/" + name }

// scriptsMount gives a container the module's scripts.
func scriptsMount() Mount {
	return Mount{Path: ScriptsDir, Source: ModuleScripts, Dir: true, From: FromModule}
}

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
