//go:build unix

package httpd

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/handlers"
)

// passed returns a descriptor for the socket of l, as systemd would pass it:
// a bare duplicate that ListenerFromEnv may take over and close.
func passed(t *testing.T, l net.Listener) int {
	t.Helper()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return dup(t, f)
}

// dup returns a bare duplicate of f's descriptor.
func dup(t *testing.T, f *os.File) int {
	t.Helper()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestListenerFromEnvNotPassed(t *testing.T) {
	pid := os.Getpid()
	for _, vars := range []map[string]string{
		{},
		{"LISTEN_FDS": "0"},
		// Inherited from a parent that was socket-activated.
		{"LISTEN_FDS": "1", "LISTEN_PID": "1"},
	} {
		// The descriptor is never looked at: -1 would fail if it were.
		a, err := listenerFromEnv(env(vars), pid, -1)
		if a != nil || err != nil {
			t.Errorf("%v: got %v, %v; want no socket and no error", vars, a, err)
		}
	}
}

func TestListenerFromEnvBad(t *testing.T) {
	pid := os.Getpid()
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"LISTEN_FDS": "two"}, `LISTEN_FDS="two"`},
		{map[string]string{"LISTEN_FDS": "-1"}, `LISTEN_FDS="-1"`},
		{map[string]string{"LISTEN_FDS": "2"}, "one ListenStream="},
		{map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "me"}, `LISTEN_PID="me"`},
	} {
		a, err := listenerFromEnv(env(c.vars), pid, -1)
		if a != nil || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, %v; want an error saying %s", c.vars, a, err, c.want)
		}
	}

	// A descriptor that is not a socket.
	f, err := os.CreateTemp(t.TempDir(), "notasocket")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := listenerFromEnv(env(map[string]string{"LISTEN_FDS": "1"}), pid, dup(t, f))
	if a != nil || err == nil || !strings.Contains(err.Error(), "not a listening stream socket") {
		t.Errorf("a file as the socket: got %v, %v", a, err)
	}
}

// TestActivatedRestart holds a listening socket as systemd does and serves
// it with one server after another: the request in flight when the first
// stops is answered (the drain), and a connection made while no server
// runs waits in the socket's queue and is answered by the next one.
func TestActivatedRestart(t *testing.T) {
	held := listen(t)
	defer held.Close()
	addr := held.Addr().String()
	pid := os.Getpid()

	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		if r.RequestURI == "/slow" {
			entered <- struct{}{}
			<-release
		}
		return &handlers.Response{Status: 200, Body: []byte("served " + r.RequestURI)}
	})

	get := func(path string) (string, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	// First process: LISTEN_PID is ours, the name comes from systemd.
	a1, err := listenerFromEnv(env(map[string]string{
		"LISTEN_FDS": "1", "LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDNAMES": "syncserver.socket",
	}), pid, passed(t, held))
	if err != nil || a1 == nil {
		t.Fatalf("first activation: %v, %v", a1, err)
	}
	if a1.Name != "syncserver.socket" || a1.Listener.Addr().String() != addr {
		t.Errorf("first activation: name %q, addr %s; want syncserver.socket, %s", a1.Name, a1.Listener.Addr(), addr)
	}
	s1, _ := start(t, h, Options{}, a1.Listener)
	if body, err := get("/one"); err != nil || body != "served /one" {
		t.Fatalf("first server: %q, %v", body, err)
	}

	slow := make(chan error, 1)
	go func() {
		body, err := get("/slow")
		if err == nil && body != "served /slow" {
			err = io.ErrUnexpectedEOF
		}
		slow <- err
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- s1.Shutdown(context.Background()) }()
	// Shutdown has closed the first server's descriptor once Serve is no
	// longer accepting; a connection now waits in the held socket's queue.
	time.Sleep(100 * time.Millisecond)
	queued := make(chan error, 1)
	go func() {
		body, err := get("/queued")
		if err == nil && body != "served /queued" {
			err = io.ErrUnexpectedEOF
		}
		queued <- err
	}()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("the request in flight at the stop: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}

	// Second process: no LISTEN_PID (a supervisor that forks after opening
	// the socket cannot know it).
	a2, err := listenerFromEnv(env(map[string]string{"LISTEN_FDS": "1"}), pid, passed(t, held))
	if err != nil || a2 == nil {
		t.Fatalf("second activation: %v, %v", a2, err)
	}
	if a2.Name != "" {
		t.Errorf("second activation: name %q, want none", a2.Name)
	}
	start(t, h, Options{}, a2.Listener)
	if err := <-queued; err != nil {
		t.Errorf("the connection made during the restart: %v", err)
	}
}
