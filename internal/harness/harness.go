// Package harness drives the module through the dagger CLI, as a user does,
// for the e2e tests and the benchmark alike: one project's calls, a stack
// running in the background and stopped as Ctrl-C stops it, its health.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"dagger/data-platform/restapi"
)

// Project is a project of the module as the CLI addresses it.
type Project struct {
	// Dir is where the CLI runs: the project, or this repository.
	Dir string
	// Module is the module the CLI calls (dagger -m), "" for the one of
	// Dir (its dagger.json; the CLI also reads DAGGER_MODULE).
	Module string
	// Source, when set, is given to each call's function as its --source
	// (the project's files), as a team calling the module from its own
	// repository does, unless the call gives its own (right after the
	// function's name); "" for the function's default (the module's
	// repository).
	Source string
	Name   string // COMPOSE_PROJECT_NAME; "" for the checkout's own (no --set)
	// Host ports (0: the configuration's own).
	APIPort, PostgresPort, FlowerPort, LivePort, ValkeyPort int
	// Flags are more constructor flags (e.g. secret arguments), Env more
	// environment for the CLI (e.g. the variables env:// secrets read).
	Flags []string
	Env   []string
	// Transcript, when set, receives everything the CLI prints.
	Transcript *Buffer
}

// ModuleFlags are the constructor flags that select the project.
func (p Project) ModuleFlags() []string {
	var flags []string
	for _, s := range []struct {
		name string
		v    int
	}{{"AIRFLOW_API_PORT", p.APIPort}, {"POSTGRES_PORT", p.PostgresPort}, {"FLOWER_PORT", p.FlowerPort}, {"LIVE_PORT", p.LivePort},
		{"VALKEY_PORT", p.ValkeyPort}} {
		if s.v != 0 {
			flags = append(flags, "--set", fmt.Sprintf("%s=%d", s.name, s.v))
		}
	}
	if p.Name != "" {
		flags = append([]string{"--set", "COMPOSE_PROJECT_NAME=" + p.Name}, flags...)
	}
	return append(flags, p.Flags...)
}

// API is the base URL of the project's REST API on the host.
func (p Project) API() string {
	port := p.APIPort
	if port == 0 {
		port = 8080
	}
	return fmt.Sprintf("http://localhost:%d", port)
}

// Command is `dagger [-m MODULE] call --progress=plain FLAGS... FUNCTION
// [--source SOURCE] ARGS...` in Dir, for args FUNCTION ARGS...; flags nil
// means the project's own constructor flags.
func (p Project) Command(ctx context.Context, flags []string, args ...string) *exec.Cmd {
	if flags == nil {
		flags = p.ModuleFlags()
	}
	var argv []string
	if p.Module != "" {
		argv = append(argv, "-m", p.Module)
	}
	argv = append(append(argv, "call", "--progress=plain"), flags...)
	if p.Source != "" {
		args = withSource(args, p.Source)
	}
	cmd := exec.CommandContext(ctx, "dagger", append(argv, args...)...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	return cmd
}

// withSource gives the call's function (the first argument after the
// constructor's flags, each with its value) --source, unless it has one.
func withSource(args []string, source string) []string {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "--") {
		if strings.Contains(args[i], "=") {
			i++
		} else {
			i += 2
		}
	}
	if i >= len(args) || i+1 < len(args) && args[i+1] == "--source" {
		return args
	}
	return append(append(slices.Clone(args[:i+1]), "--source", source), args[i+1:]...)
}

