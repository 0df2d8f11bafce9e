package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// importAsDagBag imports each file as Airflow's DagBag does (a
// SourceFileLoader of its own, a fresh module) in one Python process with
// the parse stamps plugin loaded as Airflow loads it (its airflow.policy
// entry point), and returns what Python printed.
func importAsDagBag(t *testing.T, env []string, files ...string) string {
	t.Helper()
	prog := `
import importlib.machinery, importlib.metadata, importlib.util, sys
for ep in importlib.metadata.entry_points(group="airflow.policy"):
    ep.load()
for i, path in enumerate(sys.argv[1:]):
    loader = importlib.machinery.SourceFileLoader("dagfile%d" % i, path)
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(mod)
    print(mod.VERSION)
`
	cmd := exec.Command("python3", append([]string{"-c", prog}, files...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYTHONDONTWRITEBYTECODE=") && !strings.HasPrefix(kv, "PYTHONPATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "PYTHONPATH="+filepath.Join("scripts", "python")), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

type stamp struct {
	SHA256 string  `json:"sha256"`
	At     float64 `json:"at"`
}

func readStamp(t *testing.T, path string) stamp {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s stamp
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v: %s", path, err, data)
	}
	return s
}

func sha(data string) string {
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:])
}

// The dag-processor stamps every DAG file it compiles with the hash of the
// bytes it compiled, under the file's path in the dags folder; other
// files, and processes without DATAPLATFORM_PARSE_STAMPS, stamp nothing.
func TestParseStampsNameTheBytesCompiled(t *testing.T) {
	dir := t.TempDir()
	dags, stamps, other := filepath.Join(dir, "dags"), filepath.Join(dir, "stamps"), filepath.Join(dir, "elsewhere.py")
	v1 := "VERSION = 'v1'\n"
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dags, "sub/a.py"), v1)
	write(other, v1)
	env := []string{"AIRFLOW__CORE__DAGS_FOLDER=" + dags, "PYTHONDONTWRITEBYTECODE=1"}

	importAsDagBag(t, env, filepath.Join(dags, "sub/a.py"), other)
	if _, err := os.Stat(stamps); !os.IsNotExist(err) {
		t.Fatalf("stamps written without DATAPLATFORM_PARSE_STAMPS: %v", err)
	}
	env = append(env, "DATAPLATFORM_PARSE_STAMPS="+stamps)
	importAsDagBag(t, env, filepath.Join(dags, "sub/a.py"), other)
	if s := readStamp(t, filepath.Join(stamps, "sub/a.py.json")); s.SHA256 != sha(v1) || s.At == 0 {
		t.Errorf("stamp %+v, want the hash of %q", s, v1)
	}
	entries, _ := filepath.Glob(filepath.Join(stamps, "*"))
	if len(entries) != 1 {
		t.Errorf("stamps for other files than the DAG file: %v", entries)
	}
}

// Python trusts a .pyc whose source has the same size and the same whole
// second of modification time: a same-size change saved within the second
// of an earlier import runs the earlier code. The stamp then still names
// the bytes of the earlier version (the source was not read), so a stamp
// can never vouch for code that was not run; without bytecode (as the
// stack runs), the new version runs and is stamped.
func TestParseStampsNeverVouchForStaleBytecode(t *testing.T) {
	for _, bytecode := range []bool{true, false} {
		dir := t.TempDir()
		dags, stamps := filepath.Join(dir, "dags"), filepath.Join(dir, "stamps")
		file := filepath.Join(dags, "same_size.py")
		if err := os.MkdirAll(dags, 0o755); err != nil {
			t.Fatal(err)
		}
		env := []string{"AIRFLOW__CORE__DAGS_FOLDER=" + dags, "DATAPLATFORM_PARSE_STAMPS=" + stamps}
		if !bytecode {
			env = append(env, "PYTHONDONTWRITEBYTECODE=1")
		}
		info := func(content string) os.FileInfo {
			t.Helper()
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			return fi
		}
		v1, v2 := "VERSION = 'v1'\n", "VERSION = 'v2'\n"
		first := info(v1)
		got1 := importAsDagBag(t, env, file)
		second := info(v2)
		if first.ModTime().Unix() != second.ModTime().Unix() {
			// The two writes straddled a second: set v2's time into v1's.
			if err := os.Chtimes(file, first.ModTime(), first.ModTime()); err != nil {
				t.Fatal(err)
			}
		}
		got2 := importAsDagBag(t, env, file)
		s := readStamp(t, filepath.Join(stamps, "same_size.py.json"))
		switch {
		case strings.TrimSpace(got1) != "v1":
			t.Errorf("bytecode %v: the first import ran %q", bytecode, got1)
		case bytecode && strings.TrimSpace(got2) != "v1":
			t.Errorf("bytecode on: the second import ran %q; Python no longer reuses a same-second, same-size .pyc (this test's premise)", got2)
		case bytecode && s.SHA256 != sha(v1):
			t.Errorf("bytecode on: the stale .pyc ran v1, yet the stamp names %s, not v1", s.SHA256)
		case !bytecode && (strings.TrimSpace(got2) != "v2" || s.SHA256 != sha(v2)):
			t.Errorf("bytecode off: the second import ran %q, stamped %s; want v2, %s", got2, s.SHA256, sha(v2))
		}
	}
}
