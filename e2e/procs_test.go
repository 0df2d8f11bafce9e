//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dagger/data-platform/internal/harness"
	"dagger/data-platform/pipeline"
)

// The fault tests act on the stack's processes the way an operator (or the
// kernel's OOM killer) would: from the engine's host, through /proc. Every
// container process of the engine is visible there; each service runs under
// its supervisor, whose command line names the service, and every container
// carries its project in DATAPLATFORM_PROJECT. Reading another user's
// environment and signalling the engine's processes take root: as root they
// are done directly, otherwise through sudo without a password (a GitHub
// runner's user has it), and with neither the fault tests skip, saying so.

type proc struct {
	pid, ppid int
	argv      []string
	project   string // its DATAPLATFORM_PROJECT
}

// viaSudo: the privileged steps go through `sudo -n` (not root, or
// E2E_VIA_SUDO=1 to test that path as root).
func viaSudo() bool { return os.Geteuid() != 0 || os.Getenv("E2E_VIA_SUDO") == "1" }

// privileged says why the privileged steps cannot be done here, "" when
// they can.
func privileged() string {
	if !viaSudo() {
		return ""
	}
	if out, err := exec.Command("sudo", "-n", "true").CombinedOutput(); err != nil {
		return fmt.Sprintf("they signal the engine's processes from this host, which takes root or sudo without a password: %v %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

// needPrivilege skips a test that acts on the engine's processes, saying
// why, where this machine cannot; with E2E_REQUIRE_PRIVILEGE=1 (the GitHub
// workflow, whose runner has sudo) it fails instead, so that a green run
// has run the fault tests.
func needPrivilege(t *testing.T) {
	t.Helper()
	if why := privileged(); why != "" {
		if os.Getenv("E2E_REQUIRE_PRIVILEGE") == "1" {
			fatal(t, "E2E_REQUIRE_PRIVILEGE=1, and the fault tests cannot run: "+why)
		}
		t.Skip("the fault tests: " + why)
	}
}

// processes lists the host's processes (those that vanish while being read
// are left out), each with its project.
func processes() []proc {
	entries, _ := os.ReadDir("/proc")
	projects := projectsBySudo()
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		stat, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err1 != nil || err2 != nil || len(cmdline) == 0 {
			continue
		}
		// stat: "pid (comm) state ppid ..."; comm may contain spaces.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		p := proc{pid: pid, ppid: ppid, argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
		if projects != nil {
			p.project = projects[pid]
		} else {
			p.project = environValue(pid, pipeline.ProjectEnv)
		}
		out = append(out, p)
	}
	return out
}

// environValue reads one variable of a process's environment (as root).
func environValue(pid int, name string) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// projectsBySudo reads every process's project in one sudo call; nil as
// root (processes reads them directly).
func projectsBySudo() map[int]string {
	if !viaSudo() {
		return nil
	}
	// -z: NUL-separated records "/proc/PID/environ:NAME=VALUE"; -s: no
	// word of processes that end meanwhile. Exit 1 is "none found".
	out, _ := exec.Command("sudo", "-n", "sh", "-c",
		`grep -zsH "^`+pipeline.ProjectEnv+`=" /proc/[0-9]*/environ`).Output()
	projects := map[int]string{}
	for _, rec := range strings.Split(string(out), "\x00") {
		file, kv, ok := strings.Cut(rec, ":")
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(file, "/proc/"), "/environ"))
		if ok && err == nil {
			projects[pid] = strings.TrimPrefix(kv, pipeline.ProjectEnv+"=")
		}
	}
	return projects
}

// signal sends sig to each pid, as root or through sudo, and says how many
// it reached.
func signal(sig syscall.Signal, pids ...int) int {
	if len(pids) == 0 {
		return 0
	}
	if !viaSudo() {
		n := 0
		for _, pid := range pids {
			if syscall.Kill(pid, sig) == nil {
				n++
			}
		}
		return n
	}
	n := 0
	for _, pid := range pids {
		// One process a call: kill(1) stops at no failure, but its exit
		// status would not say which one it missed.
		if exec.Command("sudo", "-n", "kill", "-s", strconv.Itoa(int(sig)), strconv.Itoa(pid)).Run() == nil {
			n++
		}
	}
	return n
}

func (p proc) cmdline() string { return strings.Join(p.argv, " ") }

