//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
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
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPasswordChangesTakeEffect: a connection is stored encrypted with the
// project's generated Fernet key; after every password in the configuration
// is changed, the next `up` is healthy, every role and the admin take the
// new passwords, the old ones stop working, and the connection still
// decrypts (the key does not depend on a password). After `wipe`, a fresh
// start has a new key: the old ciphertext no longer decrypts. Flower asks
// for the admin's login; a default password is named in `up`'s output.
func TestPasswordChangesTakeEffect(t *testing.T) {
	rememberKeys(t) // those of the tests before
	mustCall(t, 10*time.Minute, "wipe")
	run := func(module []string, f func(st *stack)) {
		t.Helper()
		st := startWith(t, module, "up", "--flower", "up")
		defer st.stop(t)
		st.waitHealthy(t, 15*time.Minute)
		f(st)
	}
	var ciphertext string
	run(moduleArgs(), func(*stack) {
		token := login(t)
		if code := flowerStatus(t, "", ""); code != http.StatusUnauthorized {
			t.Errorf("Flower without a login: %d, want 401", code)
		}
		if code := flowerStatus(t, "airflow", secrets["E2E_AIRFLOW_WWW_PASSWORD"]); code != http.StatusOK {
			t.Errorf("Flower with the admin's login: %d, want 200", code)
		}
		conn := map[string]any{"connection_id": "e2e_rotation", "conn_type": "postgres", "host": "db.example",
			"login": "u", "password": "rotation-conn-value-4730"}
		if err := api("POST", "/api/v2/connections", token, conn, nil); err != nil {
			t.Fatal(err)
		}
		got, err := psql("airflow", secrets["E2E_AIRFLOW_DB_PASSWORD"], "airflow",
			"SELECT is_encrypted, password FROM connection WHERE conn_id = 'e2e_rotation'")
		if err != nil {
			t.Fatal(got, err)
		}
		encrypted, cipher, _ := strings.Cut(got, "|")
		if encrypted != "t" || cipher == "" || strings.Contains(cipher, "rotation-conn-value") {
			t.Fatalf("the connection's password is not stored encrypted: %q", got)
		}
		ciphertext = cipher
	})

	next := newPasswordArgs()
	run(next, func(*stack) {
		loginWith(t, secrets["E2E_NEW_AIRFLOW_WWW_PASSWORD"])
		for _, r := range []struct{ user, env, db string }{
			{"app", "POSTGRES_PASSWORD", "app"}, {"airflow", "AIRFLOW_DB_PASSWORD", "airflow"}, {"dbt", "DBT_DB_PASSWORD", "analytics"},
		} {
			if out, err := psql(r.user, secrets["E2E_NEW_"+r.env], r.db, "SELECT 1"); err != nil {
				t.Errorf("%s does not accept its new password: %v %s", r.user, err, out)
			}
			if _, err := psql(r.user, secrets["E2E_"+r.env], r.db, "SELECT 1"); err == nil {
				t.Errorf("%s still accepts its old password", r.user)
			}
		}
		if code := flowerStatus(t, "airflow", secrets["E2E_NEW_AIRFLOW_WWW_PASSWORD"]); code != http.StatusOK {
			t.Errorf("Flower with the new admin password: %d, want 200", code)
		}
		if _, err := callWith(t, 10*time.Minute, next, "airflow-cli", "--args", "connections get e2e_rotation -o json"); err != nil {
			t.Errorf("the connection no longer decrypts after the password change: %v", err)
		}
	})

	rememberKeys(t)
	mustCall(t, 10*time.Minute, append(next, "wipe")...)
	// Valkey on the spec's default password this time: up must say so.
	withDefault := withoutFlag(next, "--valkey-password")
	run(withDefault, func(st *stack) {
		if !strings.Contains(st.log.String(), "VALKEY_PASSWORD is the spec's default password") {
			t.Error("up does not warn about the default Valkey password")
		}
		insert := fmt.Sprintf("INSERT INTO connection (conn_id, conn_type, password, is_encrypted, is_extra_encrypted) "+
			"VALUES ('e2e_old_key', 'postgres', '%s', true, false)", ciphertext)
		if out, err := psql("airflow", secrets["E2E_NEW_AIRFLOW_DB_PASSWORD"], "airflow", insert); err != nil {
			t.Fatal(out, err)
		}
		if out, err := callWith(t, 10*time.Minute, withDefault, "airflow-cli", "--args", "connections get e2e_old_key -o json"); err == nil {
			t.Errorf("after wipe, a value encrypted with the old key still decrypts:\n%s", out)
		}
	})
	rememberKeys(t)
	mustCall(t, 10*time.Minute, append(withDefault, "wipe")...)
}
