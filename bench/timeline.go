package main

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"dagger/data-platform/internal/harness"
)

// timeline follows the plain progress output of `dagger call up` as it is
// printed and notes when init (a job: its output comes only there) printed
// its first and its "done" line, and when the CLI opened the host ports.
// Each long-running service's own times come from its kept log instead
// (`dagger call logs`, see module.Ready).
type timeline struct {
	t0  time.Time
	now func() time.Time

	mu      sync.Mutex
	partial []byte
	log     bytes.Buffer
	initID  string // init's exec span
	first   map[string]time.Duration
	ready   map[string]time.Duration
}

func newTimeline(t0 time.Time) *timeline {
	return &timeline{t0: t0, now: time.Now, first: map[string]time.Duration{}, ready: map[string]time.Duration{}}
}

// readyLines: what each service prints once it is ready, by name prefix.
var readyLines = []struct {
	service string
	line    *regexp.Regexp
}{
	// The image's temporary init server listens on no TCP address.
	{"postgres", regexp.MustCompile(`listening on IPv4 address`)},
	{"valkey", regexp.MustCompile(`Ready to accept connections`)},
	// "airflow" may be masked: with the default passwords it is a secret.
	{"airflow-init", regexp.MustCompile(`-init: done`)},
	{"airflow-apiserver", regexp.MustCompile(`Application startup complete`)},
	{"airflow-scheduler", regexp.MustCompile(`Starting the scheduler`)},
	{"airflow-dag-processor", regexp.MustCompile(`Starting the Dag Processor Job`)},
	{"airflow-triggerer", regexp.MustCompile(`Starting the triggerer`)},
	{"airflow-worker", regexp.MustCompile(`@\S+ ready\.`)},
	{"airflow-flower", regexp.MustCompile(`Visit me at`)},
	{hostPorts, regexp.MustCompile(`tunnel started port=`)},
}

// hostPorts stands for the gateway: its ports are on the host once the CLI
// reports its tunnels.
const hostPorts = "ports on the host"

var (
	ansi    = regexp.MustCompile(`\x1b\[[0-9;]*[a-zA-Z]`)
	logLine = regexp.MustCompile(`^\[[^\]]+\] \| (.*)$`)
)

func (tl *timeline) Write(p []byte) (int, error) {
	at := tl.now().Sub(tl.t0)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.log.Write(p)
	tl.partial = append(tl.partial, p...)
	for {
		i := bytes.IndexByte(tl.partial, '\n')
		if i < 0 {
			break
		}
		tl.line(at, string(tl.partial[:i]))
		tl.partial = tl.partial[i+1:]
	}
	return len(p), nil
}

// line takes one line of progress output that arrived at time at.
func (tl *timeline) line(at time.Duration, raw string) {
	m := harness.SpanLine.FindStringSubmatch(ansi.ReplaceAllString(raw, ""))
	if m == nil {
		return
	}
	span, rest := m[1], m[3]
	if strings.HasPrefix(rest, "withExec ") && strings.Contains(rest, "/airflow-init.sh") {
		tl.initID = span
	}
	l := logLine.FindStringSubmatch(rest)
	if l == nil {
		return
	}
	var service string
	switch {
	case span == tl.initID:
		service = "airflow-init"
	case strings.Contains(l[1], "tunnel started"):
		service = hostPorts
	default:
		return
	}
	if _, seen := tl.first[service]; !seen {
		tl.first[service] = at
	}
	for _, r := range readyLines {
		if strings.HasPrefix(service, r.service) && r.line.MatchString(l[1]) {
			if _, seen := tl.ready[service]; !seen {
				tl.ready[service] = at
			}
		}
	}
}

// serviceTimes is one service's first output and ready time since `up` began.
type serviceTimes struct {
	name         string
	first, ready time.Duration
}

// services returns the services that reported ready, in the order they did.
func (tl *timeline) services() []serviceTimes {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []serviceTimes
	for name, ready := range tl.ready {
		out = append(out, serviceTimes{name, tl.first[name], ready})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ready < out[j].ready })
	return out
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.log.String()
}
