package tofu

import "syscall"

// sysProcAttr puts the tool in its own process group (a terminal's Ctrl-C
// reaches the caller, which interrupts the tool itself) and kills it if
// the caller dies, as terraform-exec does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
