package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocalSkipsWhatNeverGoesToTheStack(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"dags/a.py", "dags/sub/b.sql", "dags/.a.py.swp", "dags/a.py~", "dags/__pycache__/a.cpython-312.pyc", "dags/.hidden/c.py",
		"dbt/models/m.sql", "dbt/target/manifest.json", "dbt/dbt_packages/p/x.sql", "dags/target/kept.py"} {
		write(t, filepath.Join(dir, f), f)
	}
	tree, err := Local(map[string]string{"dags": filepath.Join(dir, "dags"), "plugins": filepath.Join(dir, "plugins"), "dbt": filepath.Join(dir, "dbt")},
		map[string][]string{"dbt": {"target", "dbt_packages"}})
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for p := range tree {
			if !yield(p) {
				return
			}
		}
	})
	if want := []string{"dags/a.py", "dags/sub/b.sql", "dags/target/kept.py", "dbt/models/m.sql"}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

func TestDiff(t *testing.T) {
	send, remove := Diff(Tree{"dags/a.py": "1", "dags/b.py": "2", "dags/c.py": "3"}, Tree{"dags/a.py": "1", "dags/b.py": "x", "dags/gone.py": "4"})
	if !slices.Equal(send, []string{"dags/b.py", "dags/c.py"}) || !slices.Equal(remove, []string{"dags/gone.py"}) {
		t.Errorf("send %v remove %v", send, remove)
	}
}

func TestImportErrorPointsAtTheFile(t *testing.T) {
	trace := `Traceback (most recent call last):
  File "<frozen importlib._bootstrap>", line 488, in _call_with_frames_removed
  File "/opt/airflow/dags/sub/broken.py", line 3, in <module>
    import does_not_exist
ModuleNotFoundError: No module named 'does_not_exist'
`
	line, msg := ImportError(trace, "sub/broken.py")
	if line != 3 || msg != "ModuleNotFoundError: No module named 'does_not_exist'" {
		t.Errorf("line %d, message %q", line, msg)
	}
	if line, _ := ImportError(trace, "other.py"); line != 0 {
		t.Errorf("a line of another file: %d", line)
	}
}

func TestSkippedByAirflowAsItsSafeModeDoes(t *testing.T) {
	for content, want := range map[string]bool{
		"from airflow.sdk import dag\n":          false,
		"import airflow\nDAG = 1\n":              false,
		"from airflow.sdk import Asset\n":        false,
		"HELPERS = 1  # used by the DAG files\n": true,
		"from airflow.sdk import BaseOperator\n": true,
		"":                                       true,
	} {
		if got := SkippedByAirflow([]byte(content)); got != want {
			t.Errorf("%q: %v, want %v", content, got, want)
		}
	}
}

// The verdict on a file sent is by content: only once the dag-processor's
// stamp names the bytes sent (the caller checks that), and only on a
// result Airflow stored after that stamped read. A DAG or an import error
// stored before it is the result of an earlier parse, whatever its time
// says of when that parse began.
func TestVerdictOnlyOnTheStampedParse(t *testing.T) {
	read := time.Date(2026, 12, 6, 4, 27, 52, 500_000_000, time.UTC)
	stamp := Stamp{SHA256: "v2", At: float64(read.UnixMicro()) / 1e6}
	dag := func(id string, stored time.Duration) dagInfo { return dagInfo{ID: id, LastParsed: read.Add(stored)} }
	trace := "Traceback (most recent call last):\n  File \"/opt/airflow/dags/x.py\", line 2, in <module>\nModuleNotFoundError: No module named 'nope'\n"
	for _, c := range []struct {
		what string
		dags []dagInfo
		err  importError
		want string
	}{
		{"stored after the read", []dagInfo{dag("x", 300*time.Millisecond)}, importError{}, "parsed, DAG x"},
		{"stored before the read (an earlier parse)", []dagInfo{dag("x", -100*time.Millisecond)}, importError{}, ""},
		{"only the DAGs stored after the read", []dagInfo{dag("old", -time.Second), dag("x", time.Second)}, importError{}, "parsed, DAG x"},
		{"an import error stored after", nil, importError{File: "x.py", Time: read.Add(time.Second), StackTrace: trace},
			"import error at line 2: ModuleNotFoundError: No module named 'nope'"},
		{"an import error of an earlier parse", []dagInfo{dag("x", -time.Second)}, importError{File: "x.py", Time: read.Add(-time.Second), StackTrace: trace}, ""},
		{"nothing stored yet", nil, importError{}, ""},
	} {
		got, done := verdict(stamp, c.dags, c.err, "x.py")
		if done != (c.want != "") || got != c.want {
			t.Errorf("%s: %q (%v), want %q", c.what, got, done, c.want)
		}
	}
}

