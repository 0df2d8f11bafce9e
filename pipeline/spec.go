package pipeline

import (
	"path"
	"slices"
	"sort"
	"strings"
)

// Kind says how a container runs.
type Kind int

const (
	// Service: a long-running container others bind by its name.
	Service Kind = iota
	// Job: a one-shot container; in a plan, it runs to success before
	// anything of a later stage starts.
	Job
)

// Spec is everything the Dagger layer needs to build one container.
type Spec struct {
	Name  string // the hostname others use
	Kind  Kind   // Service or Job
	Image string // image reference
	// ProjectImage: Image is the base of the project's Airflow image, which
	// the Dagger layer builds from it (see ImageSteps) and runs instead.
	ProjectImage bool
	Args         []string          // command line
	User         string            // user:group, "" for the image's
	Env          map[string]string // plain variables
	SecretEnv    map[string]string // variable -> secret name (see Secrets)
	SecretFile   map[string]string // path -> secret name
	Ports        []int             // exposed ports; a service is ready when they accept connections
	Volumes      []Volume
	Mounts       []Mount
	// BootsLate: its ports answer only once Airflow has booted (10-20 s on 2
	// cores), and nothing that binds it needs them at once (the gateway), so
	// nothing waits for them: Dagger's port check, its back-off grown by
	// then, found them up to 5 s late. Airflow's health report says when it
	// is ready; compose publishes its ports at once too.
	BootsLate bool
	// Needs: services it binds by name, or jobs that must have finished,
	// before it starts.
	Needs []string
	// Reaches: services it calls by name once running, without waiting for
	// them to start (a binding would); it starts beside them.
	Reaches []string
	// Named: in its plan some container reaches it by name, which must then
	// resolve whether it is bound there or not (set by the plan).
	Named bool
	// AsRoot runs once as root, after the volumes are mounted, before the
	// container switches to User.
	AsRoot []string
	// Output is where a job leaves what its function returns (dbt's
	// target/), "" for none.
	Output string
	// ImageSteps are layers on top of its image for this container alone
	// (a tool the project's image need not carry, e.g. pytest).
	ImageSteps []ImageStep

	// The container's command is Args wrapped, from the outside in: its
	// output kept (KeepLog), its data lock held (Holds), each Prepare step,
	// the supervisor (Restart). Each wrapper is a script of init/ that does
	// its part once, when the container starts, and then execs the rest.

	// KeepLog: a file of the service-logs volume its output is also kept in.
	KeepLog string
	// Holds names the exclusive data the service runs on, whose lock it
	// holds while it runs (see holding); HeldBy says who holds it
	// (HolderStack or HolderCall); Stale lists files a killed server leaves
	// behind, removed once the lock is held.
	Holds  string
	HeldBy string
	Stale  []string
	// Prepare: steps run once when the container starts, before the command
	// (and its supervisor: never again on a restart); each is a wrapper
	// script's command line, without its final "--".
	Prepare [][]string
	// Restart runs a long-running service under the supervisor (compose's
	// `restart: always`, see supervise); StopSignal is what stops it cleanly.
	Restart    bool
	StopSignal string
}

// Volume is a persistent cache volume; its key includes the project so two
// projects never share data.
type Volume struct {
	Key       string
	Path      string
	Exclusive bool // one container at a time (a database must never run twice on its files)
}

// Mount copies a file or folder of the project, or of the module itself,
// into the container.
type Mount struct {
	Path     string // in the container
	Source   string // relative to the project's root, or the module's (see From)
	Dir      bool
	Optional bool // skipped when missing from the project
	From     Origin
}

// Origin says whose file a mount copies.
type Origin int

const (
	// FromProject: the user's project (the function's --source).
	FromProject Origin = iota
	// FromModule: the module's own files (its scripts), whatever the
	// project holds.
	FromModule
	// FromProjectOrModule: the project's file when it has one (a file the
	// user may change, such as init/init-db.sh), otherwise the module's
	// copy at the same path.
	FromProjectOrModule
)

// Command is the command line the container runs: Args inside its wrappers.
func (s Spec) Command() []string {
	cmd := slices.Clone(s.Args)
	if s.Restart {
		cmd = Supervised(s.Name, s.StopSignal, cmd)
	}
	for i := len(s.Prepare) - 1; i >= 0; i-- {
		cmd = wrapped(s.Prepare[i], cmd)
	}
	if s.Holds != "" {
		cmd = wrapped(append([]string{"sh", HoldDataScript, s.Holds, s.HeldBy}, s.Stale...), cmd)
	}
	if s.KeepLog != "" {
		cmd = wrapped([]string{"sh", KeepOutputScript, s.KeepLog, itoa(serviceLogMax)}, cmd)
	}
	return cmd
}

// wrapped is cmd run by a wrapper script: "WRAPPER ARGS... -- CMD...".
func wrapped(wrapper, cmd []string) []string {
	return append(append(slices.Clone(wrapper), "--"), cmd...)
}

// Credentials lists, sorted, the secrets a container receives: by secret
// name, its secret env vars and files, and the generated keys it mounts.
func (s Spec) Credentials() []string {
	var out []string
	for _, name := range s.SecretEnv {
		out = append(out, name)
	}
	for _, name := range s.SecretFile {
		out = append(out, name)
	}
	for _, v := range s.Volumes {
		if strings.HasPrefix(v.Path, keysDir+"/") {
			out = append(out, path.Base(v.Path)+" (generated)")
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// SortedEnv returns the plain variables sorted by name, for stable builds.
func (s Spec) SortedEnv() [][2]string { return sortedPairs(s.Env) }

// SortedSecretEnv returns the secret variables sorted by name.
func (s Spec) SortedSecretEnv() [][2]string { return sortedPairs(s.SecretEnv) }

// SortedSecretFiles returns the secret files sorted by path.
func (s Spec) SortedSecretFiles() [][2]string { return sortedPairs(s.SecretFile) }

func sortedPairs(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// clone is a copy of s whose maps and slices are its own, so a definition
// derived from another never changes it.
func (s Spec) clone() Spec {
	s.Env, s.SecretEnv, s.SecretFile = cloneMap(s.Env), cloneMap(s.SecretEnv), cloneMap(s.SecretFile)
	s.Args, s.Ports, s.Volumes, s.Mounts = slices.Clone(s.Args), slices.Clone(s.Ports), slices.Clone(s.Volumes), slices.Clone(s.Mounts)
	s.Needs, s.Reaches, s.AsRoot, s.Stale = slices.Clone(s.Needs), slices.Clone(s.Reaches), slices.Clone(s.AsRoot), slices.Clone(s.Stale)
	s.Prepare, s.ImageSteps = slices.Clone(s.Prepare), slices.Clone(s.ImageSteps)
	return s
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
