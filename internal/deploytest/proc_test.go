package deploytest

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/internal/testdb"
)

// logBuffer collects a process's output; safe for concurrent use.
type logBuffer = testdb.LogBuffer

// proc is a process a test started, in its own process group so that
// everything it starts (Apache's children, mod_fcgid's syncservers) can be
// stopped with it.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{}
	err  error // from Wait, valid once done is closed
}

// startProc starts cmd with its output going to out.
func startProc(tb testing.TB, name string, cmd *exec.Cmd, out *logBuffer) *proc {
	tb.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// If the test binary dies (Ctrl-C), take the server down with it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Stdout, cmd.Stderr = out, out
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit status once it has exited, -1 if a
// signal ended it.
func (p *proc) exitCode() int {
	<-p.done
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// signal sends sig to the process itself (not its group).
func (p *proc) signal(sig os.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends sig and waits up to timeout for the process to exit; then it
// kills whatever is left of its process group. It reports whether the
// process exited by itself in time.
func (p *proc) stop(sig os.Signal, timeout time.Duration) bool {
	p.signal(sig)
	inTime := true
	select {
	case <-p.done:
	case <-time.After(timeout):
		inTime = false
	}
	p.killGroup()
	<-p.done
	return inTime
}

// killGroup kills every process left in the group (the leader's id is the
// group's id).
func (p *proc) killGroup() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// waitDial waits until network/addr accepts connections, failing early if
// the process exits.
func (p *proc) waitDial(tb testing.TB, network, addr string, logs func() string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() {
			tb.Fatalf("%s exited (%v) before listening on %s:\n%s", p.name, p.err, addr, logs())
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not listen on %s: %v\n%s", p.name, addr, err, logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the process's output contains s.
func (p *proc) waitLog(tb testing.TB, s string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), s) {
		if p.exited() {
			tb.Fatalf("%s exited (%v) before logging %q:\n%s", p.name, p.err, s, p.out)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not log %q:\n%s", p.name, s, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shortTempDir is a temporary directory with a short path, for unix
// sockets (at most 107 bytes), removed when the test ends.
func shortTempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "ss")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
