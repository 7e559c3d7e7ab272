//go:build !linux

package tofu

import "syscall"

// sysProcAttr puts the tool in its own process group (a terminal's Ctrl-C
// reaches the caller, which interrupts the tool itself).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
