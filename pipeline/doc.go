// Package pipeline is the data platform as plain data: its configuration
// (the table of variables, read from .env as docker compose reads it), the
// definition of every container (a long-running service or a one-shot job:
// image, command line, environment, secrets, ports, volumes), and the plan
// that says what one call starts, in which order. The module's main package
// only turns a plan into Dagger containers, so everything here is
// unit-tested without an engine.
package pipeline
