package pipeline

import "fmt"

// Baseline steps for the benchmark: the stack's critical path and a dbt run,
// each timed inside one plain container exec, so that `up` and `dagger call
// dbt` can be compared with the work they wrap.

// Timed wraps a command so the exec prints "name=SECONDS" for how long it
// took. With ready set, the command runs in the background and the time is
// until the ready probe first succeeds (then the command is stopped).
func Timed(name, command, ready string) []string {
	script := `t0=$(date +%s%N); ` + command + `; t1=$(date +%s%N)`
	if ready != "" {
		script = `t0=$(date +%s%N); ` + command + ` >/tmp/timed.log 2>&1 & pid=$!; ` +
			`until ` + ready + ` >/dev/null 2>&1; do kill -0 $pid 2>/dev/null || { cat /tmp/timed.log; exit 1; }; sleep 0.1; done; ` +
			`t1=$(date +%s%N); kill $pid 2>/dev/null; wait $pid 2>/dev/null || true`
	}
	return []string{"bash", "-c", "set -e; " + script + fmt.Sprintf(`; echo "%s=$(( (t1 - t0) / 1000000 ))ms"`, name)}
}

// BaselinePostgres: initdb and start on an empty data directory until
// pg_isready, as the postgres service does on a cold start.
func BaselinePostgres(c Config) Service {
	s := Postgres(c)
	s.Name = "baseline-postgres"
	s.Volumes = nil // a throwaway data directory, no project's data to hold
	s.Holds = ""
	s.Env["PGDATA"] = "/tmp/pgdata"
	s.Restart = false // one timed exec, not a supervised service
	s.Args = Timed("postgres_ready", "docker-entrypoint.sh postgres", "pg_isready -h 127.0.0.1 -q")
	return s
}

// BaselineMigrate: `airflow db migrate` on the project's (already migrated) data.
func BaselineMigrate(c Config) Service {
	s := CLI(c, nil)
	s.Name = "baseline-migrate"
	s.Args = Timed("db_migrate", "airflow db migrate >/dev/null 2>&1", "")
	return s
}

// BaselineAPIServer: the api-server from start until its health endpoint answers.
func BaselineAPIServer(c Config) Service {
	s := APIServer(c)
	s.Name = "baseline-api-server"
	s.Ports = nil
	s.Restart = false
	s.Args = Timed("api_server_boot", fmt.Sprintf("airflow api-server --port %d", PortAPIServer),
		fmt.Sprintf("curl -fs http://127.0.0.1:%d/api/v2/monitor/health", PortAPIServer))
	return s
}

// BaselineDbtTest: `dbt test` in one exec.
func BaselineDbtTest(c Config) Service {
	s := Dbt(c, nil)
	s.Name = "baseline-dbt-test"
	s.Args = Timed("dbt_test", "dbt test >/dev/null", "")
	return s
}
