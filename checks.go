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
	// A folder of DAG files to check instead of the project's.
	// +optional
	dags *dagger.Directory,
) (string, error) {
	p, err := m.platform(ctx)
	if err != nil {
		return "", err
	}
	dir := ""
	if dags != nil {
		dir = ".dags-under-check"
		p.source = p.source.WithDirectory(dir, dags)
	}
	return p.run(ctx, pipeline.DagCheck(p.cfg, dir))
}

// CheckDags is DagCheck on the project's dags/, for `dagger check`.
// +check
func (m *DataPlatform) CheckDags(ctx context.Context) error {
	_, err := m.DagCheck(ctx, nil)
	return err
}

// CheckPostgresImage checks the PostgreSQL image's contract: a script in
// /docker-entrypoint-initdb.d/ runs on first start, and the credentials
// from POSTGRES_USER / POSTGRES_PASSWORD are accepted (and a wrong password is not).
// +check
func (m *DataPlatform) CheckPostgresImage(ctx context.Context) error {
	p, err := m.platform(ctx)
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
	db, err := p.asService(fresh(server, p.runID), nil)
	if err != nil {
		return err
	}
	client := fresh(dag.Container().From(p.cfg.PostgresImage).WithServiceBinding("db", db), p.runID)
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
func (m *DataPlatform) CheckValkeyImage(ctx context.Context) error {
	p, err := m.platform(ctx)
	if err != nil {
		return err
	}
	def := pipeline.Valkey(p.cfg)
	def.Volumes = nil // a throwaway instance: keep the project's data out of it
	ctr, err := p.container(def, nil)
	if err != nil {
		return err
	}
	kv, err := p.asService(fresh(ctr, p.runID), def.Args)
	if err != nil {
		return err
	}
	cli := fresh(dag.Container().From(p.cfg.ValkeyImage).WithServiceBinding("kv", kv), p.runID)
	// valkey-cli exits 0 on NOAUTH: judge by its output.
	anon, err := cli.WithExec([]string{"sh", "-c", "valkey-cli -h kv ping 2>&1"}).Stdout(ctx)
	if err != nil {
		return err
	}
	if !strings.Contains(anon, "NOAUTH") {
		return fmt.Errorf("valkey: PING without password answered %q, want NOAUTH", strings.TrimSpace(anon))
	}
	authed, err := cli.WithSecretVariable("REDISCLI_AUTH", p.secret(pipeline.SecretValkeyPassword)).
		WithExec([]string{"sh", "-c", "valkey-cli -h kv ping; valkey-cli -h kv config get maxmemory-policy; valkey-cli -h kv config get appendonly"}).
		Stdout(ctx)
	if err != nil {
		return err
	}
	for _, want := range []string{"PONG", "noeviction", "appendonly\nyes"} {
		if !strings.Contains(authed, want) {
			return fmt.Errorf("valkey: with password, output lacks %q:\n%s", want, authed)
		}
	}
	return nil
}

// CheckAirflowImage checks that the Airflow image runs Airflow 3.1.7 and that
// the Celery, Postgres and FAB providers import.
// +check
func (m *DataPlatform) CheckAirflowImage(ctx context.Context) error {
	p, err := m.platform(ctx)
	if err != nil {
		return err
	}
	out, err := dag.Container().From(p.cfg.AirflowImage).
		WithExec([]string{"sh", "-c", "airflow version 2>/dev/null | tail -n 1 && python3 -c '" +
			"import airflow.providers.celery.executors.celery_executor, airflow.providers.postgres.hooks.postgres, " +
			"airflow.providers.fab.auth_manager.fab_auth_manager; print(\"providers ok\")' 2>/dev/null"}).
		Stdout(ctx)
	if err != nil {
		return fmt.Errorf("airflow image: %w", err)
	}
	if !strings.HasPrefix(out, "3.1.7\n") || !strings.Contains(out, "providers ok") {
		return fmt.Errorf("airflow image: want version 3.1.7 and the providers, got %q", out)
	}
	return nil
}

// CheckDbtImage checks that dbt runs and lists the postgres adapter.
// +check
func (m *DataPlatform) CheckDbtImage(ctx context.Context) error {
	p, err := m.platform(ctx)
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
