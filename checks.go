package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

// DagCheck parses every DAG and fails on any import error, listing each file
// with its error. Checks the project's dags/ unless --dags names a folder.
// +cache="never"
func (m *DataPlatform) DagCheck(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// A folder of DAG files to check instead of the project's.
	// +optional
	dags *dagger.Directory,
) (string, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return "", err
	}
	dir := ""
	if dags != nil {
		dir = ".dags-under-check"
		p.source = p.source.WithDirectory(dir, dags)
	}
	return p.run(ctx, pipeline.DataUnused, func(c pipeline.Config) pipeline.Spec { return pipeline.DagCheck(c, dir) })
}

// CheckDags is DagCheck on the project's dags/, for `dagger check`.
// +check
func (m *DataPlatform) CheckDags(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	_, err := m.DagCheck(ctx, source, nil)
	return err
}

// Pytest runs the project's tests (tests/, pytest's own discovery) in the
// project's Airflow image, with dags/ and plugins/ importable as in the
// stack; no stack needed. Returns pytest's JUnit XML report (`-o
// junit.xml`); fails with pytest's output when a test fails, unless
// --allow-failure (the report then says which).
// +cache="never"
func (m *DataPlatform) Pytest(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// More of pytest's arguments, e.g. "-k orders -x".
	// +optional
	args string,
	// Return the report even when a test fails.
	// +optional
	allowFailure bool,
) (*dagger.File, error) {
	var argv []string
	if strings.TrimSpace(args) != "" { // pytest's own arguments are optional
		var err error
		if argv, err = pipeline.SplitArgs("args", args); err != nil {
			return nil, err
		}
	}
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, err
	}
	ctr, spec, err := p.job(ctx, pipeline.DataUnused, func(c pipeline.Config) pipeline.Spec { return pipeline.Pytest(c, argv) })
	if err != nil {
		return nil, err
	}
	out := ctr.WithExec(spec.Command(), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := out.ExitCode(ctx)
	if err != nil {
		return nil, err
	}
	if code != 0 && !allowFailure {
		stdout, err := out.Stdout(ctx)
		if err != nil {
			return nil, err
		}
		stderr, _ := out.Stderr(ctx)
		return nil, fmt.Errorf("pytest exited with %d (--allow-failure returns the report anyway):\n%s", code, strings.TrimRight(stdout+stderr, "\n"))
	}
	return out.File(spec.Output), nil
}

// CheckTests is Pytest on the project's tests, for `dagger check` (a
// project without tests/ passes).
// +check
func (m *DataPlatform) CheckTests(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	if ok, err := source.Exists(ctx, "tests"); err != nil || !ok {
		return err
	}
	_, err := m.Pytest(ctx, source, "", false)
	return err
}

// CheckPostgresImage checks the PostgreSQL image's contract: a script in
// /docker-entrypoint-initdb.d/ runs on first start, and the credentials
// from POSTGRES_USER / POSTGRES_PASSWORD are accepted (and a wrong password is not).
// +check
func (m *DataPlatform) CheckPostgresImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	p, err := m.load(ctx, source)
	if err != nil {
		return err
	}
	password := dag.SetSecret("check-postgres-password", "check-"+p.runID)
	server := dag.Container().From(p.cfg.PostgresImage).
		WithEnvVariable("POSTGRES_USER", "checker").
		WithSecretVariable("POSTGRES_PASSWORD", password).
		WithEnvVariable("POSTGRES_DB", "checkdb").
		WithNewFile("/docker-entrypoint-initdb.d/10-check.sql", "CREATE TABLE initdb_ran (id int); INSERT INTO initdb_ran VALUES (42);").
		WithExposedPort(pipeline.PortPostgres)
	db, err := p.asService(p.fresh(server), nil)
	if err != nil {
		return err
	}
	client := p.fresh(dag.Container().From(p.cfg.PostgresImage).WithServiceBinding("db", db))
	out, err := client.WithSecretVariable("PGPASSWORD", password).
		WithExec([]string{"psql", "-h", "db", "-U", "checker", "-d", "checkdb", "-tAc", "SELECT id FROM initdb_ran"}).
		Stdout(ctx)
	if err != nil {
		return fmt.Errorf("postgres: env credentials or init script: %w", err)
	}
	if strings.TrimSpace(out) != "42" {
		return fmt.Errorf("postgres: init script did not run (got %q)", out)
	}
	wrong := client.WithSecretVariable("PGPASSWORD", dag.SetSecret("check-postgres-wrong", "wrong-"+p.runID)).
		WithExec([]string{"psql", "-h", "db", "-U", "checker", "-d", "checkdb", "-c", "SELECT 1"},
			dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeFailure})
	if _, err := wrong.Sync(ctx); err != nil {
		return fmt.Errorf("postgres: a wrong password was accepted: %w", err)
	}
	return nil
}

