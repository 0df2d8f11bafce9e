//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/pipeline"
)

// The leak scan is the last test of the suite (this file's name sorts
// last): it searches everything the other tests produced, so a test that
// starts after it fails (see recapOnFailure).

// TestEveryTestRecordsItself: every e2e test begins with
// recapOnFailure(t), which also fails a test that starts after the leak
// scan (see leakScanned): no test escapes that check.
func TestEveryTestRecordsItself(t *testing.T) {
	recapOnFailure(t)
	files, err := filepath.Glob(filepath.Join(repoRoot(), "e2e", "*_test.go"))
	if err != nil {
		fatal(t, err)
	}
	fset, seen := token.NewFileSet(), 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			fatal(t, err)
		}
		if !strings.HasPrefix(string(data), "//go:build e2e\n") {
			continue // another build (userpath)
		}
		f, err := parser.ParseFile(fset, path, data, 0)
		if err != nil {
			fatal(t, err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			seen++
			if len(fn.Body.List) == 0 || !isRecapCall(fn.Body.List[0]) {
				errorf(t, "%s (%s) does not begin with recapOnFailure(t)", fn.Name.Name, filepath.Base(path))
			}
		}
	}
	if seen < 10 {
		errorf(t, "found %d e2e tests in the source, fewer than the suite has", seen)
	}
}

func isRecapCall(stmt ast.Stmt) bool {
	es, ok := stmt.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := es.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	id, ok := call.Fun.(*ast.Ident)
	return ok && id.Name == "recapOnFailure"
}

// TestNoSecretInOutputOrFiles counts every secret value of the run, in
// every form a program might write it, in everything the run kept: all the
// dagger CLI printed (progress included), the engine's log and the logs the
// stacks kept in their volumes (on the native engine, whose state this host
// reads), and every file the tests exported (dbt-target, dbt-ci -o). Each
// count must be 0.
func TestNoSecretInOutputOrFiles(t *testing.T) {
	recapOnFailure(t)
	recapMu.Lock()
	leakScanned = true
	recapMu.Unlock()
	dir := t.TempDir()
	mustCall(t, 15*time.Minute, "dbt-target", "--cmd", "docs generate", "-o", dir)
	keepExported(t, dir)
	sources := map[string]string{
		"CLI output of this test run":     transcript.String(),
		"files exported by the tests":     exported.String(),
		"the stacks' kept logs (volumes)": "",
	}
	if engineLog := os.Getenv("DAGGER_ENGINE_LOG"); engineLog != "" {
		data, err := os.ReadFile(engineLog)
		if err != nil {
			fatalf(t, "DAGGER_ENGINE_LOG: %v", err)
		}
		sources["engine log"] = string(data)
	}
	if os.Getenv("DAGGER_ENGINE_STATE") != "" {
		rememberKeptLogs(t)
		var all strings.Builder
		for _, content := range keptLogs {
			all.WriteString(content)
		}
		kept := all.String()
		t.Logf("kept logs: %d files read over the run, %d bytes", len(keptLogs), len(kept))
		// The scan reads what it must: a service's output and a task's log.
		for _, want := range []string{"Starting the scheduler", "loading into the Airflow connection"} {
			if !strings.Contains(kept, want) {
				errorf(t, "the kept logs read from the engine's state lack %q: the scan misses them", want)
			}
		}
		sources["the stacks' kept logs (volumes)"] = kept
	} else {
		delete(sources, "the stacks' kept logs (volumes)")
	}
	total, values := 0, leakable(t)
	for name, text := range sources {
		found := 0
		for what, value := range values {
			if n := strings.Count(text, value); n > 0 {
				found += n
				errorf(t, "%s contains %s %d times", name, what, n)
			}
		}
		t.Logf("%-32s %9d bytes searched for %d values: %d occurrences", name, len(text), len(values), found)
		total += found
	}
	if transcript.Len() < 10000 || exported.Len() == 0 {
		errorf(t, "the transcript (%d bytes) or the exported files (%d bytes) are suspiciously short: were the other tests run?", transcript.Len(), exported.Len())
	}
}

// exported holds the files the tests exported from the module, for the
// leak scan (their folders are gone by then).
var exported = &harness.Buffer{}

// keepExported keeps every file below dir for the leak scan.
func keepExported(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, _ = exported.Write(data)
		}
		return err
	})
	if err != nil {
		fatal(t, err)
	}
}

// keptLogs holds every file of the volumes that held logs, as read before
// each wipe and at the scan (file and size -> content; native engine).
var keptLogs = map[string]string{}

// rememberKeptLogs reads, from the native engine's state, every file of
// the volumes that hold logs: the services' kept output (NAME.log at the
// volume's root) and Airflow's task and processor logs (dag_id=...).
func rememberKeptLogs(t *testing.T) {
	t.Helper()
	for _, root := range snapshotRoots(t) {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		logs := slices.ContainsFunc(entries, func(e os.DirEntry) bool {
			n := e.Name()
			return strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".log.1") || strings.HasPrefix(n, "dag_id=") || n == "dag_processor"
		})
		if !logs {
			continue
		}
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if data, err := os.ReadFile(path); err == nil {
				keptLogs[fmt.Sprintf("%s@%d", path, len(data))] = string(data)
			}
			return nil
		})
	}
}

// leakable is every secret value of the run, each in every form a program
// might write it, by what it is: each password as typed, percent-encoded
// (URLs), form-encoded ('+' for a space), in base64 alone and as HTTP Basic
// credentials, shell-escaped; every value the module computes from them
// (connection strings, Valkey's config), from the same inputs the tests
// pass; and every Fernet key and JWT secret the stacks generated.
func leakable(t *testing.T) map[string]string {
	t.Helper()
	in := pipeline.Input{Secrets: map[string]string{}}
	args := moduleArgs()
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "--set" {
			in.Set = append(in.Set, args[i+1])
		} else if env, ok := strings.CutPrefix(args[i+1], "env://"); ok {
			for _, v := range pipeline.SecretVariables() {
				if v.Flag() == args[i] {
					in.Secrets[v.Name] = secrets[env]
				}
			}
		}
	}
	cfg, err := pipeline.LoadConfig(t.Context(), in)
	if err != nil {
		fatal(t, err)
	}
	out := map[string]string{}
	for env, value := range secrets {
		out[env] = value
		out[env+" percent-encoded"] = pipeline.EscapeUserinfo(value)
		out[env+" form-encoded"] = url.QueryEscape(value)
		out[env+" in base64"] = base64.StdEncoding.EncodeToString([]byte(value))
		out[env+" as Basic credentials"] = base64.StdEncoding.EncodeToString([]byte("airflow:" + value))
		out[env+" shell-escaped"] = shellEscaped(value)
	}
	for name, value := range pipeline.Secrets(cfg) {
		out["secret "+name] = value
	}
	rememberKeys(t)
	if os.Getenv("DAGGER_ENGINE_STATE") != "" && len(generatedKeys) < 6 {
		errorf(t, "only %d generated keys collected from the engine's state (each stack makes 2): the scan would miss some", len(generatedKeys))
	}
	n := 0
	for key := range generatedKeys {
		n++
		out[fmt.Sprintf("generated key %d", n)] = key
	}
	return out
}

// shellEscaped is a value as bash's printf %q writes it: a backslash before
// every character a shell would read otherwise.
func shellEscaped(v string) string {
	var b strings.Builder
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
