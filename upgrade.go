package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

// UpgradeTest tries another Airflow on a copy of the project's data, before
// AIRFLOW_IMAGE_NAME changes: the project's metadata database is copied
// (the running stack's, or else the project's own, which is only read),
// the other Airflow's migration runs on the copy, every DAG file is
// imported under both Airflows (the project's image built from each), and
// their packages are compared; with --dbt-image, dbt parses and compiles
// the project under another dbt too. Returns the report (Markdown, `-o
// upgrade-report.md`); fails with it when the migration fails or a DAG file
// that imports now would not, unless --allow-failure.
// +cache="never"
func (m *DataPlatform) UpgradeTest(
	ctx context.Context,
	// The project: .env, dags/, plugins/, config/, dbt/, init/init-db.sh,
	// packages.txt, requirements.txt, Dockerfile (with .dockerignore and
	// include/), tests/ and airflow_settings.yaml, each read when present; this
	// directory by default.
	// +defaultPath="/"
	// +ignore=["*", "!.env", "!dags", "!plugins", "!config", "!dbt", "!init/init-db.sh", "!packages.txt", "!requirements.txt", "!Dockerfile", "!.dockerignore", "!include", "!tests", "!airflow_settings.yaml", "!**/dags", "!**/plugins", "!**/config", "dbt/target", "dbt/logs", "dbt/dbt_packages", "**/__pycache__"]
	source *dagger.Directory,
	// The other Airflow's image, e.g. apache/airflow:3.3.2.
	image string,
	// Another dbt image to parse and compile the project with, e.g.
	// ghcr.io/dbt-labs/dbt-postgres:1.10.0.
	// +optional
	dbtImage string,
	// Return the report even when something would break.
	// +optional
	allowFailure bool,
) (*dagger.File, error) {
	if err := pipeline.CheckUpgradeImage("image", image); err != nil {
		return nil, err
	}
	if dbtImage != "" {
		if err := pipeline.CheckUpgradeImage("dbt-image", dbtImage); err != nil {
			return nil, err
		}
	}
	p, err := m.load(ctx, source)
	if err != nil {
		return nil, err
	}
	f := pipeline.UpgradeFindings{From: p.cfg.AirflowImage, To: image, DbtImage: dbtImage}
	for _, side := range []struct {
		image string
		into  *pipeline.ImportResult
	}{{p.cfg.AirflowImage, &f.Old}, {image, &f.New}} {
		ctr, spec, err := p.job(ctx, pipeline.DataUnused, func(c pipeline.Config) pipeline.Spec { return pipeline.UpgradeImport(c, side.image) })
		if err != nil {
			return nil, err
		}
		data, err := ctr.WithExec(spec.Command()).File(spec.Output).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("importing the DAG files under %s: %w", side.image, err)
		}
		if *side.into, err = pipeline.ParseImportResult(data); err != nil {
			return nil, err
		}
	}
	// The copy, and the other Airflow's migration of it.
	ctr, spec, err := p.jobs(ctx, pipeline.UseStack, func(c pipeline.Config) []pipeline.Spec {
		return []pipeline.Spec{pipeline.UpgradeDB(c), pipeline.UpgradeCopy(c), pipeline.UpgradeMigrate(c, image)}
	})
	if err != nil {
		return nil, err
	}
	out := ctr.WithExec(spec.Command()).Directory(spec.Output)
	migrate, err := out.File("migrate.json").Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("the migration of the copy: %w", err)
	}
	var mig struct {
		Exit     int     `json:"exit"`
		Seconds  float64 `json:"seconds"`
		Before   string  `json:"before"`
		Revision string  `json:"revision"`
		Output   string  `json:"output"`
	}
	if err := json.Unmarshal([]byte(migrate), &mig); err != nil {
		return nil, fmt.Errorf("the migration of the copy: %w", err)
	}
	f.Migrated, f.MigrateSeconds, f.MigrateOutput = mig.Exit == 0, mig.Seconds, mig.Output
	f.Revision, f.MigrateRevision = mig.Before, mig.Revision
	after, err := p.run(ctx, pipeline.UseStack, pipeline.UpgradeRevision)
	if err != nil {
		return nil, fmt.Errorf("reading the project's revision again: %w", err)
	}
	f.RevisionAfter = strings.TrimSpace(after)
	if dbtImage != "" {
		ctr, spec, err := p.job(ctx, pipeline.UseStack, func(c pipeline.Config) pipeline.Spec { return pipeline.UpgradeDbt(c, dbtImage) })
		if err != nil {
			return nil, err
		}
		run := ctr.WithExec(spec.Command(), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
		code, err := run.ExitCode(ctx)
		if err != nil {
			return nil, err
		}
		stdout, _ := run.Stdout(ctx)
		stderr, _ := run.Stderr(ctx)
		f.DbtOK, f.DbtOutput = code == 0, tailLines(stdout+stderr, 30)
	}
	report := f.Report()
	if broken := f.Broken(); len(broken) > 0 && !allowFailure {
		return nil, fmt.Errorf("upgrade test: %s (--allow-failure returns the report anyway)\n\n%s", strings.Join(broken, "; "), report)
	}
	return dag.Directory().WithNewFile("upgrade-report.md", report).File("upgrade-report.md"), nil
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
