//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"dagger/data-platform/pipeline"
)

// The fault tests act on the stack's processes the way an operator (or the
// kernel's OOM killer) would: from the engine's host, through /proc. Every
// container process of the engine is visible there; each service runs under
// its supervisor, whose command line names the service, and every container
// carries its project in DATAPLATFORM_PROJECT.

type proc struct {
	pid, ppid int
	argv      []string
}

// processes lists the host's processes (those that vanish while being read
// are left out).
func processes() []proc {
	entries, _ := os.ReadDir("/proc")
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
		out = append(out, proc{pid: pid, ppid: ppid, argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")})
	}
	return out
}

func (p proc) cmdline() string { return strings.Join(p.argv, " ") }

// env reads one variable of the process's environment.
func (p proc) env(name string) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid))
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// supervisor finds the one supervisor of service in project.
func supervisor(service, project string) (proc, error) {
	var found []proc
	for _, p := range processes() {
		if pipeline.IsSupervisor(p.argv, service) && p.env(pipeline.ProjectEnv) == project {
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
	n := 0
	for pid := range below {
		if pid != root && syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// projectProcesses are the processes of a project's containers (by the
// DATAPLATFORM_PROJECT each carries) whose command line holds word.
func projectProcesses(project, word string) []proc {
	var out []proc
	for _, p := range processes() {
		if strings.Contains(p.cmdline(), word) && p.env(pipeline.ProjectEnv) == project {
			out = append(out, p)
		}
	}
	return out
}
