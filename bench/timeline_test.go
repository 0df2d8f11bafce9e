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

// Kept lines' whole seconds count from the start's whole second; a line's
// own finer stamp, in the same second, from the start itself; docker's
// stamps as they are.
func TestReadyFrom(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 18, 30, 20, 400_000_000, time.UTC)
	kept := strings.Join([]string{
		"2026-12-06T18:30:19Z before the start",
		"2026-12-06T18:30:20Z 2026-12-06T18:30:20.100000Z [info     ] in the start's second, before it",
		"2026-12-06T18:30:21Z 2026-12-06T18:30:21.250000Z [info     ] setup plugin",
		"2026-12-06T18:30:37Z 2026-12-06T18:30:37.035533Z [info     ] airflow-worker-1@x.dagger.local ready. [celery.apps.worker]",
	}, "\n")
	st, err := readyFrom("airflow-worker-1", t0, time.Second, kept, keptLine)
	if err != nil {
		t.Fatal(err)
	}
	if want := 850 * time.Millisecond; st.first != want {
		t.Errorf("first line at %s, want %s", st.first, want)
	}
	if want := 16635533 * time.Microsecond; st.ready != want {
		t.Errorf("ready at %s, want %s", st.ready, want)
	}
	api := "2026-12-06T18:30:37Z INFO:     Application startup complete."
	if st, err := readyFrom("airflow-apiserver", t0, time.Second, api, keptLine); err != nil || st.ready != 17*time.Second {
		t.Errorf("a kept stamp alone: ready at %s (%v), want 17s from the start's second", st.ready, err)
	}
	docker := "2026-12-06T18:30:37.500000000Z INFO:     Application startup complete."
	if st, err := readyFrom("airflow-apiserver", t0, 0, docker, dockerLine); err != nil || st.ready != 17100*time.Millisecond {
		t.Errorf("docker's stamp: ready at %s (%v), want 17.1s", st.ready, err)
	}
	if _, err := readyFrom("airflow-worker-1", t0, time.Second, "2026-12-06T18:30:19Z x@y ready.", keptLine); err == nil {
		t.Error("a ready line before the start was taken")
	}
}
