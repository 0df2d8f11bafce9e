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
// admin's login writes; a file is written whole, listed with its hash, and
// deleted with the folders it leaves empty; no path leaves its folder.
func TestLiveReceiver(t *testing.T) {
	dir := t.TempDir()
	dags, plugins := filepath.Join(dir, "dags"), filepath.Join(dir, "plugins")
	port := freePort(t)
	cmd := exec.Command("python3", "../init/live-receiver.py", fmt.Sprint(port), "dags="+dags, "plugins="+plugins)
	cmd.Env = append(os.Environ(), "LIVE_USER=admin", "LIVE_PASSWORD=s3cret pw")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	do := func(method, path, body, password string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if password != "" {
			req.SetBasicAuth("admin", password)
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

	if code, _ := do("PUT", "/files/dags/a.py", "x", ""); code != 401 {
		t.Errorf("without a login: %d, want 401", code)
	}
	if code, _ := do("PUT", "/files/dags/a.py", "x", "wrong"); code != 401 {
		t.Errorf("with a wrong password: %d, want 401", code)
	}
	if code, body := do("PUT", "/files/dags/sub/b.py", "print('b')\n", "s3cret pw"); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if data, _ := os.ReadFile(filepath.Join(dags, "sub/b.py")); string(data) != "print('b')\n" {
		t.Errorf("the file holds %q", data)
	}
	for _, bad := range []string{"/files/dags/../escape.py", "/files/dags/.hidden.py", "/files/dags/__pycache__/x.pyc", "/files/other/x.py", "/files/dags/"} {
		if code, _ := do("PUT", bad, "x", "s3cret pw"); code != 400 && code != 404 {
			t.Errorf("PUT %s: %d, want refused", bad, code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.py")); err == nil {
		t.Error("a path left its folder")
	}
	code, body := do("GET", "/files", "", "s3cret pw")
	var list map[string]map[string]string
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("GET /files: %d %s", code, body)
	}
	if h := list["dags"]["sub/b.py"]; len(h) != 64 || len(list["dags"]) != 1 || list["plugins"] == nil {
		t.Errorf("listing: %v", list)
	}
	if code, _ := do("DELETE", "/files/dags/sub/b.py", "", "s3cret pw"); code != 200 {
		t.Errorf("DELETE: %d", code)
	}
	if _, err := os.Stat(filepath.Join(dags, "sub")); !os.IsNotExist(err) {
		t.Error("the folder the deleted file left empty is still there")
	}
	if _, err := os.Stat(dags); err != nil {
		t.Error("the live folder itself was removed")
	}
}