// supervisor finds the one supervisor of service in project.
func supervisor(service, project string) (proc, error) {
	var found []proc
	for _, p := range processes() {
		if pipeline.IsSupervisor(p.argv, service) && p.project == project {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return proc{}, fmt.Errorf("%d supervisors of %s in project %s visible from this host, want 1", len(found), service, project)
	}
	return found[0], nil
}

// supervisorOf walks up from pid to the supervisor of the service the
// process belongs to, and returns it with the service's name.
func supervisorOf(ps []proc, pid int) (proc, string, error) {
	byPID := map[int]proc{}
	for _, p := range ps {
		byPID[p.pid] = p
	}
	for p, ok := byPID[pid]; ok; p, ok = byPID[p.ppid] {
		if len(p.argv) > 3 && pipeline.IsSupervisor(p.argv, p.argv[2]) {
			return p, p.argv[2], nil
		}
	}
	return proc{}, "", fmt.Errorf("process %d runs under no service supervisor", pid)
}

// children lists the direct children of pid.
func children(ps []proc, pid int) []proc {
	var out []proc
	for _, p := range ps {
		if p.ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// killDescendants sends SIGKILL to every process below root (root itself
// lives on) and returns how many it signalled.
func killDescendants(root int) int {
	ps := processes()
	below := map[int]bool{root: true}
	for grew := true; grew; {
		grew = false
		for _, p := range ps {
			if below[p.ppid] && !below[p.pid] {
				below[p.pid], grew = true, true
			}
		}
	}
	var pids []int
	for pid := range below {
		if pid != root {
			pids = append(pids, pid)
		}
	}
	return signal(syscall.SIGKILL, pids...)
}

// projectProcesses are the processes of a project's containers (by the
// DATAPLATFORM_PROJECT each carries) whose command line holds word.
func projectProcesses(project, word string) []proc {
	var out []proc
	for _, p := range processes() {
		if strings.Contains(p.cmdline(), word) && p.project == project {
			out = append(out, p)
		}
	}
	return out
}

// The privileged steps, as the fault tests take them without root (forced
// through sudo when run as root): a process of root's, as the engine's
// are, found by the project in its environment, and killed.
func TestProcessControlWithoutRoot(t *testing.T) {
	recapOnFailure(t)
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			t.Skip("root without sudo: the path through sudo cannot be taken here, and root needs none")
		}
		t.Setenv("E2E_VIA_SUDO", "1")
	}
	needPrivilege(t)
	cmd := exec.Command("sudo", "-n", "env", pipeline.ProjectEnv+"=e2e-procs", "sleep", "300")
	if err := cmd.Start(); err != nil {
		fatal(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var found []proc
	waitFor(t, "root's process of project e2e-procs", 30*time.Second, 50*time.Millisecond, func() error {
		if found = projectProcesses("e2e-procs", "sleep 300"); len(found) != 1 {
			return fmt.Errorf("found %+v", found)
		}
		return nil
	})
	if status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", found[0].pid)); !regexp.MustCompile(`(?m)^Uid:\s+0\s`).Match(status) {
		errorf(t, "the process is not root's:\n%s", status)
	}
	if n := signal(syscall.SIGKILL, found[0].pid); n != 1 {
		errorf(t, "SIGKILL reached %d processes, want 1", n)
	}
	select {
	case <-done: // sudo ends with the process it ran
	case <-time.After(10 * time.Second):
		_ = signal(syscall.SIGKILL, found[0].pid)
		fatal(t, "the process outlived its SIGKILL")
	}
}

// hostPorts are the TCP ports the call r listens on, on this host (the
// ports `dagger call ... up` forwards), sorted: the listening sockets of
// its process group, read from /proc.
func hostPorts(t *testing.T, r *harness.Running) []int {
	t.Helper()
	pgid := r.Pid()
	sockets := map[string]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid pgrp ..."
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(link, "socket:[") {
				sockets[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
			}
		}
	}
	var ports []int
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !sockets[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if port, err := strconv.ParseInt(hexPort, 16, 32); err == nil && !slices.Contains(ports, int(port)) {
				ports = append(ports, int(port))
			}
		}
	}
	slices.Sort(ports)
	return ports
}

// airflowInstalled lists the apache-airflow versions installed in the
// container that process pid runs in, read through /proc/PID/root (where
// the Airflow images install their packages: the airflow user's
// ~/.local, a virtual environment in the stand-ins).
func airflowInstalled(pid int) ([]string, error) {
	pattern := fmt.Sprintf("/proc/%d/root/home/airflow/.local/lib/python3*/site-packages/apache_airflow-*.dist-info", pid)
	var found []string
	if viaSudo() {
		out, err := exec.Command("sudo", "-n", "sh", "-c", `for f in `+pattern+`; do [ -e "$f" ] && echo "$f"; done; true`).Output()
		if err != nil {
			return nil, err
		}
		found = strings.Fields(string(out))
	} else {
		var err error
		if found, err = filepath.Glob(pattern); err != nil {
			return nil, err
		}
	}
	var versions []string
	for _, f := range found {
		versions = append(versions, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "apache_airflow-"), ".dist-info"))
	}
	return versions, nil
}
