package main

import (
	"strings"
	"testing"
	"time"
)

// Lines in the shape `dagger call --progress=plain ... up` prints them.
var sampleUp = []string{
	"11  : dataPlatform DONE [6.7s]",
	"42  : ┆ [0.9s] | running /docker-entrypoint-initdb.d/init-db.sh",
	"51  : ┆ withExec sh /usr/local/lib/dataplatform/sync-folders.sh /tmp/dataplatform-project/dags /opt/airflow/dags -- bash /usr/local/lib/dataplatform/airflow-init.sh",
	"\x1b[2m42  : ┆ [1.1s] | 2026-11-28 15:19:16.052 UTC [14] LOG:  listening on IPv4 address \"0.0.0.0\", port 5432\x1b[0m",
	"51  : ┆ [3.8s] | resources: 24105 MB memory, 2 CPUs, 54 GB free disk",
	"51  : ┆ [11.4s] | ***-init: done",
	"112 : ┆ [16.9s] | 2026-11-28T15:19:45.935864Z [info     ] airflow-worker-2@btj800q8khple.dagger.local ready. [celery.apps.worker]",
	"139 : [15.4s] | 15:19:45 INF tunnel started port=28080 protocol=tcp",
}

// feed writes text to a timeline whose clock advances one second a write,
// in chunks of n bytes (0: one line a write).
func feed(t *testing.T, text string, n int) *timeline {
	t.Helper()
	t0 := time.Unix(0, 0)
	tl := newTimeline(t0)
	tick := 0
	tl.now = func() time.Time { tick++; return t0.Add(time.Duration(tick) * time.Second) }
	for len(text) > 0 {
		end := min(n, len(text))
		if n == 0 {
			end = strings.IndexByte(text, '\n') + 1
		}
		if _, err := tl.Write([]byte(text[:end])); err != nil {
			t.Fatal(err)
		}
		text = text[end:]
	}
	return tl
}

// Init's first and done lines, and the host ports, by the line numbers
// they came on (the clock ticks a second a line); nothing else.
func TestTimelineFindsInitAndTheHostPorts(t *testing.T) {
	got := map[string]serviceTimes{}
	for _, s := range feed(t, strings.Join(sampleUp, "\n")+"\n", 0).services() {
		got[s.name] = s
	}
	want := map[string][2]int{"airflow-init": {5, 6}, hostPorts: {8, 8}}
	if len(got) != len(want) {
		t.Errorf("services %v, want those of %v", got, want)
	}
	for name, w := range want {
		s := got[name]
		if s.first != time.Duration(w[0])*time.Second || s.ready != time.Duration(w[1])*time.Second {
			t.Errorf("%s: first %s ready %s, want %ds and %ds", name, s.first, s.ready, w[0], w[1])
		}
	}
}

func TestTimelineJoinsLinesSplitAcrossWrites(t *testing.T) {
	var order []string
	for _, s := range feed(t, strings.Join(sampleUp, "\n")+"\n", 97).services() {
		order = append(order, s.name)
	}
	if want := []string{"airflow-init", hostPorts}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("services ready in order %q, want %q", order, want)
	}
}
