// A local data platform (PostgreSQL 16, Valkey, Airflow 3.1 with Celery, dbt)
// as one Dagger graph: the same command on a laptop and in CI.
//
// Configuration comes from the project's .env (the file a docker compose user
// already has; every variable of .env.example, same names and defaults), with
// single values overridden by --set NAME=VALUE and secret arguments.
// `dagger call up up` runs the whole stack with its ports on the host;
// `dagger call dbt --cmd=test` runs dbt against the analytics database.
//
// Each function takes the project itself (--source, this directory by
// default) rather than the constructor: the constructor's result is then
// the same after an edit of dags/ or dbt/, and Dagger answers it from its
// cache instead of running it again (about 3 s of every call after an edit).
package main

//go:generate go run ./internal/sourcedoc

import (
	"context"
	"fmt"
	"strings"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

type DataPlatform struct {
	// +private
	Set []string

	// The secret arguments, one for each secret variable of the table
	// (pipeline.Config's rows with a secret tag, which name these fields).

	// +private
	PostgresPassword *dagger.Secret
	// +private
	ValkeyPassword *dagger.Secret
	// +private
	AirflowDbPassword *dagger.Secret
	// +private
	DbtDbPassword *dagger.Secret
	// +private
	AirflowWwwPassword *dagger.Secret
	// +private
	FernetKey *dagger.Secret
	// +private
	JwtSecret *dagger.Secret
}

func New(
	// Override single .env values, as NAME=VALUE (e.g. AIRFLOW_API_PORT=8081).
	// +optional
	set []string,
	// Overrides POSTGRES_PASSWORD.
	// +optional
	postgresPassword *dagger.Secret,
	// Overrides VALKEY_PASSWORD.
	// +optional
	valkeyPassword *dagger.Secret,
	// Overrides AIRFLOW_DB_PASSWORD.
	// +optional
	airflowDbPassword *dagger.Secret,
	// Overrides DBT_DB_PASSWORD.
	// +optional
	dbtDbPassword *dagger.Secret,
	// Overrides AIRFLOW_WWW_PASSWORD.
	// +optional
	airflowWwwPassword *dagger.Secret,
	// Overrides AIRFLOW_FERNET_KEY.
	// +optional
	fernetKey *dagger.Secret,
	// Overrides AIRFLOW_JWT_SECRET.
	// +optional
	jwtSecret *dagger.Secret,
) *DataPlatform {
	return &DataPlatform{
		Set:              set,
		PostgresPassword: postgresPassword, ValkeyPassword: valkeyPassword,
		AirflowDbPassword: airflowDbPassword, DbtDbPassword: dbtDbPassword,
		AirflowWwwPassword: airflowWwwPassword, FernetKey: fernetKey, JwtSecret: jwtSecret,
	}
}

// Config prints the effective configuration, secrets masked.
func (m *DataPlatform) Config(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (string, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return "", err
	}
	return pipeline.Describe(p.cfg), nil
}

// Up returns the whole stack as one service exposing the Airflow API/UI
// (AIRFLOW_API_PORT), PostgreSQL (POSTGRES_PORT) and, with --flower, Flower
// (FLOWER_PORT). Run it with `dagger call up up`; Ctrl-C stops it, data stays.
// +cache="never"
func (m *DataPlatform) Up(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// Number of Celery workers.
	// +default=1
	workers int,
	// Also run Flower, the Celery dashboard.
	// +optional
	flower bool,
	// Let workers of other machines join (worker-node): Valkey, behind its
	// password, also on the host (VALKEY_PORT). Not encrypted: see the
	// README's "Scaling out".
	// +optional
	remoteWorkers bool,
) (*dagger.Service, error) {
	return m.service(ctx, source, pipeline.HostGateway, pipeline.Options{Workers: workers, Flower: flower, RemoteWorkers: remoteWorkers})
}

// WorkerNode returns Celery workers for this machine that join the stack
// of another (run there with `up --remote-workers`), as one service
// carrying their log server's port (8793), which that stack's api-server
// reads task logs from. Run it with `dagger call worker-node --stack HOST
// --advertise ADDR up`, with the stack's .env (its passwords); it fails at
// start, naming the variable, when the stack refuses a password. The
// workers run this checkout's dags/ and plugins/ as they are at start.
// +cache="never"
func (m *DataPlatform) WorkerNode(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// Address of the stack's machine, as this machine reaches it (host name or IP).
	stack string,
	// Address of this machine, as the stack's machine reaches it (host name or IP).
	advertise string,
	// Number of Celery workers.
	// +default=1
	workers int,
) (*dagger.Service, error) {
	return m.service(ctx, source, pipeline.HostGateway, pipeline.Options{Workers: workers,
		Node: &pipeline.Node{Stack: stack, Advertise: advertise}})
}

// Postgres returns the PostgreSQL service alone (port 5432).
// +cache="never"
func (m *DataPlatform) Postgres(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, pipeline.HostPostgres, pipeline.Options{Workers: 1})
}

