// Package procgroup stops a command started in its own process group (a
// `dagger call ... up up` of the e2e tests or the benchmark) the way Ctrl-C
// does, with a kill after a grace period.
package procgroup

import (
	"os/exec"
	"syscall"
	"time"
)

// Interrupt sends SIGINT to cmd's process group and waits until done is
// closed; after grace, it sends SIGKILL and waits again.
func Interrupt(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}
