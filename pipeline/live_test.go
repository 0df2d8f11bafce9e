package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The receiver of live edits, run here on temporary folders: only the
// project's live key writes (no key, a wrong one or the admin's login get
// 401 and write nothing); a file is written whole with its bytecode
// dropped, listed with its hash, and deleted with the folders it leaves
// empty; no path leaves its folder; the parse stamps are shown.
func TestLiveReceiver(t *testing.T) {
	dir := t.TempDir()
	dags, plugins, stamps, keyFile := filepath.Join(dir, "dags"), filepath.Join(dir, "plugins"), filepath.Join(dir, "stamps"), filepath.Join(dir, "key")
	dbt := filepath.Join(dir, "dbt")
	if err := os.MkdirAll(filepath.Join(dbt, "target"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dbt, "target/manifest.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF="
	if err := os.WriteFile(keyFile, []byte(key), 0o400); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command("python3", "scripts/live-receiver.py", fmt.Sprint(port), stamps, "dags="+dags, "plugins="+plugins,
		"dbt="+dbt+":target,logs,dbt_packages")
	cmd.Env = append(os.Environ(), "LIVE_KEY_FILE="+keyFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	type auth func(*http.Request)
	bearer := func(k string) auth { return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k) } }
	do := func(method, path, body string, a auth) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if a != nil {
			a(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver does not listen")
		}
	}

	ok := bearer(key)
	for what, a := range map[string]auth{
		"no credential":                nil,
		"a wrong key":                  bearer("0123456789abcdefghijklmnopqrstuvwxyzABCDEX="),
		"the admin's default login":    func(r *http.Request) { r.SetBasicAuth("airflow", "airflow") },
		"the key as HTTP Basic":        func(r *http.Request) { r.SetBasicAuth("airflow", key) },
		"a prefix of the key":          bearer(key[:20]),
		"the key with something after": bearer(key + "x"),
	} {
		if code, _ := do("PUT", "/files/dags/a.py", "x", a); code != 401 {
			t.Errorf("PUT with %s: %d, want 401", what, code)
		}
		if code, _ := do("GET", "/files", "", a); code != 401 {
			t.Errorf("GET with %s: %d, want 401", what, code)
		}
	}
	if _, err := os.Stat(filepath.Join(dags, "a.py")); !os.IsNotExist(err) {
		t.Error("a refused PUT wrote the file")
	}
	pyc := filepath.Join(dags, "sub/__pycache__/b.cpython-311.pyc")
	if err := os.MkdirAll(filepath.Dir(pyc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pyc, []byte("stale bytecode"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := do("PUT", "/files/dags/sub/b.py", "print('b')\n", ok)
	var put struct {
		Written int    `json:"written"`
		SHA256  string `json:"sha256"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &put) != nil || put.Written != 11 || put.SHA256 != sha("print('b')\n") {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if data, _ := os.ReadFile(filepath.Join(dags, "sub/b.py")); string(data) != "print('b')\n" {
		t.Errorf("the file holds %q", data)
	}
	if _, err := os.Stat(pyc); !os.IsNotExist(err) {
		t.Error("the file's bytecode was kept: it could stand for the new content")
	}
	for _, bad := range []string{"/files/dags/../escape.py", "/files/dags/.hidden.py", "/files/dags/__pycache__/x.pyc", "/files/other/x.py", "/files/dags/",
		"/files/dbt/target/manifest.json", "/files/dbt/dbt_packages/p/x.sql"} {
		if code, _ := do("PUT", bad, "x", ok); code != 400 && code != 404 {
			t.Errorf("PUT %s: %d, want refused", bad, code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.py")); err == nil {
		t.Error("a path left its folder")
	}
	code, body = do("GET", "/files", "", ok)
	var list map[string]map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("GET /files: %d %s", code, body)
	}
	if h := list["dags"]["sub/b.py"]; h != put.SHA256 || len(list["dags"]) != 1 || list["plugins"] == nil || len(list["dbt"]) != 0 {
		t.Errorf("listing (dbt's target/ is no file of the project's): %v", list)
	}
	if code, _ := do("GET", "/parsed/dags/sub/b.py", "", ok); code != 404 {
		t.Errorf("the stamp of a file never parsed: %d, want 404", code)
	}
	if err := os.MkdirAll(filepath.Join(stamps, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stamps, "sub/b.py.json"), []byte(`{"sha256": "abc", "at": 12.5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := do("GET", "/parsed/dags/sub/b.py", "", ok); code != 200 || !strings.Contains(body, `"sha256": "abc"`) {
		t.Errorf("the stamp: %d %s", code, body)
	}
	if code, _ := do("GET", "/parsed/dags/../../key", "", ok); code != 400 {
		t.Errorf("a stamp path out of its folder: %d, want 400", code)
	}
	if err := os.WriteFile(pyc, []byte("stale bytecode"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := do("DELETE", "/files/dags/sub/b.py", "", ok); code != 200 {
		t.Errorf("DELETE: %d", code)
	}
	if _, err := os.Stat(filepath.Join(dags, "sub")); !os.IsNotExist(err) {
		t.Error("the folder the deleted file left empty (but for its bytecode) is still there")
	}
	if _, err := os.Stat(dags); err != nil {
		t.Error("the live folder itself was removed")
	}
}

// Without its key the receiver does not start: it would open to nobody, or
// (were it to fall back on a password) to a guessable one.
func TestLiveReceiverNeedsItsKey(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "key")
	if err := os.WriteFile(empty, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, keyFile := range []string{empty, filepath.Join(dir, "missing")} {
		cmd := exec.Command("python3", "scripts/live-receiver.py", fmt.Sprint(freePort(t)), dir, "dags="+dir)
		cmd.Env = append(os.Environ(), "LIVE_KEY_FILE="+keyFile)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("the receiver ran with the key file %s", keyFile)
		}
		if !strings.Contains(string(out), "the live key in "+keyFile+" is missing or short") {
			t.Errorf("with %s it said:\n%s", keyFile, out)
		}
	}
}
