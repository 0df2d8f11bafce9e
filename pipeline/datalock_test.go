package pipeline

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The data lock's scripts, run here as the containers run them: a stack's
// server holds the lock and says where it is; a second stack's server is
// refused, naming it; a one-shot call's server waits for it; the probe
// tells free from held, waiting only for a server that holds its lock but
// does not answer: until it answers (starting) or its lock is free
// (stopping: the next stack must not be refused).
func TestDataLockScripts(t *testing.T) {
	run, bin := t.TempDir(), t.TempDir()
	// pg_isready is asked about the stack's PostgreSQL; a stand-in says yes
	// while the file "ready" exists.
	ready := filepath.Join(run, "ready")
	standIn := "#!/bin/sh\necho \"$*\" >> \"" + run + "/asked\"\n[ -e \"" + ready + "\" ]\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_isready"), []byte(standIn), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), RunDirEnv+"="+run, "PATH="+bin+":"+os.Getenv("PATH"), ProjectEnv+"=shop")
	hold := func(holder string, command ...string) *exec.Cmd {
		args := append([]string{"scripts/hold-data.sh", "postgres", holder, filepath.Join(run, "postmaster.pid"), "--"}, command...)
		cmd := exec.Command("sh", args...)
		cmd.Env = env
		return cmd
	}
	holders := onHost(t, Holders(mustDefault(t)))
	probe := func() map[string]Holding {
		t.Helper()
		cmd := exec.Command(holders[0], holders[1:]...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("find-holders: %v\n%s", err, out)
		}
		held, err := ParseHolders(string(out))
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if held := probe(); held[HostPostgres].Holder != "" || held[HostValkey].Holder != "" {
		t.Fatalf("nothing runs, yet: %+v", held)
	}

	if err := os.WriteFile(filepath.Join(run, "postmaster.pid"), []byte("4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := hold(HolderStack, "sleep", "60")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Kill(); _ = first.Wait() }()
	addr := filepath.Join(run, "postgres.addr")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if data, err := os.ReadFile(addr); err == nil && strings.HasSuffix(string(data), " stack\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stack's server did not say where it is")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(run, "postmaster.pid")); !os.IsNotExist(err) {
		t.Error("the stale postmaster.pid was kept once the lock was held")
	}
	held := probe()
	pg := held[HostPostgres]
	if pg.Holder != HolderStack || pg.Address == "" || pg.Address == "unknown" || held[HostValkey].Holder != "" {
		t.Errorf("while a stack holds the data: %+v", held)
	}
	if asked, _ := os.ReadFile(filepath.Join(run, "asked")); !strings.Contains(string(asked), "-h "+pg.Address+" -p 5432") {
		t.Errorf("the probe did not ask the stack's PostgreSQL whether it accepts connections: %q", asked)
	}
	// Starting: the probe waits until the server answers.
	_ = os.Remove(ready)
	began := time.Now()
	time.AfterFunc(1500*time.Millisecond, func() { _ = os.WriteFile(ready, nil, 0o644) })
	if held, took := probe(), time.Since(began); held[HostPostgres].Holder != HolderStack || took < 1500*time.Millisecond || took > 8*time.Second {
		t.Errorf("a server answering after 1.5 s: %+v after %v", held, took)
	}

	out, err := hold(HolderStack, "echo", "second server started").CombinedOutput()
	if err == nil || strings.Contains(string(out), "second server started") {
		t.Fatalf("a second stack's server started on held data:\n%s", out)
	}
	if want := "postgres: the data of project shop is in use by another running postgres (" + pg.Address + " stack)"; !strings.Contains(string(out), want) {
		t.Errorf("the refusal lacks %q:\n%s", want, out)
	}

	call := hold(HolderCall, "sh", "-c", "echo call ran > "+filepath.Join(run, "call"))
	var callOut strings.Builder
	call.Stdout, call.Stderr = &callOut, &callOut
	if err := call.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	if _, err := os.Stat(filepath.Join(run, "call")); err == nil {
		t.Fatal("a call's server ran beside the stack's")
	}
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	if err := call.Wait(); err != nil {
		t.Fatalf("the call's server, once the stack's ended: %v\n%s", err, callOut.String())
	}
	if !strings.Contains(callOut.String(), "waiting for another call that uses the data of project shop") {
		t.Errorf("the call did not say it waited:\n%s", callOut.String())
	}
	if _, err := os.Stat(filepath.Join(run, "call")); err != nil {
		t.Error("the call's server did not run once the data was free")
	}
	if held := probe(); held[HostPostgres].Holder != "" {
		t.Errorf("after every server ended: %+v", held)
	}

	// Stopping: a stack's server that no longer answers and lets its lock
	// go a moment later leaves the data free.
	stopping := hold(HolderStack, "sleep", "60")
	if err := stopping.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stopping.Process.Kill(); _ = stopping.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if held := probe(); held[HostPostgres].Holder == HolderStack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third server did not hold the data")
		}
	}
	_ = os.Remove(ready)
	began = time.Now()
	time.AfterFunc(1500*time.Millisecond, func() { _ = stopping.Process.Kill() })
	if held, took := probe(), time.Since(began); held[HostPostgres].Holder != "" || took > 8*time.Second {
		t.Errorf("a stack's server that stopped 1.5 s into the probe: %+v after %v", held, took)
	}

	// Valkey is asked with a PING: one still loading its data is waited for.
	port := freePort(t)
	kv := exec.Command("sh", "scripts/hold-data.sh", HostValkey, HolderStack, "--", "sleep", "60")
	kv.Env = env
	if err := kv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = kv.Process.Kill(); _ = kv.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if data, err := os.ReadFile(filepath.Join(run, "valkey.addr")); err == nil && strings.HasSuffix(string(data), " stack\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Valkey server did not say where it is")
		}
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	loadedAt := time.Now().Add(1500 * time.Millisecond)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			reply := "-LOADING Valkey is loading the dataset in memory\r\n"
			if time.Now().After(loadedAt) {
				reply = "-NOAUTH Authentication required.\r\n"
			}
			_, _ = bufio.NewReader(conn).ReadString('\n')
			_, _ = conn.Write([]byte(reply))
			_ = conn.Close()
		}
	}()
	began = time.Now()
	cmd := exec.Command("sh", "scripts/find-holders.sh", fmt.Sprintf("%s:%d", HostValkey, port))
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	if took := time.Since(began); err != nil || !strings.HasPrefix(string(out), "valkey stack ") || took < 1500*time.Millisecond || took > 8*time.Second {
		t.Errorf("a Valkey loading for 1.5 s: %v %q after %v", err, out, took)
	}
	cmd = exec.Command("sh", "scripts/find-holders.sh", HostValkey)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "usage: find-holders.sh NAME:PORT") {
		t.Errorf("a name without its port: %v %q", err, out)
	}
}

