//go:build !linux

package plan

import "syscall"

// sysProcAttr puts the tool in its own process group (a terminal's Ctrl-C
// reaches the planner, which interrupts the tool itself).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
