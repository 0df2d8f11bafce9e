package main

import (
	"context"
	"fmt"
	"os"

	"dagger/data-platform/pipeline"
)

// plan compiles a call's plan (compile), with the options b gives it
// beside the servers that hold the project's data now. A first compile
// checks the options before anything starts, and says which data the call
// would hold.
func (p *platform) plan(ctx context.Context, b pipeline.Beside, o pipeline.Options, compile func(pipeline.Options) (pipeline.Plan, error)) (pipeline.Plan, error) {
	first, err := compile(o)
	if err != nil || b == pipeline.DataUnused {
		return first, err
	}
	if o, err = p.options(ctx, b, o, first.Held()); err != nil {
		return pipeline.Plan{}, err
	}
	return compile(o)
}

// options completes a call's plan options with what b says to do about
// the servers that hold the project's data now (see pipeline.Beside.Decide);
// own is the data the call's own servers would hold.
func (p *platform) options(ctx context.Context, b pipeline.Beside, o pipeline.Options, own []string) (pipeline.Options, error) {
	held, err := p.holders(ctx)
	if err != nil {
		return o, err
	}
	if o.Database, err = b.Decide(p.cfg.ProjectName, held, own); err != nil {
		return o, err
	}
	if o.Database != "" {
		fmt.Fprintf(os.Stderr, "note: using the PostgreSQL of project %q's running stack (%s)\n", p.cfg.ProjectName, o.Database)
	}
	return o, nil
}

// holders reads who holds the project's data now (pipeline.Holders), once
// per call; it never waits on the data itself.
func (p *platform) holders(ctx context.Context) (map[string]pipeline.Holding, error) {
	if p.held != nil {
		return p.held, nil
	}
	out, err := p.run(ctx, pipeline.DataUnused, pipeline.Holders)
	if err != nil {
		return nil, fmt.Errorf("finding out whether project %q's stack runs: %w", p.cfg.ProjectName, err)
	}
	if p.held, err = pipeline.ParseHolders(out); err != nil {
		return nil, err
	}
	return p.held, nil
}
