package main

import "testing"

func TestMirrorPath(t *testing.T) {
	for ref, want := range map[string]string{
		"postgres:16":                         "library/postgres:16",
		"valkey/valkey:9.0.2":                 "valkey/valkey:9.0.2",
		"apache/airflow:3.1.7":                "apache/airflow:3.1.7",
		"ghcr.io/dbt-labs/dbt-postgres:1.9.0": "ghcr.io/dbt-labs/dbt-postgres:1.9.0",
		"localhost:5000/x:1":                  "localhost:5000/x:1",
	} {
		if got := mirrorPath(ref); got != want {
			t.Errorf("mirrorPath(%q) = %q, want %q", ref, got, want)
		}
	}
}
