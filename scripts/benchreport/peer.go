package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// peerKey names the other server's row of scenario sc.
func peerKey(o options, sc string) string {
	return sc + " on " + o.peerName
}

// peerRuns says whether the other server runs scenario sc: lbheartbeat is
// syncserver's own route and token its own tokenserver (FxA JWTs checked
// against a static key set), which another Sync 1.5 server need not have.
func peerRuns(sc string) bool {
	return sc != "lbheartbeat" && sc != "token"
}

// startPeer runs -peer-cmd in dir with the BENCH_* variables and waits
// until it answers on port. cleanup, when not nil, stops it, even on error.
func startPeer(o options, dir string, port int, secret string) (s server, cleanup func(), err error) {
	s = server{url: fmt.Sprintf("http://127.0.0.1:%d", port), secret: secret, storagePath: o.peerStoragePath}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return s, nil, err
	}
	// exec: the shell becomes the command (and a script naming the
	// server execs it in turn), so that the PID stopped and read for
	// CPU and RSS is the server's, not a shell's.
	cmd := exec.Command("/bin/sh", "-c", "exec "+o.peerCmd)
	cmd.Env = append(os.Environ(),
		"BENCH_PORT="+strconv.Itoa(port), "BENCH_SECRET="+secret,
		"BENCH_URL="+s.url, "BENCH_DIR="+data)
	cmd.Dir = dir
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Should the server leave a child holding its output open, Wait
	// returns anyway once the server itself has gone.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return s, nil, fmt.Errorf("-peer-cmd: %w", err)
	}
	s.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	cleanup = func() { stop(s.pid, exited) }
	// Any answer will do: the other server need not have a health route
	// at its root.
	if err := waitUp(s.url+"/", true, exited); err != nil {
		return s, cleanup, fmt.Errorf("%w; its output:\n%s", err, out.String())
	}
	return s, cleanup, nil
}

// tailBuffer keeps the last 64 KiB written to it: a server's output, shown
// when it fails to start, without holding a whole run's access log.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailMax = 64 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
