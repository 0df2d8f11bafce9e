package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

// projectImage is the project's Airflow image (see pipeline.ImageSteps)
// built from base (AIRFLOW_IMAGE_NAME, or another Airflow for the upgrade
// test): once a call, and kept by Dagger's cache on the files' content. Its
// failure names the file at fault (and its line, where the tool says).
func (p *platform) projectImage(ctx context.Context, base string) (*dagger.Container, error) {
	if image, ok := p.images[base]; ok {
		return image, nil
	}
	entries, err := p.source.Entries(ctx)
	if err != nil {
		return nil, err
	}
	files := pipeline.ImageFiles{
		Dockerfile:   slices.Contains(entries, pipeline.DockerfileFile),
		Packages:     slices.Contains(entries, pipeline.PackagesFile),
		Requirements: slices.Contains(entries, pipeline.RequirementsFile),
	}
	image := dag.Container().From(base)
	if files.Dockerfile {
		var args []dagger.BuildArg
		for name, value := range pipeline.ImageBuildArgs(base) {
			args = append(args, dagger.BuildArg{Name: name, Value: value})
		}
		sort.Slice(args, func(i, j int) bool { return args[i].Name < args[j].Name })
		image = p.source.DockerBuild(dagger.DirectoryDockerBuildOpts{BuildArgs: args})
		if _, err := image.Sync(ctx); err != nil {
			return nil, p.dockerfileError(ctx, err)
		}
	}
	image, err = p.withSteps(ctx, image, pipeline.ImageSteps(p.cfg, files))
	if err != nil {
		return nil, err
	}
	if p.images == nil {
		p.images = map[string]*dagger.Container{}
	}
	p.images[base] = image
	return image, nil
}

// withSteps adds layers to an image (pipeline.ImageStep), with the module's
// scripts mounted while they run, and builds them: a failure is the
// failing step's own message (it names its file and line).
func (p *platform) withSteps(ctx context.Context, image *dagger.Container, steps []pipeline.ImageStep) (*dagger.Container, error) {
	if len(steps) == 0 {
		return image, nil
	}
	user, err := image.User(ctx)
	if err != nil {
		return nil, err
	}
	module := dag.CurrentModule().Source().Directory(pipeline.ModuleScripts)
	for _, step := range steps {
		scripts := step.Scripts()
		for _, path := range scripts {
			image = image.WithMountedFile(path, module.File(strings.TrimPrefix(path, pipeline.ScriptsDir+"/")))
		}
		if step.File != "" {
			image = image.WithMountedFile(step.Copy, p.source.File(step.File))
		}
		if step.AsRoot {
			image = image.WithUser("0:0")
		}
		image = image.WithExec(step.Args)
		if step.AsRoot {
			image = image.WithUser(user)
		}
		if step.File != "" {
			image = image.WithoutMount(step.Copy)
		}
		for _, path := range scripts {
			image = image.WithoutMount(path)
		}
	}
	if _, err := image.Sync(ctx); err != nil {
		var exec *dagger.ExecError
		if errors.As(err, &exec) {
			return nil, fmt.Errorf("the project's Airflow image: %s", strings.TrimSpace(exec.Stderr))
		}
		return nil, fmt.Errorf("the project's Airflow image: %w", err)
	}
	return image, nil
}

// runStep is BuildKit's word for the RUN of a Dockerfile that failed.
var runStep = regexp.MustCompile(`process "/bin/sh -c (.*)" did not complete successfully: exit code: (\d+)`)

// dockerfileError names the Dockerfile's line whose RUN failed, where the
// error says which: Dagger gives the step's command, not its output (shown
// in the call's progress above).
func (p *platform) dockerfileError(ctx context.Context, err error) error {
	m := runStep.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: the build failed: %w", pipeline.DockerfileFile, err)
	}
	where := pipeline.DockerfileFile
	if content, rerr := p.source.File(pipeline.DockerfileFile).Contents(ctx); rerr == nil {
		if line := pipeline.DockerfileLine(content, m[1]); line > 0 {
			where = fmt.Sprintf("%s line %d", pipeline.DockerfileFile, line)
		}
	}
	return fmt.Errorf("%s: RUN %s exited with %s (its output is in the call's progress above)", where, m[1], m[2])
}