// A stamp of other bytes than those sent (the same-second save: the
// dag-processor read the file's first version) gives no verdict, however
// recent the parse Airflow stored: the file is asked for again.
func TestNoVerdictOnAParseOfOtherBytes(t *testing.T) {
	read := time.Date(2026, 12, 6, 4, 27, 52, 500_000_000, time.UTC)
	first := Stamp{SHA256: "v1", At: float64(read.UnixMicro()) / 1e6}
	stored := []dagInfo{{ID: "e2e_edit", LastParsed: read.Add(time.Second)}}
	if said, done, again := contentVerdict(first, true, "v2", stored, importError{}, "e2e_edit.py"); done || !again || said != "" {
		t.Errorf("a parse of v1 for v2 sent: said %q, done %v, parse again %v; want nothing said, parse again", said, done, again)
	}
	if _, done, again := contentVerdict(Stamp{}, false, "v2", stored, importError{}, "e2e_edit.py"); done || !again {
		t.Errorf("no stamp yet: done %v, parse again %v", done, again)
	}
	said, done, again := contentVerdict(Stamp{SHA256: "v2", At: first.At}, true, "v2", stored, importError{}, "e2e_edit.py")
	if !done || again || !strings.Contains(said, "parsed") {
		t.Errorf("the parse of v2 stored after its read: said %q, done %v, parse again %v", said, done, again)
	}
}

// A deleted file is followed until Airflow drops its DAGs only when
// Airflow knew DAGs of it: a helper module or a file that never imported
// has none to lose.
func TestDeletionFollowedOnlyForKnownDAGs(t *testing.T) {
	s := state{dags: map[string][]dagInfo{"a.py": {{ID: "a"}}, "sub/b.py": {{ID: "b"}}}, errors: map[string]importError{"broken.py": {File: "broken.py"}}}
	for p, want := range map[string]bool{"dags/a.py": true, "dags/sub/b.py": true, "dags/helper.py": false, "dags/broken.py": false} {
		if got := s.knowsDAGsOf(p); got != want {
			t.Errorf("knowsDAGsOf(%q) = %v, want %v", p, got, want)
		}
	}
}

