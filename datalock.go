package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"dagger/data-platform/pipeline"
)

// plan compiles a call's plan (compile), with the options b gives it
// beside the servers that hold the project's data now. A first compile
// checks the options before anything starts, and says which data the call
// would hold.
func (p *platform) plan(ctx context.Context, b pipeline.Beside, o pipeline.Options, compile func(pipeline.Options) (pipeline.Plan, error)) (pipeline.Plan, error) {
	first, err := compile(o)
	if err != nil {
		return first, err
	}
	if b == pipeline.DataUnused {
		return first, p.checkImage(ctx, first)
	}
	// Who holds the data is read while the image is checked: neither
	// waits for the other. (The probe builds no image, uses no secret and
	// starts no service: it shares nothing else of p.) After a build long
	// enough for a stack to have started or stopped meanwhile, it is read
	// again.
	held := make(chan error, 1)
	go func() { _, err := p.holders(ctx); held <- err }()
	checked := time.Now()
	imageErr := p.checkImage(ctx, first)
	heldErr := <-held
	switch {
	case imageErr != nil:
		return pipeline.Plan{}, imageErr
	case heldErr != nil:
		return pipeline.Plan{}, heldErr
	case time.Since(checked) > staleHolders:
		p.held = nil
	}
	if o, err = p.options(ctx, b, o, first.Held()); err != nil {
		return pipeline.Plan{}, err
	}
	return compile(o)
}

// staleHolders is how long an image check may take before who holds the
// data is read again.
const staleHolders = 5 * time.Second

// checkImage builds the project's Airflow image, when the plan has an
// Airflow container, and checks the connection types of its settings: a
// file of the project that does not build, or a type the image does not
// know, stops the call before any server starts.
func (p *platform) checkImage(ctx context.Context, plan pipeline.Plan) error {
	for _, s := range plan.Specs {
		if s.ProjectImage {
			if _, err := p.projectImage(ctx, s.Image); err != nil {
				return err
			}
			if _, settings := plan.Specs[pipeline.JobSettings]; settings && len(p.cfg.Settings.ConnTypes()) > 0 {
				return p.checkConnTypes(ctx)
			}
			return nil
		}
	}
	return nil
}

// checkConnTypes checks the settings' connection types against those the
// project's Airflow image knows.
func (p *platform) checkConnTypes(ctx context.Context) error {
	out, err := p.run(ctx, pipeline.DataUnused, pipeline.SettingsTypes)
	if err != nil {
		return fmt.Errorf("listing the connection types of the project's Airflow image: %w", err)
	}
	return p.cfg.Settings.UnknownConnTypes(strings.Fields(out))
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
	o.DbtServer = b.WarmDbt(held)
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
