package pipeline

// HostPostgres is PostgreSQL's hostname (the spec's compose service name).
const HostPostgres = "postgres"

// PortPostgres is PostgreSQL's port in its container.
const PortPostgres = 5432

// initDBScript is where the image's entrypoint runs init/init-db.sh from:
// the project's, when it has one (the spec's file, the user's to change),
// or else the module's own copy of the spec's.
const initDBScript = "/docker-entrypoint-initdb.d/init-db.sh"

// Postgres: one server, three databases. The image's entrypoint creates the
// superuser and POSTGRES_DB, then runs init-db.sh once on an empty data dir;
// on every later start postgres-start.sh first gives the three roles
// the passwords of .env. A postmaster.pid found once the container holds
// the data lock is stale (an engine kill leaves it behind) and removed;
// never on a restart in the same container, where an old postmaster may
// still live. INT is its fast shutdown (the official image's STOPSIGNAL).
func Postgres(c Config) Spec {
	s := Spec{
		Name:  HostPostgres,
		Image: c.PostgresImage,
		Args:  []string{"sh", PostgresStartScript},
		Env: map[string]string{
			"POSTGRES_USER":   c.PostgresUser,
			"POSTGRES_DB":     c.PostgresDB,
			"PGDATA":          PGData,
			"AIRFLOW_DB_USER": c.AirflowDBUser,
			"AIRFLOW_DB_NAME": c.AirflowDBName,
			"DBT_DB_USER":     c.DbtDBUser,
			"DBT_DB_NAME":     c.DbtDBName,
		},
		SecretEnv: map[string]string{
			"POSTGRES_PASSWORD":   SecretPostgresPassword,
			"AIRFLOW_DB_PASSWORD": SecretAirflowDBPassword,
			"DBT_DB_PASSWORD":     SecretDbtDBPassword,
		},
		Ports:   []int{PortPostgres},
		Volumes: []Volume{c.PostgresVolume()},
		Mounts:  []Mount{{Path: initDBScript, Source: InitDBFile, From: FromProjectOrModule}},
	}
	return holding(c, supervise(s, "INT"), HostPostgres, PGData+"/postmaster.pid")
}
