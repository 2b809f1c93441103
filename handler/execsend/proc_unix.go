//go:build unix

package execsend

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the command as the leader of a new process group and
// makes cancellation kill the whole group: a shell script's children die
// with it instead of living on past the timeout.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// killGroup kills what is left of the group led by pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
