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
	// The project: .env, dags/, plugins/, config/, dbt/ and init/init-db.sh,
	// each read when present; this directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
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
	// The project: .env, dags/, plugins/, config/, dbt/ and init/init-db.sh,
	// each read when present; this directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) error {
	_, err := m.DagCheck(ctx, source, nil)
	return err
}

// CheckPostgresImage checks the PostgreSQL image's contract: a script in
// /docker-entrypoint-initdb.d/ runs on first start, and the credentials
// from POSTGRES_USER / POSTGRES_PASSWORD are accepted (and a wrong password is not).
// +check
func (m *DataPlatform) CheckPostgresImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/ and init/init-db.sh,
	// each read when present; this directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
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
	// The project: .env, dags/, plugins/, config/, dbt/ and init/init-db.sh,
	// each read when present; this directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
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

// CheckAirflowImage checks that the Airflow image runs Airflow 3.1.7 and that
// the Celery, Postgres and FAB providers import.
// +check
func (m *DataPlatform) CheckAirflowImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/ and init/init-db.sh,
	// each read when present; this directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
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
	if lines := strings.Split(strings.TrimSpace(version), "\n"); lines[len(lines)-1] != "3.1.7" {
		return fmt.Errorf("airflow image: want version 3.1.7, got %q", version)
	}
	_, err = airflow.WithExec([]string{"python3", "-c", "import airflow.providers.celery.executors.celery_executor, " +
		"airflow.providers.postgres.hooks.postgres, airflow.providers.fab.auth_manager.fab_auth_manager"}).Sync(ctx)
	if err != nil {
		return fmt.Errorf("airflow image: the celery, postgres and fab providers: %w", err)
	}
	return nil
}

// CheckDbtImage checks that dbt runs and lists the postgres adapter.
// +check
func (m *DataPlatform) CheckDbtImage(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/ and init/init-db.sh,
	// each read when present; this directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
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
	return nil
}
