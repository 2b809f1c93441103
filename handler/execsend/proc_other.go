//go:build !unix

package execsend

import "os/exec"

// ownGroup: process groups are a Unix notion; elsewhere cancellation kills
// the command alone.
func ownGroup(*exec.Cmd) {}

func killGroup(int) {}
