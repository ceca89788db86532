package httpd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// listenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// Activation is a listening socket passed by systemd (socket activation) or
// by any supervisor that follows its protocol: LISTEN_FDS=1 and the socket
// on descriptor 3.
type Activation struct {
	Listener net.Listener
	// Name is the socket's LISTEN_FDNAMES entry (systemd sets the socket
	// unit's name, "syncserver.socket"), or "" when none was given.
	Name string
}

// ListenerFromEnv returns the listening socket passed by systemd, or nil
// when the environment passes none to this process: LISTEN_FDS unset, or
// LISTEN_PID naming another process (the variables were inherited from a
// parent). LISTEN_PID may be absent: a supervisor that opens the socket
// before forking, as a test does with exec.Cmd.ExtraFiles, cannot know the
// child's pid.
//
// The socket outlives the process: systemd (or the supervisor) keeps it
// open, so while the server restarts new connections wait in its queue
// instead of being refused. Closing the returned listener closes only this
// process's descriptor.
func ListenerFromEnv(getenv func(string) string) (*Activation, error) {
	return listenerFromEnv(getenv, os.Getpid(), listenFDsStart)
}

// listenerFromEnv is ListenerFromEnv with the pid and the descriptor as
// parameters, so that a test can pass a socket on a descriptor of its own.
func listenerFromEnv(getenv func(string) string, pid, fd int) (*Activation, error) {
	fds := getenv("LISTEN_FDS")
	if fds == "" {
		return nil, nil
	}
	if p := getenv("LISTEN_PID"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("socket activation: LISTEN_PID=%q is not a process id", p)
		}
		if n != pid {
			return nil, nil
		}
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a number of sockets", fds)
	}
	if n == 0 {
		return nil, nil
	}
	if n != 1 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%d, but syncserver serves HTTP on one socket: "+
			"give its socket unit one ListenStream=", n)
	}
	name, _, _ := strings.Cut(getenv("LISTEN_FDNAMES"), ":")
	label := name
	if label == "" {
		label = "LISTEN_FDS"
	}
	f := os.NewFile(uintptr(fd), label)
	if f == nil {
		return nil, fmt.Errorf("socket activation: descriptor %d is not open", fd)
	}
	// FileListener duplicates the descriptor; ours is closed either way.
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("socket activation: descriptor %d (%s) is not a listening stream socket: %w", fd, label, err)
	}
	return &Activation{Listener: l, Name: name}, nil
}