// Valkey returns the Valkey broker service alone (port 6379).
// +cache="never"
func (m *DataPlatform) Valkey(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, pipeline.HostValkey, pipeline.Options{Workers: 1})
}

// ApiServer returns the Airflow api-server (port 8080), with PostgreSQL,
// Valkey and init behind it.
// +cache="never"
func (m *DataPlatform) ApiServer(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, pipeline.HostAPIServer, pipeline.Options{Workers: 1})
}

// Scheduler returns the Airflow scheduler (health on 8974) with what it needs.
// +cache="never"
func (m *DataPlatform) Scheduler(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, "airflow-scheduler", pipeline.Options{Workers: 1})
}

// DagProcessor returns the Airflow dag-processor with what it needs.
// +cache="never"
func (m *DataPlatform) DagProcessor(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, "airflow-dag-processor", pipeline.Options{Workers: 1})
}

// Triggerer returns the Airflow triggerer with what it needs.
// +cache="never"
func (m *DataPlatform) Triggerer(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, "airflow-triggerer", pipeline.Options{Workers: 1})
}

// Worker returns one Celery worker with what it needs.
// +cache="never"
func (m *DataPlatform) Worker(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, "airflow-worker-1", pipeline.Options{Workers: 1})
}

// Flower returns the Celery dashboard (port 5555) with what it needs.
// +cache="never"
func (m *DataPlatform) Flower(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	return m.service(ctx, source, pipeline.HostFlower, pipeline.Options{Workers: 1, Flower: true})
}

// Init runs airflow-init against the live database: migrate, create the admin
// user if missing, check the machine's resources. Fails on any error; safe to
// run again. Returns its output.
// +cache="never"
func (m *DataPlatform) Init(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (string, error) {
	return m.run(ctx, source, pipeline.RefuseStack, pipeline.Init)
}

// AirflowCli runs one ad-hoc airflow CLI command (the spec's airflow-cli), e.g.
// --args="dags list". Returns its output. (Not named `airflow`: Dagger would
// then read every AIRFLOW_* line of .env as a default of its arguments.)
// +cache="never"
func (m *DataPlatform) AirflowCli(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// The command line after "airflow".
	args string,
) (string, error) {
	argv, err := pipeline.SplitArgs("args", args)
	if err != nil {
		return "", err
	}
	return m.run(ctx, source, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.CLI(c, argv) })
}

// Dbt runs one dbt command line against the analytics database, e.g.
// --cmd=debug, --cmd=test, --cmd="run --select staging". Never answered from
// cache. Returns dbt's output; fails with it when dbt fails.
// +cache="never"
func (m *DataPlatform) Dbt(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// The command line after "dbt".
	cmd string,
) (string, error) {
	argv, err := pipeline.SplitArgs("cmd", cmd)
	if err != nil {
		return "", err
	}
	return m.run(ctx, source, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.DbtCommand(c, argv) })
}

// DbtTarget runs a dbt command line and returns dbt's target/ folder, e.g.
// `dagger call dbt-target --cmd="docs generate" -o ./dbt-docs`.
// +cache="never"
func (m *DataPlatform) DbtTarget(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// The command line after "dbt".
	// +default="docs generate"
	cmd string,
) (*dagger.Directory, error) {
	argv, err := pipeline.SplitArgs("cmd", cmd)
	if err != nil {
		return nil, err
	}
	ctr, spec, err := m.job(ctx, source, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.DbtCommand(c, argv) })
	if err != nil {
		return nil, err
	}
	return ctr.WithExec(spec.Command()).Directory(spec.Output), nil
}

