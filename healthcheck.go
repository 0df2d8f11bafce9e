package main

import (
	"fmt"
	"slices"

	"github.com/Khan/genqlient/graphql"

	"dagger/data-platform/internal/dagger"
	"dagger/data-platform/pipeline"
)

// A service is ready when its exposed ports accept connections: what the
// stack's start order relies on (PostgreSQL accepting before init migrates,
// the api-server's port before the gateway forwards it). That is all Dagger
// v0.19 checks. From v0.20.1 on, Dagger checks an image's own HEALTHCHECK
// instead, when the image has one, and runs it without the container's
// secret variables: a check such as `airflow jobs check` would then fail
// for want of the database URL and the stack would not start, and one that
// passes early would start dependants before the port is up. So, on an
// engine that reads image health checks, every service of the module drops
// its image's (withoutDockerHealthcheck), and readiness is its ports on
// every engine. The module is generated for v0.19.10, whose API lacks that
// call: it is made through the engine's GraphQL API, only where the engine
// has it (a v0.19 engine ignores image health checks anyway).

// asService makes a container a service running args (the image's
// entrypoint and command when args is nil), ready when its ports are.
func (p *platform) asService(ctr *dagger.Container, args []string) (*dagger.Service, error) {
	ctr, err := p.withoutImageHealthcheck(ctr)
	if err != nil {
		return nil, err
	}
	return ctr.AsService(dagger.ContainerAsServiceOpts{Args: args, UseEntrypoint: args == nil}), nil
}

// withoutImageHealthcheck drops the image's HEALTHCHECK, on engines that
// would use it for readiness.
func (p *platform) withoutImageHealthcheck(ctr *dagger.Container) (*dagger.Container, error) {
	reads, err := p.engineReadsImageHealthchecks()
	if err != nil || !reads {
		return ctr, err
	}
	id, err := ctr.ID(p.ctx)
	if err != nil {
		return nil, err
	}
	var data struct {
		Load struct {
			Without struct {
				ID dagger.ContainerID `json:"id"`
			} `json:"withoutDockerHealthcheck"`
		} `json:"loadContainerFromID"`
	}
	err = dag.GraphQLClient().MakeRequest(p.ctx, &graphql.Request{
		Query:     `query($id: ContainerID!) { loadContainerFromID(id: $id) { withoutDockerHealthcheck { id } } }`,
		Variables: map[string]any{"id": id},
	}, &graphql.Response{Data: &data})
	if err != nil {
		return nil, fmt.Errorf("dropping the image's health check: %w", err)
	}
	return dag.LoadContainerFromID(data.Load.Without.ID), nil
}

// engineReadsImageHealthchecks: the engine's services use image health
// checks (Dagger v0.20.1 and later, whose Container has
// withoutDockerHealthcheck). Asked once a call, from the engine's version:
// one cheap call, where reading Container's fields from the API costs about
// 1 s on 2 cores (the engine records a span for each field). Only a
// version that is not a release's is answered from the fields.
func (p *platform) engineReadsImageHealthchecks() (bool, error) {
	if p.healthchecks != nil {
		return *p.healthchecks, nil
	}
	version, err := dag.Version(p.ctx)
	if err != nil {
		return false, fmt.Errorf("reading the engine's version: %w", err)
	}
	reads, known := pipeline.EngineReadsImageHealthchecks(version)
	if !known {
		if reads, err = p.containerHasField("withoutDockerHealthcheck"); err != nil {
			return false, err
		}
	}
	p.healthchecks = &reads
	return reads, nil
}

// containerHasField reads from the engine's API whether Container has a
// field of that name.
func (p *platform) containerHasField(name string) (bool, error) {
	var data struct {
		Type struct {
			Fields []struct {
				Name string `json:"name"`
			} `json:"fields"`
		} `json:"__type"`
	}
	err := dag.GraphQLClient().MakeRequest(p.ctx, &graphql.Request{
		Query: `{ __type(name: "Container") { fields { name } } }`,
	}, &graphql.Response{Data: &data})
	if err != nil {
		return false, fmt.Errorf("reading the engine's API: %w", err)
	}
	if len(data.Type.Fields) == 0 {
		return false, fmt.Errorf("reading the engine's API: no fields of Container")
	}
	return slices.ContainsFunc(data.Type.Fields, func(f struct {
		Name string `json:"name"`
	}) bool {
		return f.Name == name
	}), nil
}
