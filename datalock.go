package main

import (
	"context"
	"fmt"
	"os"
	"slices"

	"dagger/data-platform/pipeline"
)

// beside says what a call does when the project's stack is running (see
// pipeline's data lock).
type beside int

const (
	// dataUnused: the call touches no data of PostgreSQL or Valkey (config,
	// logs, sync, dag-check).
	dataUnused beside = iota
	// useStack: the call uses the running stack's PostgreSQL (dbt,
	// airflow-cli, shell); without one, its own, held by the call.
	useStack
	// refuseStack: the call would start a second server on the data (up,
	// the services, init, elt-check): it refuses when a running stack holds
	// data its own servers would hold, naming the running server.
	refuseStack
	// refuseAny: no server may hold the data at all (wipe).
	refuseAny
)

// plan compiles a call's plan (compile), with the options b gives it
// beside the servers that hold the project's data now. A first compile
// checks the options before anything starts, and says which data the call
// would hold.
func (p *platform) plan(ctx context.Context, b beside, o pipeline.Options, compile func(pipeline.Options) (pipeline.Plan, error)) (pipeline.Plan, error) {
	first, err := compile(o)
	if err != nil || b == dataUnused {
		return first, err
	}
	if o, err = p.options(ctx, b, o, first.Held()); err != nil {
		return pipeline.Plan{}, err
	}
	return compile(o)
}

// options completes a call's plan options with what b says to do about
// the servers that hold the project's data now. A call that would start
// servers refuses only on the data they would hold (its own): `postgres`
// beside a running `valkey` is no second server on any data.
func (p *platform) options(ctx context.Context, b beside, o pipeline.Options, own []string) (pipeline.Options, error) {
	held, err := p.holders(ctx)
	if err != nil {
		return o, err
	}
	for _, name := range []string{pipeline.HostPostgres, pipeline.HostValkey} {
		h := held[name]
		switch {
		case h.Holder == pipeline.HolderStack && b == useStack && name == pipeline.HostPostgres:
			o.Database = h.Address
			fmt.Fprintf(os.Stderr, "note: using the PostgreSQL of project %q's running stack (%s)\n", p.cfg.ProjectName, h.Address)
		case h.Holder == pipeline.HolderStack && (b == refuseAny || b == refuseStack && slices.Contains(own, name)):
			return o, fmt.Errorf("the data of project %q is in use by its running stack (%s at %s, started by `dagger call up` or `dagger call %s`): "+
				"stop it first; dbt, dbt-ci, airflow-cli and shell use it as it runs", p.cfg.ProjectName, name, h.Address, name)
		case h.Holder == pipeline.HolderCall && b == refuseAny:
			return o, fmt.Errorf("the data of project %q is in use by another call (its own %s at %s): wait for it to end", p.cfg.ProjectName, name, h.Address)
		}
	}
	return o, nil
}

// holders reads who holds the project's data now (pipeline.Holders), once
// per call; it never waits on the data itself.
func (p *platform) holders(ctx context.Context) (map[string]pipeline.Holding, error) {
	if p.held != nil {
		return p.held, nil
	}
	out, err := p.run(ctx, dataUnused, pipeline.Holders)
	if err != nil {
		return nil, fmt.Errorf("finding out whether project %q's stack runs: %w", p.cfg.ProjectName, err)
	}
	if p.held, err = pipeline.ParseHolders(out); err != nil {
		return nil, err
	}
	return p.held, nil
}
