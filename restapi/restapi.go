// Package restapi sends JSON requests to the Airflow REST API; the e2e tests
// and the benchmark share it.
package restapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

var client = &http.Client{Timeout: 30 * time.Second}

// Do sends body (if any) as JSON with a bearer token (if any) and decodes
// the answer into out (if any). A status of 300 or more is an error that
// carries the answer.
func Do(method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Token logs in at base (e.g. http://localhost:8080) and returns an access
// token for the REST API.
func Token(base, user, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := Do("POST", base+"/auth/token", "", map[string]string{"username": user, "password": password}, &tok); err != nil {
		return "", err
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("POST %s/auth/token: no access_token in the answer", base)
	}
	return tok.AccessToken, nil
}

// DagRun is the part of a DAG run the callers read.
type DagRun struct {
	DagRunID  string    `json:"dag_run_id"`
	State     string    `json:"state"`
	StartDate time.Time `json:"start_date"`
	EndDate   time.Time `json:"end_date"`
}

// RunDAG unpauses a DAG (waiting until it is registered), triggers a run
// with the given body (nil: {"logical_date": null}) and polls every second
// until the run succeeds or fails; it returns the run either way, with an
// error when it did not succeed in time.
func RunDAG(base, token, dag string, body map[string]any, timeout time.Duration) (DagRun, error) {
	path := base + "/api/v2/dags/" + dag
	deadline := time.Now().Add(timeout)
	for {
		err := Do("PATCH", path, token, map[string]any{"is_paused": false}, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return DagRun{}, fmt.Errorf("DAG %s never registered: %w", dag, err)
		}
		time.Sleep(time.Second)
	}
	if body == nil {
		body = map[string]any{"logical_date": nil}
	}
	var run DagRun
	if err := Do("POST", path+"/dagRuns", token, body, &run); err != nil {
		return run, err
	}
	for run.State != "success" && run.State != "failed" {
		if time.Now().After(deadline) {
			return run, fmt.Errorf("DAG %s run %s still %s after %s", dag, run.DagRunID, run.State, timeout)
		}
		time.Sleep(time.Second)
		if err := Do("GET", path+"/dagRuns/"+run.DagRunID, token, nil, &run); err != nil {
			return run, err
		}
	}
	if run.State != "success" {
		return run, fmt.Errorf("DAG %s run %s ended %s", dag, run.DagRunID, run.State)
	}
	return run, nil
}