// CheckValkeyImage checks that the Valkey service answers PING only with its
// password, and runs with noeviction and AOF on.
// +check
func (m *DataPlatform) CheckValkeyImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	p, err := m.load(ctx, source)
	if err != nil {
		return err
	}
	plan, err := pipeline.StackPlan(p.cfg, pipeline.Options{Workers: 1}, pipeline.HostValkey)
	if err != nil {
		return err
	}
	def := plan.Specs[pipeline.HostValkey]
	def.Volumes = nil // a throwaway instance: keep the project's data out of it
	ctr, err := p.container(plan, def, nil)
	if err != nil {
		return err
	}
	kv, err := p.asService(p.fresh(ctr), def.Args)
	if err != nil {
		return err
	}
	cli := p.fresh(dag.Container().From(p.cfg.ValkeyImage).WithServiceBinding("kv", kv))
	// valkey-cli exits 0 on NOAUTH: judge by its output.
	anon := cli.WithExec([]string{"valkey-cli", "-h", "kv", "ping"}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	stdout, err := anon.Stdout(ctx)
	if err != nil {
		return err
	}
	stderr, err := anon.Stderr(ctx)
	if err != nil {
		return err
	}
	if !strings.Contains(stdout+stderr, "NOAUTH") {
		return fmt.Errorf("valkey: PING without password answered %q, want NOAUTH", strings.TrimSpace(stdout+stderr))
	}
	authed := cli.WithSecretVariable("REDISCLI_AUTH", p.secret(plan, pipeline.SecretValkeyPassword))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ping"}, "PONG"},
		{[]string{"config", "get", "maxmemory-policy"}, "noeviction"},
		{[]string{"config", "get", "appendonly"}, "appendonly\nyes"},
	} {
		out, err := authed.WithExec(append([]string{"valkey-cli", "-h", "kv"}, c.args...)).Stdout(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(out, c.want) {
			return fmt.Errorf("valkey: with its password, %s answered %q, want %q", strings.Join(c.args, " "), out, c.want)
		}
	}
	return nil
}

// CheckAirflowImage checks that the Airflow image runs Airflow 3, the
// version its tag names when it names one, and that the Celery, Postgres
// and FAB providers import.
// +check
func (m *DataPlatform) CheckAirflowImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	p, err := m.load(ctx, source)
	if err != nil {
		return err
	}
	airflow := dag.Container().From(p.cfg.AirflowImage)
	version, err := airflow.WithExec([]string{"airflow", "version"}).Stdout(ctx)
	if err != nil {
		return fmt.Errorf("airflow image: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(version), "\n")
	if err := pipeline.CheckAirflowVersion(p.cfg.AirflowImage, lines[len(lines)-1]); err != nil {
		return fmt.Errorf("airflow image: %w", err)
	}
	_, err = airflow.WithExec([]string{"python3", "-c", "import airflow.providers.celery.executors.celery_executor, " +
		"airflow.providers.postgres.hooks.postgres, airflow.providers.fab.auth_manager.fab_auth_manager"}).Sync(ctx)
	if err != nil {
		return fmt.Errorf("airflow image: the celery, postgres and fab providers: %w", err)
	}
	return nil
}

// CheckDbtImage checks that dbt runs and lists the postgres adapter, and
// that the image has what the stack's warm dbt runs under (flock, awk).
// +check
func (m *DataPlatform) CheckDbtImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	p, err := m.load(ctx, source)
	if err != nil {
		return err
	}
	out, err := dag.Container().From(p.cfg.DbtImage).WithExec([]string{"dbt", "--version"}).Stdout(ctx)
	if err != nil {
		return fmt.Errorf("dbt image: %w", err)
	}
	if !strings.Contains(out, "postgres:") {
		return fmt.Errorf("dbt image: no postgres adapter in:\n%s", out)
	}
	if _, err := dag.Container().From(p.cfg.DbtImage).WithExec([]string{"sh", "-c", "command -v flock && command -v awk && command -v python3"}).Sync(ctx); err != nil {
		return fmt.Errorf("dbt image: the stack's warm dbt runs with flock, awk and python3, which %s lacks: %w", p.cfg.DbtImage, err)
	}
	return nil
}