// Call runs one call to its end and returns its output and its progress
// output (stderr); an error carries the end of both.
func (p Project) Call(ctx context.Context, module []string, args ...string) (stdout, progress string, err error) {
	cmd := p.Command(ctx, module, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if p.Transcript != nil {
		_, _ = p.Transcript.Write(append(out.Bytes(), errOut.Bytes()...))
	}
	if err != nil {
		err = fmt.Errorf("dagger call %s: %w\nstdout:\n%s\nstderr (tail):\n%s",
			strings.Join(args, " "), err, out.String(), Tail(errOut.String(), 200))
	}
	return out.String(), errOut.String(), err
}

// Running is a call running in the background, e.g. `... up up`.
type Running struct {
	cmd  *exec.Cmd
	Log  *Buffer // what it printed so far (unless Start was given a writer)
	done chan struct{}
	p    Project
}

// Start runs a call in the background, in its own process group; its
// output goes to out (nil: to the Running's Log).
func (p Project) Start(out io.Writer, module []string, args ...string) (*Running, error) {
	cmd := p.Command(context.Background(), module, args...)
	r := &Running{cmd: cmd, Log: &Buffer{}, done: make(chan struct{}), p: p}
	if out == nil {
		out = r.Log
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// Pid is the call's process, the leader of its process group.
func (r *Running) Pid() int { return r.cmd.Process.Pid }

// Exited tells whether the call has ended.
func (r *Running) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Stop interrupts the call as Ctrl-C does and waits for it to end; after
// grace, it kills the process group.
func (r *Running) Stop(grace time.Duration) {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-r.done:
		r.ended()
	case <-time.After(grace):
		r.Kill()
	}
}

// Kill kills the call's process group at once, as a machine that goes
// away would, and waits for it to end.
func (r *Running) Kill() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.done
	r.ended()
}

// ended adds what the call printed to the project's transcript.
func (r *Running) ended() {
	if r.p.Transcript != nil {
		_, _ = r.p.Transcript.Write([]byte(r.Log.String()))
	}
}

// HostAddr is this machine's address as the engine's containers reach it
// (where a worker node finds a stack's host ports, and a stack finds the
// node's log server): E2E_HOST_ADDR, or the source address of the
// default route.
func HostAddr() (string, error) {
	if a := os.Getenv("E2E_HOST_ADDR"); a != "" {
		return a, nil
	}
	// A TEST-NET-3 address, reached only by the default route; no packet is sent.
	c, err := net.Dial("udp", "203.0.113.1:9")
	if err != nil {
		return "", fmt.Errorf("no address of this machine for a worker node (set E2E_HOST_ADDR): %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// WaitPort waits until localhost:port accepts a connection, or the call
// r exits, or timeout passes.
func WaitPort(r *Running, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if r.Exited() {
			return fmt.Errorf("the call exited before port %d answered:\n%s", port, Tail(r.Log.String(), 60))
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("localhost:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d: not answering after %s: %w", port, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// Components are what the api-server's health report must show healthy.
var Components = []string{"metadatabase", "scheduler", "triggerer", "dag_processor"}

// Unhealthy says which component of the stack at api is not healthy yet;
// nil when every one is.
func Unhealthy(api string) error {
	var health map[string]struct{ Status string }
	if err := restapi.Do("GET", api+"/api/v2/monitor/health", "", nil, &health); err != nil {
		return err
	}
	for _, c := range Components {
		if health[c].Status != "healthy" {
			return fmt.Errorf("%s is %q", c, health[c].Status)
		}
	}
	return nil
}

// Services are the stack's long-running services with one worker, by the
// names `dagger call logs --service` takes.
var Services = []string{"postgres", "valkey", "airflow-apiserver", "airflow-scheduler",
	"airflow-dag-processor", "airflow-triggerer", "airflow-worker-1"}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

var colour = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// Uncoloured is s without the colour codes of the CLI's plain progress output.
func Uncoloured(s string) string { return colour.ReplaceAllString(s, "") }

// SpanLine is a line of the CLI's plain progress output, uncoloured: its
// span's number, the nesting marks, and the span's text.
var SpanLine = regexp.MustCompile(`^(\d+)\s*: ((?:┆ )*)(.*)$`)

// ExecRan says whether the plain progress output (uncoloured) shows an exec
// whose command holds what running: a line the exec printed in its own
// span, however other spans' lines interleave. The exec must print when it
// runs (the image steps say what they installed): its DONE line alone
// proves nothing, as a result the engine loads from its disk cache ends
// DONE too (seen after an engine restart), and an exec answered from
// Dagger's cache shows CACHED or, under a cached layer, no line at all.
func ExecRan(plain, what string) bool {
	execs := map[string]bool{}
	for _, line := range strings.Split(plain, "\n") {
		m := SpanLine.FindStringSubmatch(line)
		switch {
		case m == nil:
		case strings.HasPrefix(m[3], "withExec ") && strings.Contains(m[3], what):
			execs[m[1]] = true
		case execs[m[1]] && execOutput.MatchString(m[3]):
			return true
		}
	}
	return false
}

// execOutput is a line an exec printed, in its span: "[1.2s] | text".
var execOutput = regexp.MustCompile(`^\[[0-9.hms]+\] \| `)

// Gist is a failure message in short: its first line, and each of the
// dagger CLI's own "Error:" blocks in it (up to a blank line) with the three
// lines after "Error:" and, when the block is longer, its last two (where a
// traceback names its exception); without those, its first three lines.
func Gist(msg string) string {
	lines := strings.Split(strings.TrimSpace(Uncoloured(msg)), "\n")
	out := []string{lines[0]}
	for i := 1; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "Error:") {
			continue
		}
		end := i
		for end < len(lines) && strings.TrimSpace(lines[end]) != "" {
			end++
		}
		for j, line := range lines[i:end] {
			switch {
			case j < 4 || j >= end-i-2:
				out = append(out, strings.TrimSpace(line))
			case j == 4:
				out = append(out, "…")
			}
		}
		i = end
	}
	if len(out) == 1 {
		out = lines[:min(3, len(lines))]
	}
	return strings.Join(out, "\n    ")
}

// Buffer is a bytes.Buffer safe for a process's writes and our reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Len is the number of bytes written.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// WithColumn is a dbt model whose last line is its FROM with one more
// column, name, holding the text value: what the tests and the benchmark
// save to see a model built again.
func WithColumn(model []byte, name, value string) ([]byte, error) {
	s := strings.TrimRight(string(model), "\n")
	i := strings.LastIndex(s, "\nfrom ")
	if i < 0 {
		return nil, fmt.Errorf("the model has no FROM line:\n%s", model)
	}
	return []byte(s[:i] + ",\n    '" + value + "' as " + name + s[i:] + "\n"), nil
}

// DAGFile is a DAG file defining DAG id, tagged tag, with one task that
// does nothing, named TaskOf(tag): what the tests and the benchmark save to
// see it arrive (the tag in the DAG's record, the task in its tasks).
func DAGFile(id, tag string) []byte {
	return []byte(fmt.Sprintf("import pendulum\nfrom airflow.sdk import dag, task\n\n\n"+
		"@dag(dag_id=%q, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz=\"UTC\"), tags=[%q])\n"+
		"def live():\n    @task(task_id=%q)\n    def noop():\n        pass\n\n    noop()\n\n\nlive()\n", id, tag, TaskOf(tag)))
}

// TaskOf is the task of DAGFile(id, tag).
func TaskOf(tag string) string { return "noop-" + tag }
