//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInitIsIdempotentAndFailsLoudly runs init twice on the same data (the
// second run changes nothing), then with a wrong database password (a clear
// error, not a silent success).
func TestInitIsIdempotentAndFailsLoudly(t *testing.T) {
	first := mustCall(t, 15*time.Minute, "init")
	second := mustCall(t, 15*time.Minute, "init")
	for i, out := range []string{first, second} {
		if !strings.Contains(out, "airflow-init: done") {
			t.Errorf("init run %d did not finish:\n%s", i+1, tail(out, 20))
		}
	}
	if !strings.Contains(second, "admin user 'airflow' already exists") {
		t.Errorf("second init did not find the admin user:\n%s", tail(second, 20))
	}
	_, err := call(t, 15*time.Minute, "--set", "AIRFLOW_DB_PASSWORD=not-the-password", "init")
	if err == nil {
		t.Fatal("init with a wrong database password succeeded")
	}
	if !strings.Contains(err.Error(), "cannot connect to the Airflow metadata database") {
		t.Errorf("init failure does not say why:\n%v", err)
	}
}

// TestNoSecretInOutputOrFiles counts every secret value in everything the
// dagger CLI printed during the whole run (progress included), in the
// engine's log when the engine is the native one, and in dbt's exported
// target/ folder: each count must be 0.
func TestNoSecretInOutputOrFiles(t *testing.T) {
	dir := t.TempDir()
	mustCall(t, 15*time.Minute, "dbt-target", "--cmd", "docs generate", "-o", dir)
	var exported strings.Builder
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(path)
			exported.Write(data)
		}
		return nil
	})
	if exported.Len() == 0 {
		t.Fatal("dbt-target exported nothing")
	}
	sources := map[string]string{
		"CLI output of this test run": transcript.String(),
		"exported dbt target/":        exported.String(),
	}
	if engineLog := os.Getenv("DAGGER_ENGINE_LOG"); engineLog != "" {
		data, err := os.ReadFile(engineLog)
		if err != nil {
			t.Fatalf("DAGGER_ENGINE_LOG: %v", err)
		}
		sources["engine log"] = string(data)
	}
	total := 0
	for name, text := range sources {
		for env, value := range secrets {
			n := strings.Count(text, value)
			total += n
			t.Logf("%-28s %-26s %d bytes searched, %d occurrences", name, env, len(text), n)
			if n != 0 {
				t.Errorf("%s contains the value of %s %d times", name, env, n)
			}
		}
	}
	if transcript.Len() < 10000 {
		t.Errorf("the transcript is suspiciously short (%d bytes): were the other tests run?", transcript.Len())
	}
	t.Logf("%d secret values x %d sources: %d occurrences", len(secrets), len(sources), total)
}
