//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/restapi"
)

// newPasswordArgs are moduleArgs with every password changed.
func newPasswordArgs() []string {
	args := moduleArgs()
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "env://E2E_"); ok {
			args[i] = "env://E2E_NEW_" + v
		}
	}
	return args
}

// flowerStatus is the HTTP status of Flower's API, with a login or without.
func flowerStatus(t *testing.T, user, password string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://localhost:%d/api/workers", flowerPort), nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fatal(t, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The stored connection's password, as typed; Airflow keeps it encrypted
// with the project's Fernet key.
const connPassword = "rotation-conn-value-4730"

// decrypted is the password of a stored connection as Airflow decrypts it
// with the stack's Fernet key (e2e/testdata/decrypt_connection.py, run in
// the shell's container, on the running stack's database), or the error.
func decrypted(t *testing.T, module []string, conn string) (string, error) {
	t.Helper()
	out, err := callWith(t, 10*time.Minute, module, "shell",
		"with-file", "--path", "/tmp/decrypt_connection.py", "--source", filepath.Join(repoRoot(), "e2e/testdata/decrypt_connection.py"),
		"with-exec", "--args", "python3,/tmp/decrypt_connection.py,"+conn, "stdout")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if pw, ok := strings.CutPrefix(line, "password="); ok {
			return pw, nil
		}
	}
	fatalf(t, "decrypt_connection.py printed no password for %s:\n%s", conn, out)
	return "", nil
}

// TestPasswordChangesTakeEffect: a connection is stored encrypted with the
// project's generated Fernet key; after every password in the configuration
// is changed, the next `up` is healthy, every role and the admin take the
// new passwords and refuse the old ones, a task runs through Celery on the
// new broker password, and the connection still decrypts to its value (the
// key does not depend on a password). After `wipe`, a fresh start has a new
// key: the old ciphertext fails to decrypt. Flower asks for the admin's
// login; a default password is named in `up`'s output.
func TestPasswordChangesTakeEffect(t *testing.T) {
	recapOnFailure(t)
	wipe(t, moduleArgs())
	run := func(module []string, f func(st *harness.Running)) {
		t.Helper()
		st := startWith(t, module, "up", "--flower", "up")
		defer stop(t, st)
		waitHealthy(t, st, 15*time.Minute)
		f(st)
	}
	var ciphertext string
	run(moduleArgs(), func(*harness.Running) {
		token := login(t)
		if code := flowerStatus(t, "", ""); code != http.StatusUnauthorized {
			errorf(t, "Flower without a login: %d, want 401", code)
		}
		if code := flowerStatus(t, "airflow", secrets["E2E_AIRFLOW_WWW_PASSWORD"]); code != http.StatusOK {
			errorf(t, "Flower with the admin's login: %d, want 200", code)
		}
		conn := map[string]any{"connection_id": "e2e_rotation", "conn_type": "postgres", "host": "db.example",
			"login": "u", "password": connPassword}
		if err := api("POST", "/api/v2/connections", token, conn, nil); err != nil {
			fatal(t, err)
		}
		got, err := psql("airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "airflow",
			"SELECT is_encrypted, password FROM connection WHERE conn_id = 'e2e_rotation'")
		if err != nil {
			fatal(t, got, err)
		}
		encrypted, cipher, _ := strings.Cut(got, "|")
		if encrypted != "t" || cipher == "" || strings.Contains(cipher, connPassword) {
			fatalf(t, "the connection's password is not stored encrypted: %q", got)
		}
		ciphertext = cipher
	})

	next := newPasswordArgs()
	run(next, func(*harness.Running) {
		if _, err := restapi.Token(testProject.API(), "airflow", secrets["E2E_AIRFLOW_WWW_PASSWORD"]); err == nil || !strings.Contains(err.Error(), "401") {
			errorf(t, "the old admin password still gets a token: %v", err)
		}
		token := loginWith(t, secrets["E2E_NEW_AIRFLOW_WWW_PASSWORD"])
		for _, r := range []struct{ user, env, db string }{
			{"app", "POSTGRES_PASSWORD", "app"}, {"airflow", "AIRFLOW_DB_PASSWORD", "airflow"}, {"dbt", "DBT_DB_PASSWORD", "analytics"},
		} {
			if out, err := psql(r.user, secrets["E2E_NEW_"+r.env], r.db, "SELECT 1"); err != nil {
				errorf(t, "%s does not accept its new password: %v %s", r.user, err, out)
			}
			if out, err := psql(r.user, secrets["E2E_"+r.env], r.db, "SELECT 1"); err == nil || !strings.Contains(out, "password authentication failed") {
				errorf(t, "%s's old password is not refused: %v %s", r.user, err, out)
			}
		}
		if code := flowerStatus(t, "airflow", secrets["E2E_NEW_AIRFLOW_WWW_PASSWORD"]); code != http.StatusOK {
			errorf(t, "Flower with the new admin password: %d, want 200", code)
		}
		// A task is queued on Valkey and run by a worker: both on the new
		// broker password.
		run, err := restapi.RunDAG(testProject.API(), token, "deferred_heartbeat", nil, 10*time.Minute)
		if err != nil {
			errorf(t, "a DAG run through Celery after the Valkey password changed: %v", err)
		} else {
			t.Logf("DAG run %s: %s, on the new Valkey password", run.DagRunID, run.State)
		}
		if got, err := decrypted(t, next, "e2e_rotation"); err != nil || got != connPassword {
			errorf(t, "the connection after the password change decrypts to %q (%v), want %q", got, err, connPassword)
		}
	})

	wipe(t, next)
	// Valkey on the spec's default password this time: up must say so.
	withDefault := withoutFlag(next, "--valkey-password")
	run(withDefault, func(st *harness.Running) {
		if !strings.Contains(st.Log.String(), "VALKEY_PASSWORD is the spec's default password") {
			fail(t, "up does not warn about the default Valkey password")
		}
		insert := fmt.Sprintf("INSERT INTO connection (conn_id, conn_type, password, is_encrypted, is_extra_encrypted) "+
			"VALUES ('e2e_old_key', 'postgres', '%s', true, false)", ciphertext)
		if out, err := psql("airflow", secrets["E2E_NEW_AIRFLOW_DB_PASSWORD"], "airflow", insert); err != nil {
			fatal(t, out, err)
		}
		got, err := decrypted(t, withDefault, "e2e_old_key")
		if err == nil {
			errorf(t, "after wipe, a value encrypted with the old key decrypts to %q", got)
		} else if !strings.Contains(err.Error(), "InvalidToken") {
			errorf(t, "the old ciphertext fails otherwise than by the key (cryptography's InvalidToken):\n%v", err)
		}
	})
	wipe(t, withDefault)
}
