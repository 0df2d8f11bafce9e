package main

import (
	"strings"
	"testing"
	"time"
)

// Lines in the shape `dagger call --progress=plain ... up` prints them.
var sampleUp = []string{
	"11  : dataPlatform DONE [6.7s]",
	"42  : ┆ Container.asService(",
	`42  : ┆ ┆ args: ["sh", "-c", "chmod 1777 /var/log/dataplatform 2>/dev/null; [ \"$(wc -c < x)\" -lt 4 ]\nexec \"$@\"", "sh", "sh", "/usr/local/lib/dataplatform/restart-always.sh", "postgres", "INT", "sh", "/usr/local/lib/dataplatform/postgres-start.sh"]`,
	"42  : ┆ ): Service!",
	"42  : ┆ [0.9s] | running /docker-entrypoint-initdb.d/init-db.sh",
	"42  : ┆ [1.0s] | 2026-11-28 15:19:15.900 UTC [40] LOG:  database system is ready to accept connections",
	"51  : ┆ withExec sh -c mkdir -p /tmp/dataplatform-project/dags && cp -R ... sh bash /opt/airflow/init/airflow-init.sh",
	`60  : ┆ ┆ service: Container.asService(args: ["sh", "-c", "chmod 1777 /var/log/dataplatform 2>/dev/null; if touch \"x\"; fi\nexec \"$@\"", "sh", "sh", "/usr/local/lib/dataplatform/restart-always.sh", "valkey", "TERM", "valkey-server"]): Service!`,
	"\x1b[2m42  : ┆ [1.1s] | 2026-11-28 15:19:16.052 UTC [14] LOG:  listening on IPv4 address \"0.0.0.0\", port 5432\x1b[0m",
	"51  : ┆ [3.8s] | resources: 24105 MB memory, 2 CPUs, 54 GB free disk",
	"51  : ┆ [11.4s] | ***-init: done",
	`112 : ┆ Container.asService(args: ["sh", "/usr/local/lib/dataplatform/restart-always.sh", "airflow-worker-2", "TERM", "airflow", "celery", "worker"]): Service!`,
	"112 : ┆ [12.1s] | 2026-11-28T15:19:41.122703Z [info     ] setup plugin alembic.autogenerate.schemas",
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

func TestTimelineFindsEachServicesFirstAndReadyLines(t *testing.T) {
	tl := feed(t, strings.Join(sampleUp, "\n")+"\n", 0)
	got := map[string]serviceTimes{}
	for _, s := range tl.services() {
		got[s.name] = s
	}
	// Times are line numbers here. The temporary init server's "ready"
	// line (6) is not the server being ready (9).
	want := map[string][2]int{"postgres": {5, 9}, "airflow-init": {10, 11}, "airflow-worker-2": {13, 14}, hostPorts: {15, 15}}
	if len(got) != len(want) {
		t.Errorf("services %v, want those of %v", got, want)
	}
	for name, w := range want {
		s := got[name]
		if s.first != time.Duration(w[0])*time.Second || s.ready != time.Duration(w[1])*time.Second {
			t.Errorf("%s: first %s ready %s, want %ds and %ds", name, s.first, s.ready, w[0], w[1])
		}
	}
	if _, ok := got["valkey"]; ok {
		t.Error("a service binding line was taken for the service's own span")
	}
}

func TestTimelineJoinsLinesSplitAcrossWrites(t *testing.T) {
	var order []string
	for _, s := range feed(t, strings.Join(sampleUp, "\n")+"\n", 97).services() {
		order = append(order, s.name)
	}
	if want := []string{"postgres", "airflow-init", "airflow-worker-2", hostPorts}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("services ready in order %q, want %q", order, want)
	}
}

// A service's output comes under its exec span, whose name is the
// container's preparation script over several lines, the supervisor last.
func TestTimelineFollowsAMultiLineExec(t *testing.T) {
	lines := []string{
		"36  : ┆ Container.asService(",
		"36  : ┆ ┆ args: [\"sh\", \"-c\", \"chmod 1777 /var/log/dataplatform 2>/dev/null; if touch /var/log/datapl",
		"37  : ┆ ┆ exec sh -c chmod 1777 /var/log/dataplatform 2>/dev/null; if touch /var/log/dataplatform/postgres.log",
		`exec "$@" sh sh /usr/local/lib/dataplatform/restart-always.sh postgres INT sh /usr/local/lib/dataplatform/postgres-start.sh`,
		"38  : ┆ ┆ exec sh -c chmod 1777 /var/log/dataplatform 2>/dev/null; if touch x",
		"AIRFLOW__CORE__FERNET_KEY=$(cat /opt/airflow/secrets/airflow-fernet-key/key) || exit 1",
		`exec "$@" sh sh /usr/local/lib/dataplatform/restart-always.sh airflow-scheduler TERM airflow scheduler`,
		"37  : ┆ ┆ [1.0s] | 2026-11-29 21:00:00.000 UTC [14] LOG:  listening on IPv4 address \"0.0.0.0\", port 5432",
		"38  : ┆ ┆ [9.0s] | Starting the scheduler",
	}
	tl := feed(t, strings.Join(lines, "\n")+"\n", 0)
	got := map[string]time.Duration{}
	for _, s := range tl.services() {
		got[s.name] = s.ready
	}
	if got["postgres"] != 8*time.Second || got["airflow-scheduler"] != 9*time.Second {
		t.Errorf("ready times %v, want postgres at 8 s and airflow-scheduler at 9 s (line numbers)", got)
	}
}