func TestParseHolders(t *testing.T) {
	held, err := ParseHolders("postgres stack 10.87.0.12\nvalkey free\n")
	if err != nil || held[HostPostgres] != (Holding{HolderStack, "10.87.0.12"}) || held[HostValkey] != (Holding{}) {
		t.Errorf("ParseHolders: %+v %v", held, err)
	}
	for _, bad := range []string{"postgres free\n", "postgres stack\nvalkey free", "postgres maybe 1.2.3.4\nvalkey free"} {
		if _, err := ParseHolders(bad); err == nil || !strings.Contains(err.Error(), "find-holders") {
			t.Errorf("ParseHolders(%q): %v", bad, err)
		}
	}
}

// What a call does beside the servers that hold the project's data: a
// call that uses the stack takes its PostgreSQL; one that starts servers
// refuses only on the data they would hold, naming the running server;
// wipe refuses on any holder; a call that touches no data never refuses.
func TestBesideDecides(t *testing.T) {
	stackPG := Holding{HolderStack, "10.87.0.9"}
	stackKV := Holding{HolderStack, "10.87.0.8"}
	callPG := Holding{HolderCall, "10.87.0.7"}
	both := []string{HostPostgres, HostValkey}
	for _, tc := range []struct {
		name     string
		b        Beside
		held     map[string]Holding
		own      []string
		database string
		refusal  string // a part of the error, "" for none
	}{
		{"dbt beside the stack", UseStack, map[string]Holding{HostPostgres: stackPG, HostValkey: stackKV}, []string{HostPostgres}, "10.87.0.9", ""},
		{"dbt with nothing running", UseStack, map[string]Holding{}, []string{HostPostgres}, "", ""},
		{"dbt beside another call", UseStack, map[string]Holding{HostPostgres: callPG}, []string{HostPostgres}, "", ""},
		{"up beside the stack", RefuseStack, map[string]Holding{HostPostgres: stackPG, HostValkey: stackKV}, both, "", "in use by its running stack (postgres at "},
		{"up beside a running valkey", RefuseStack, map[string]Holding{HostValkey: stackKV}, both, "", "in use by its running stack (valkey at "},
		{"postgres beside a running valkey", RefuseStack, map[string]Holding{HostValkey: stackKV}, []string{HostPostgres}, "", ""},
		{"up beside a call's own server", RefuseStack, map[string]Holding{HostPostgres: callPG}, both, "", ""},
		{"wipe beside a running valkey", RefuseAny, map[string]Holding{HostValkey: stackKV}, nil, "", "in use by its running stack (valkey at "},
		{"wipe beside a call", RefuseAny, map[string]Holding{HostPostgres: callPG}, nil, "", "in use by another call (its own postgres at "},
		{"config beside the stack", DataUnused, map[string]Holding{HostPostgres: stackPG, HostValkey: stackKV}, nil, "", ""},
	} {
		database, err := tc.b.Decide("shop", tc.held, tc.own)
		switch {
		case tc.refusal == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
			t.Errorf("%s: %v, want a refusal with %q", tc.name, err, tc.refusal)
		case database != tc.database:
			t.Errorf("%s: uses the database %q, want %q", tc.name, database, tc.database)
		}
	}
}