// The watcher against the real receiver (pipeline/scripts/live-receiver.py),
// with no Airflow: the stack's folder becomes the project's, a save reaches
// it, a deletion too; Airflow's silence is said, not fatal. (How fast is
// the benchmark's to say: a loaded machine may be slow.)
func TestWatcherKeepsTheStacksFoldersTheProjects(t *testing.T) {
	dir := t.TempDir()
	project, stack := filepath.Join(dir, "project"), filepath.Join(dir, "stack")
	write(t, filepath.Join(project, "dags/a.py"), "a = 1\n")
	write(t, filepath.Join(stack, "dags/old.py"), "old\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	recv := exec.Command("python3", "../../pipeline/scripts/live-receiver.py", fmt.Sprint(port), filepath.Join(stack, "stamps"), "dags="+filepath.Join(stack, "dags"), "plugins="+filepath.Join(stack, "plugins"))
	keyFile := filepath.Join(dir, "key")
	write(t, keyFile, "a-live-key-of-at-least-32-characters-here")
	recv.Env = append(os.Environ(), "LIVE_KEY_FILE="+keyFile)
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = recv.Process.Kill(); _ = recv.Wait() }()
	var out harness.Buffer
	w := &Watcher{
		Folders:  map[string]string{"dags": filepath.Join(project, "dags"), "plugins": filepath.Join(project, "plugins")},
		Receiver: Receiver{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Key: "a-live-key-of-at-least-32-characters-here"},
		API:      "http://127.0.0.1:1", // no Airflow
		Out:      &out,
		Settle:   20 * time.Millisecond,
	}
	waitUntil(t, "the receiver answers", func() bool { _, err := w.Receiver.Remote(); return err == nil })
	want := sha256.Sum256([]byte("p = 0\n"))
	if sum, err := w.Receiver.Put("dags/put.py", []byte("p = 0\n")); err != nil || sum != hex.EncodeToString(want[:]) {
		t.Errorf("a PUT answered %q (%v), want the SHA-256 of what it wrote", sum, err)
	}
	ctx, cancel := testContext(t)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitUntil(t, "the first sync", func() bool {
		_, errOld := os.Stat(filepath.Join(stack, "dags/old.py"))
		data, _ := os.ReadFile(filepath.Join(stack, "dags/a.py"))
		return os.IsNotExist(errOld) && string(data) == "a = 1\n"
	})
	write(t, filepath.Join(project, "dags/new/b.py"), "b = 2\n")
	waitUntil(t, "a new file in a new folder", func() bool {
		data, _ := os.ReadFile(filepath.Join(stack, "dags/new/b.py"))
		return string(data) == "b = 2\n"
	})
	if err := os.Remove(filepath.Join(project, "dags/a.py")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a deletion", func() bool { _, err := os.Stat(filepath.Join(stack, "dags/a.py")); return os.IsNotExist(err) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sent dags/a.py", "deleted dags/old.py", "deleted dags/put.py", "sent dags/new/b.py", "deleted dags/a.py", "Airflow's REST API does not answer"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

func testContext(*testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// A node's result as live says it; a database's syntax error names the
// line of the model's file holding the text it points at.
func TestDbtNodeDescribed(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "models/staging/stg_orders.sql"), "-- orders\nselec order_id\nfrom raw.orders\n")
	rows, fails, one := 40, 3, 1
	for _, c := range []struct {
		n    DbtNode
		want string
	}{
		{DbtNode{Node: "stg_orders", Type: "model", Status: "success", Rows: &rows, Seconds: 1.2}, "model stg_orders: success, 40 rows, 1.20 s"},
		{DbtNode{Node: "not_null_x", Type: "test", Status: "fail", Rows: &one, Failures: &fails, Seconds: 0.3, File: "models/schema.yml", Message: "Got 3 results, configured to fail if != 0"},
			"test not_null_x: fail, 3 failures, 0.30 s (models/schema.yml): Got 3 results, configured to fail if != 0"},
		{DbtNode{Node: "stg_orders", Type: "model", Status: "error", File: "models/staging/stg_orders.sql",
			Message: "Database Error in model stg_orders (models/staging/stg_orders.sql)\n  syntax error at or near \"selec\"\n  LINE 9:   selec order_id"},
			`model stg_orders: error, 0.00 s (models/staging/stg_orders.sql line 2): Database Error in model stg_orders (models/staging/stg_orders.sql) | syntax error at or near "selec" | LINE 9:   selec order_id`},
		{DbtNode{Error: "Compilation Error in model x (models/x.sql)\n  unexpected '}'\n    line 14"}, "error: Compilation Error in model x (models/x.sql) | unexpected '}' | line 14"},
	} {
		if got := c.n.Describe(dir); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

// A build's answer ends at its last line (the exit status), even when the
// connection stays open: the stack's host port never says a body ended.
func TestBuildDbtEndsAtTheExitLine(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dbt/build" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"node": "stg_orders", "type": "model", "status": "success", "seconds": 0.5}`+"\n"+`{"exit": 0}`+"\n")
		w.(http.Flusher).Flush()
		<-release // the body never ends
	}))
	defer srv.Close()
	defer close(release) // first: the handler returns, then the server closes
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- Receiver{URL: srv.URL, Key: "k"}.BuildDbt(func(n DbtNode) { got = append(got, n.Describe(t.TempDir())) })
	}()
	select {
	case err := <-done:
		if err != nil || len(got) != 2 || got[0] != "model stg_orders: success, 0.50 s" {
			t.Errorf("BuildDbt: %v, nodes %q", err, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("BuildDbt waits for the body's end after the exit line")
	}
}
