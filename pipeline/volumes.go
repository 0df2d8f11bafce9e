package pipeline

// The project's persistent data lives in cache volumes whose keys name the
// project: two projects never share data, and `wipe` empties every one.

// Paths inside the containers.
const (
	AirflowHome = "/opt/airflow"
	PGData      = "/var/lib/postgresql/data"
	ValkeyData  = "/data"
	DbtProject  = "/usr/app/dbt"
	SecretsDir  = "/run/secrets"
	// ServiceLogs: where each long-running service's output is kept.
	ServiceLogs = "/var/log/dataplatform"
	// DbtPackagesCache is where dbt's installed packages are kept between calls.
	DbtPackagesCache = "/usr/app/dbt-packages-cache"
	// keysDir: the generated keys' volumes, one folder each.
	keysDir = AirflowHome + "/secrets"
)

func (c Config) volume(name, path string, exclusive bool) Volume {
	return Volume{Key: "dataplatform-" + c.ProjectName + "-" + name, Path: path, Exclusive: exclusive}
}

// Volumes of a project: what `wipe` empties (the spec's `down -v`).
func (c Config) Volumes() []Volume {
	return []Volume{c.PostgresVolume(), c.valkeyVolume(), c.logsVolume(),
		c.keyVolume(SecretFernetKey), c.keyVolume(SecretJWTSecret), c.keyVolume(SecretLiveKey), c.dbtPackagesVolume(), c.serviceLogsVolume(),
		c.runVolume(), c.stampsVolume()}
}

// PostgresVolume holds the PostgreSQL data, locked to one container at a time.
func (c Config) PostgresVolume() Volume { return c.volume("postgres", PGData, true) }

func (c Config) valkeyVolume() Volume { return c.volume("valkey", ValkeyData, true) }

// The logs volume is shared by every Airflow container. It has no Dagger
// owner: mounting one shared volume with an owner from several containers
// starting at once makes the engine's overlay mounts collide. Init chowns it.
func (c Config) logsVolume() Volume { return c.volume("airflow-logs", AirflowHome+"/logs", false) }

// keyVolume holds one generated key of the project (a file "key"), one volume
// per key so a container that needs one never sees the other.
func (c Config) keyVolume(secret string) Volume {
	return c.volume(secret, keysDir+"/"+secret, false)
}

// keyFile is the generated key's file.
func (c Config) keyFile(secret string) string { return c.keyVolume(secret).Path + "/key" }

// serviceLogsVolume keeps the services' output (see keepingOutput).
func (c Config) serviceLogsVolume() Volume { return c.volume("service-logs", ServiceLogs, false) }

// dbtPackagesVolume keeps dbt's installed packages (see dbt-deps.sh).
func (c Config) dbtPackagesVolume() Volume { return c.volume("dbt-packages", DbtPackagesCache, false) }

// liveVolume holds one live folder of the project (see LiveFolders): at
// AIRFLOW_HOME in Airflow's containers, dbt/ at the dbt image's project
// path (its installed local packages link there).
func (c Config) liveVolume(folder string) Volume {
	if folder == "dbt" {
		return c.volume("live-dbt", DbtProject, false)
	}
	return c.volume("live-"+folder, AirflowHome+"/"+folder, false)
}

// stampsVolume holds the dag-processor's parse stamps (see ParseStamps).
func (c Config) stampsVolume() Volume { return c.volume("parse-stamps", ParseStamps, false) }

// runVolume holds the data locks and their holders' addresses.
func (c Config) runVolume() Volume { return c.volume("run", RunDir, false) }

// Wipe empties every volume of the project, each mounted exactly as its
// services mount it (same key, sharing and owner: otherwise it would be
// another volume).
func Wipe(c Config) Spec {
	vols := c.Volumes()
	args := []string{"sh", wipeVolumesScript}
	for _, v := range vols {
		args = append(args, v.Key+":"+v.Path)
	}
	return Spec{Name: "wipe", Kind: Job, Image: c.PostgresImage, Args: args, Volumes: vols}
}
