package pipeline

import (
	"fmt"
	"slices"
	"strings"
)

// The data lock. PostgreSQL's and Valkey's data must never be used by two
// servers at once. Dagger's LOCKED cache volumes give that on v0.19 (a second
// container waits for as long as the first runs, with no timeout), and on
// v0.21 (an engine-wide lock, which a waiting call cannot give up). Neither
// tells a call that the data is in use, nor by whom, nor where that server
// is. So each server runs holding a lock of its own (scripts/hold-data.sh): an
// flock on a file in the project's run volume, which every call sees, with
// its address beside it. A call learns in a fraction of a second (more only
// while a server starts or stops) whether the project's stack runs and where
// its PostgreSQL is (scripts/find-holders.sh), and uses it, or refuses, instead
// of waiting on the volume; and a second server on the same data is refused
// whatever the engine's locking does.

// RunDir is where the run volume is mounted.
const RunDir = "/var/lib/dataplatform/run"

// RunDirEnv tells the scripts where the run volume is.
const RunDirEnv = "DATAPLATFORM_RUN_DIR"

// Who holds a service's data: a stack (up, or a service started on its own,
// which other calls may use) or a one-shot call's own server (which other
// calls wait for).
const (
	HolderStack = "stack"
	HolderCall  = "call"
)

// holding makes a service run while it holds the lock of its data (named
// data); stale are files such a server leaves behind when it is killed,
// removed once the lock is held.
func holding(c Config, s Spec, data string, stale ...string) Spec {
	s.Holds, s.HeldBy, s.Stale = data, HolderStack, stale
	s.Volumes = append(s.Volumes, c.runVolume())
	s.Env[RunDirEnv] = RunDir
	return s
}

// Held names the data the plan's servers hold (HostPostgres, HostValkey),
// sorted: the data a running stack's servers could hold too.
func (p Plan) Held() []string {
	var held []string
	for _, s := range p.Specs {
		if s.Holds != "" {
			held = append(held, s.Holds)
		}
	}
	slices.Sort(held)
	return held
}

// Beside says what a call does when the project's stack is running.
type Beside int

const (
	// DataUnused: the call touches no data of PostgreSQL or Valkey (config,
	// logs, sync, dag-check).
	DataUnused Beside = iota
	// UseStack: the call uses the running stack's PostgreSQL (dbt,
	// airflow-cli, shell); without one, its own, held by the call.
	UseStack
	// RefuseStack: the call would start servers on the data (up, the
	// services, init, elt-check): it refuses when a running stack holds
	// data its own servers would hold, naming the running server.
	// `postgres` beside a running `valkey` is no second server on any data.
	RefuseStack
	// RefuseAny: no server may hold the data at all (wipe).
	RefuseAny
)

// Decide applies b to who holds the project's data now (held, see
// ParseHolders): the address of the running stack's PostgreSQL the call
// uses ("" for none), or why the call must not start. own is the data the
// call's own servers would hold (Plan.Held).
func (b Beside) Decide(project string, held map[string]Holding, own []string) (database string, err error) {
	for _, name := range []string{HostPostgres, HostValkey} {
		h := held[name]
		switch {
		case h.Holder == HolderStack && b == UseStack && name == HostPostgres:
			database = h.Address
		case h.Holder == HolderStack && (b == RefuseAny || b == RefuseStack && slices.Contains(own, name)):
			return "", fmt.Errorf("the data of project %q is in use by its running stack (%s at %s, started by `dagger call up` or `dagger call %s`): "+
				"stop it first; dbt, dbt-ci, airflow-cli and shell use it as it runs", project, name, h.Address, name)
		case h.Holder == HolderCall && b == RefuseAny:
			return "", fmt.Errorf("the data of project %q is in use by another call (its own %s at %s): wait for it to end", project, name, h.Address)
		}
	}
	return database, nil
}

// Holders is the one-shot probe that reads who holds the project's data
// now, and where a running stack's warm dbt is (see ParseHolders).
func Holders(c Config) Spec {
	return Spec{
		Name:  "find-holders",
		Kind:  Job,
		Image: c.PostgresImage, // pulled anyway, has pg_isready
		Args: []string{"sh", FindHoldersScript, HostPostgres + ":" + itoa(PortPostgres), HostValkey + ":" + itoa(PortValkey),
			HostDbtServer + ":" + itoa(PortDbtServer)},
		Env:     map[string]string{RunDirEnv: RunDir},
		Volumes: []Volume{c.runVolume()},
	}
}

// Holding is who holds one data volume: Holder is "" when it is free.
type Holding struct {
	Holder  string // HolderStack or HolderCall
	Address string // the server's address on the engine's network
}

// ParseHolders reads the output of Holders: one line "NAME free" or
// "NAME HOLDER ADDRESS" per data volume.
func ParseHolders(out string) (map[string]Holding, error) {
	held := map[string]Holding{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[1] == "free":
			held[f[0]] = Holding{}
		case len(f) == 3 && (f[1] == HolderStack || f[1] == HolderCall):
			held[f[0]] = Holding{Holder: f[1], Address: f[2]}
		default:
			return nil, fmt.Errorf("find-holders: unexpected line %q", line)
		}
	}
	for _, name := range []string{HostPostgres, HostValkey} {
		if _, ok := held[name]; !ok {
			return nil, fmt.Errorf("find-holders: no line for %s in %q", name, out)
		}
	}
	return held, nil
}

// WarmDbt is the address of the running stack's warm dbt a call b uses
// for its dbt commands, "" for none (no stack, or a call that does not use
// a running stack).
func (b Beside) WarmDbt(held map[string]Holding) string {
	if h := held[HostDbtServer]; b == UseStack && h.Holder == HolderStack {
		return h.Address
	}
	return ""
}