// DbtCi runs dbt the way a CI job does: packages (`dbt deps`, kept per
// packages.yml), `dbt build`, `dbt docs generate`, and returns one directory:
// manifest.json, run_results.json, catalog.json, sources.json (with
// --freshness), the docs site (index.html, static_index.html), summary.md
// and dbt-exit-code. A failing build fails the call with the summary; with
// --allow-failure it returns the artifacts anyway, e.g.
// `dagger call dbt-ci --allow-failure -o artifacts`.
// +cache="never"
func (m *DataPlatform) DbtCi(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// Artifacts of an earlier run (e.g. the main branch's): build only the
	// models changed since, and their children, deferring to it for the rest.
	// +optional
	state *dagger.Directory,
	// Appended to DBT_SCHEMA (e.g. a pull-request number), so that parallel
	// runs never share tables; drop them afterwards with dbt-ci-drop.
	// +optional
	schemaSuffix string,
	// Also check source freshness (sources.json).
	// +optional
	freshness bool,
	// Return the artifacts even when dbt fails (dbt-exit-code says how it ended).
	// +optional
	allowFailure bool,
) (*dagger.Directory, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, err
	}
	if err := pipeline.CheckSchemaSuffix(p.cfg, schemaSuffix); err != nil {
		return nil, err
	}
	ctr, spec, err := p.job(ctx, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.DbtCI(c, schemaSuffix, freshness) })
	if err != nil {
		return nil, err
	}
	if state != nil {
		ctr = ctr.WithDirectory(pipeline.DbtCIState, state)
	}
	out := ctr.WithExec(spec.Command()).Directory(pipeline.DbtCIArtifacts)
	code, err := out.File("dbt-exit-code").Contents(ctx)
	if err != nil {
		return nil, err
	}
	if code = strings.TrimSpace(code); code != "0" && !allowFailure {
		summary, err := out.File("summary.md").Contents(ctx)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("dbt failed (exit %s); --allow-failure returns the artifacts anyway\n%s", code, summary)
	}
	return out, nil
}

// DbtCiDrop drops the schemas of a dbt-ci run: the target schema
// (DBT_SCHEMA with --schema-suffix) and every schema derived from it. The
// spec's default schema, public, is never dropped.
// +cache="never"
func (m *DataPlatform) DbtCiDrop(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// The suffix the run used.
	// +optional
	schemaSuffix string,
) (string, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return "", err
	}
	if err := pipeline.CheckSchemaSuffix(p.cfg, schemaSuffix); err != nil {
		return "", err
	}
	return p.run(ctx, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.DbtDropSchemas(c, schemaSuffix) })
}

// DbtDocs generates dbt's documentation and serves it on port 8081:
// `dagger call dbt-docs up --ports 8081:8081`, then http://localhost:8081.
// +cache="never"
func (m *DataPlatform) DbtDocs(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Service, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, err
	}
	ctr, spec, err := p.job(ctx, pipeline.UseStack, pipeline.DbtDocs)
	if err != nil {
		return nil, err
	}
	return p.asService(ctr, spec.Command())
}

// EltCheck brings the stack up (one worker), unpauses and triggers the
// example DAG through the REST API v2, waits for the run to succeed (task
// logs on failure), runs dbt build, and checks the marts against the rows the
// DAG loaded. Uses the project's data. Returns the report.
// +cache="never"
func (m *DataPlatform) EltCheck(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (string, error) {
	return m.run(ctx, source, pipeline.RefuseStack, pipeline.EltCheck)
}

// Sync makes the project's dags/, plugins/ and dbt/ live in its stack, while it
// runs (no restart, running tasks untouched), copying what changed; the
// stack's dag-processor parses the changed DAG files at once, and sync
// returns with its verdict: fails naming every DAG file that does not
// import (synced all the same, and listed by Airflow's import errors).
// plugins/ changes take effect when a service next starts. (`dagger call
// dag-check` imports every DAG file.)
// +cache="never"
func (m *DataPlatform) Sync(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (string, error) {
	return m.run(ctx, source, pipeline.UseStack, pipeline.Sync)
}

// SettingsExport writes the project's connections, variables and pools,
// as its metadata database holds them (the running stack's, or else its
// own), as an airflow_settings.yaml (Astro CLI's format), e.g. `dagger
// call settings-export -o airflow_settings.yaml`. Passwords and sensitive
// variables are left out unless --include-secrets.
// +cache="never"
func (m *DataPlatform) SettingsExport(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// Also write passwords and the values of sensitive variables.
	// +optional
	includeSecrets bool,
) (*dagger.File, error) {
	ctr, spec, err := m.job(ctx, source, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.ExportSettings(c, includeSecrets) })
	if err != nil {
		return nil, err
	}
	return ctr.WithExec(spec.Command()).File(spec.Output), nil
}

// SettingsImport applies the project's airflow_settings.yaml now (`up`
// applies it at every start): its connections, variables and pools
// created or updated, those it marks `delete: true` deleted, every other
// left alone; in the running stack's metadata database, or else the
// project's own. Returns what it did to each, by name.
// +cache="never"
func (m *DataPlatform) SettingsImport(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (string, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return "", err
	}
	if p.cfg.Settings == nil {
		return "", fmt.Errorf("%s: the project has no settings file to import", pipeline.SettingsFile)
	}
	return p.run(ctx, pipeline.UseStack, pipeline.ApplySettings)
}

// LiveKey returns the project's live key: the one credential the stack's
// receiver of live edits takes (LIVE_PORT writes DAG files, code every
// worker runs). Random, made once per project and kept with its data, like
// a generated Fernet key; wipe removes it. The live command fetches it
// itself; `dagger call live-key plaintext` prints it.
// +cache="never"
func (m *DataPlatform) LiveKey(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Secret, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, err
	}
	key, err := p.run(ctx, pipeline.DataUnused, pipeline.LiveKey)
	if err != nil {
		return nil, err
	}
	return dag.SetSecret("dataplatform-"+p.cfg.ProjectName+"-live-key-"+p.runID, strings.TrimSpace(key)), nil
}

