package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one component: a binary run in its own process group, with its
// output appended to a log file. A process started by this program is reaped
// here (done is closed when it exits); one recorded in a state file by an
// earlier `lab up` is watched through /proc.
type process struct {
	Name string   `json:"name"`
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Log  string   `json:"log"`
	PID  int      `json:"pid"`
	// Started is the process's start time in clock ticks since boot (field 22
	// of /proc/PID/stat): with PID, it names exactly this process, so a reused
	// pid is never signalled.
	Started uint64 `json:"started"`

	done chan struct{}
}

// start runs the process. A detached process outlives this program (lab up);
// otherwise the kernel kills it if this program dies before stopping it.
func (p *process) start(detached bool) error {
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: %s %s\n", time.Now().Format(time.RFC3339), p.Path, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group (pgid = pid), so that stop signals exactly it
	// and a Ctrl-C at the caller's terminal does not reach it. A detached
	// process gets its own session too, so closing the terminal does not
	// hang it up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.PID = cmd.Process.Pid
	p.Started, _ = procStartTime(p.PID)
	p.done = make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(p.done)
	return nil
}

// alive reports whether the process is still running.
func (p *process) alive() bool {
	if p.PID == 0 {
		return false
	}
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	st, err := procStartTime(p.PID)
	if err != nil || st != p.Started {
		return false
	}
	return !procZombie(p.PID)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// returns once the process is gone.
func (p *process) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	if p.waitGone(grace) {
		p.killStragglers()
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	if p.waitGone(10 * time.Second) {
		p.killStragglers()
		return nil
	}
	return fmt.Errorf("stop %s: pid %d still running after SIGKILL", p.Name, p.PID)
}

// killStragglers kills what is left of the process group once its leader is
// gone (none of the components fork, so normally nothing is).
func (p *process) killStragglers() {
	if err := syscall.Kill(-p.PID, 0); err == nil {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	}
}

func (p *process) waitGone(d time.Duration) bool {
	if p.done != nil {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.done:
			return true
		case <-t.C:
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return poll(ctx, 50*time.Millisecond, func() bool { return !p.alive() }) == nil
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = append([][]byte{[]byte(fmt.Sprintf("... (%d earlier lines in %s)", len(lines)-n, p.Log))}, lines[len(lines)-n:]...)
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("pid %d: malformed stat", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func procStartTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22 overall
}

func procZombie(pid int) bool {
	f, err := procStat(pid)
	return err == nil && len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// ProcessGone reports whether no process with pid exists any more (or only
// its zombie does).
func ProcessGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	return procZombie(pid)
}

// poll calls cond every interval until it returns true or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
