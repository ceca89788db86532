package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"syncserver/internal/testdb"
)

// TestSocketActivationRefusesSeveralSockets: syncserver serves HTTP on one
// socket; a socket unit with two ListenStream= is a clear error, not a
// silent choice.
func TestSocketActivationRefusesSeveralSockets(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
	m.Getenv = func(k string) string { return map[string]string{"LISTEN_FDS": "2"}[k] }
	err := m.Run(context.Background())
	if err == nil {
		m.Close()
		t.Fatalf("Run with LISTEN_FDS=2 succeeded:\n%s", logs)
	}
	m.Close()
	if !strings.Contains(err.Error(), "LISTEN_FDS=2") {
		t.Errorf("error %q does not name LISTEN_FDS=2", err)
	}
}

// TestSocketActivationOfAnotherProcess: LISTEN_FDS inherited from a
// socket-activated parent (LISTEN_PID is not ours) is ignored.
func TestSocketActivationOfAnotherProcess(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
	m.Getenv = func(k string) string {
		return map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "1"}[k]
	}
	runMain(t, m, logs)
	if strings.Contains(logs.String(), "socket activation") {
		t.Errorf("the socket of another process was taken:\n%s", logs)
	}
	if resp, err := http.Get("http://" + m.Addr().String() + "/__lbheartbeat__"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
}

// TestSocketActivation runs the program as systemd's syncserver.socket
// does: a listening socket on descriptor 3, LISTEN_FDS=1, no LISTEN_PID.
// It serves there rather than on -http, and says so in its log.
func TestSocketActivation(t *testing.T) {
	testdb.SkipShort(t, "builds the binary")
	bin := buildBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer l.Close()

	cfg := writeConfig(t, minimalConfig)
	cmd := exec.Command(bin, "-config", cfg, "-http", "127.0.0.1:0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LISTEN_FDS=1", "LISTEN_FDNAMES=syncserver.socket"}
	cmd.ExtraFiles = []*os.File{f}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	logs := &syncBuffer{}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if strings.Contains(sc.Text(), "msg=serving") {
				serving <- sc.Text()
			}
		}
	}()
	var line string
	select {
	case line = <-serving:
	case <-time.After(20 * time.Second):
		t.Fatalf("no serving line:\n%s", logs)
	}
	if !strings.Contains(line, "addr="+l.Addr().String()) || !strings.Contains(line, "socket=syncserver.socket") {
		t.Errorf("serving line %q does not name the passed socket %s and syncserver.socket", line, l.Addr())
	}
	resp, err := http.Get("http://" + l.Addr().String() + "/__lbheartbeat__")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("heartbeat on the passed socket: %d", resp.StatusCode)
	}
}