// LiveClient builds the live command for your machine: run it in your
// project beside `dagger call up up` (or with --up instead) and every save
// of dags/, plugins/ and dbt/ reaches the running stack, with Airflow's
// verdict on each DAG file and the warm dbt's build of each saved model. Needs nothing but Dagger:
// `dagger call live-client --platform=current export --path ./live`, then
// `./live` (it calls the module named by DAGGER_MODULE, or -m).
func (m *DataPlatform) LiveClient(
	ctx context.Context,
	// The OS and architecture to build for: current is this machine's; the
	// engine's by default.
	// +optional
	platform dagger.Platform,
) (*dagger.File, error) {
	if platform == "" {
		var err error
		if platform, err = dag.DefaultPlatform(ctx); err != nil {
			return nil, err
		}
	}
	goos, goarch, file, err := pipeline.LiveClientTarget(string(platform))
	if err != nil {
		return nil, err
	}
	return dag.Container().From(pipeline.GoImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("dataplatform-go-mod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("dataplatform-go-build")).
		WithDirectory("/src", dag.CurrentModule().Source()).
		WithWorkdir("/src").
		WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOOS", goos).
		WithEnvVariable("GOARCH", goarch).
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/" + file, "./cmd/live"}).
		File("/out/" + file), nil
}

// Shell returns an Airflow container with the project's settings and the
// CLI's credentials (the spec's `docker compose exec`): open it with
// `dagger call shell terminal` (on the running stack's database while `up`
// runs), or run one command with `... with-exec --args=airflow,dags,list stdout`.
func (m *DataPlatform) Shell(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (*dagger.Container, error) {
	ctr, spec, err := m.job(ctx, source, pipeline.UseStack, pipeline.Shell)
	if err != nil {
		return nil, err
	}
	return ctr.WithDefaultTerminalCmd(spec.Command()), nil
}

// Logs prints the last lines one service of the project's stack printed,
// while the stack runs or after it stopped (the spec's `docker compose
// logs`): postgres, valkey, airflow-apiserver, airflow-scheduler,
// airflow-dag-processor, airflow-triggerer, airflow-worker-N, airflow-flower.
// Kept with the project's data (up to 4 MiB a service, then rotated once);
// wipe removes it.
// +cache="never"
func (m *DataPlatform) Logs(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// The service, e.g. airflow-scheduler.
	service string,
	// How many of its last lines.
	// +default=100
	tail int,
) (string, error) {
	if err := pipeline.CheckLogs(service, tail); err != nil {
		return "", err
	}
	return m.run(ctx, source, pipeline.DataUnused, func(c pipeline.Config) pipeline.Spec { return pipeline.Logs(c, service, tail) })
}

// Wipe deletes the project's data (PostgreSQL, Valkey, Airflow logs): the
// spec's `docker compose down -v`. Stop `up` first.
// +cache="never"
func (m *DataPlatform) Wipe(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
) (string, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return "", err
	}
	if err := p.cfg.CheckWipe(); err != nil {
		return "", err
	}
	return p.run(ctx, pipeline.RefuseAny, pipeline.Wipe)
}

// service starts a service of the stack, target, with what it needs.
func (m *DataPlatform) service(ctx context.Context, source *dagger.Directory, target string, o pipeline.Options) (*dagger.Service, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, err
	}
	b := pipeline.RefuseStack
	if o.Node != nil {
		b = pipeline.DataUnused // a worker node holds no data of the project
	}
	plan, err := p.plan(ctx, b, o, func(o pipeline.Options) (pipeline.Plan, error) {
		return pipeline.StackPlan(p.cfg, o, target)
	})
	if err != nil {
		return nil, err
	}
	ctr, err := p.start(plan)
	if err != nil {
		return nil, err
	}
	return p.asService(ctr, plan.Specs[target].Command())
}

// run runs a one-shot container made by spec and returns its output.
func (m *DataPlatform) run(ctx context.Context, source *dagger.Directory, b pipeline.Beside, spec func(pipeline.Config) pipeline.Spec) (string, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return "", err
	}
	return p.run(ctx, b, spec)
}

// job is a one-shot container made by spec, ready for its command.
func (m *DataPlatform) job(ctx context.Context, source *dagger.Directory, b pipeline.Beside, spec func(pipeline.Config) pipeline.Spec) (*dagger.Container, pipeline.Spec, error) {
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, pipeline.Spec{}, err
	}
	return p.job(ctx, b, spec)
}
