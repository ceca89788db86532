//go:build unix

package fcgi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

func skipWithoutUnixSockets(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix sockets with file modes")
	}
}

// socketPath returns a short path: unix socket paths are limited to ~100 bytes.
func socketPath(t *testing.T) string {
	dir, err := os.MkdirTemp("", "fcgi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

func TestListenUnix(t *testing.T) {
	skipWithoutUnixSockets(t)
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		group string
		want  os.FileMode
	}{
		{"default mode", 0, "", DefaultSocketMode},
		{"configured mode", 0o600, "", 0o600},
		{"wider mode and own group", 0o666, strconv.Itoa(os.Getgid()), 0o666},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := socketPath(t)
			opts := Options{SocketMode: tc.mode, SocketGroup: tc.group, Logger: quiet()}
			l, err := Listen("unix:"+path, opts)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != tc.want {
				t.Errorf("socket mode %v, want socket %v", fi.Mode(), tc.want)
			}
			if tc.group != "" {
				if gid := fi.Sys().(*syscall.Stat_t).Gid; strconv.Itoa(int(gid)) != tc.group {
					t.Errorf("socket gid %d, want %s", gid, tc.group)
				}
			}

			s := NewServer(echo, opts)
			go s.Serve(l)
			status, _, _, err := fcgiclient.Do("unix", path, params("HTTP_HOST", "h", "REQUEST_URI", "/"), nil)
			if err != nil || status != 200 {
				t.Fatalf("request over the socket: %d %v", status, err)
			}
			if err := s.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket file left after Close: %v", err)
			}
		})
	}
}

func TestListenUnixUnknownGroup(t *testing.T) {
	skipWithoutUnixSockets(t)
	path := socketPath(t)
	if _, err := Listen("unix:"+path, Options{SocketGroup: "no-such-group-xyz"}); err == nil {
		t.Fatal("unknown group accepted")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file left after a failed Listen: %v", err)
	}
}

func TestListenUnixExistingFile(t *testing.T) {
	skipWithoutUnixSockets(t)

	t.Run("stale socket is replaced", func(t *testing.T) {
		path := socketPath(t)
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		old.Close() // a crashed run leaves the file behind
		l, err := Listen("unix:"+path, Options{})
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		l.Close()
	})
	t.Run("live socket is kept", func(t *testing.T) {
		path := socketPath(t)
		live, err := Listen("unix:"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		if l, err := Listen("unix:"+path, Options{}); err == nil {
			l.Close()
			t.Fatal("a live server's socket was taken over")
		}
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("live socket removed: %v", err)
		}
	})
	t.Run("regular file is kept", func(t *testing.T) {
		path := socketPath(t)
		if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if l, err := Listen("unix:"+path, Options{}); err == nil {
			l.Close()
			t.Fatal("a regular file was replaced")
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
			t.Errorf("regular file damaged: %q %v", b, err)
		}
	})
	t.Run("successor's socket is not removed", func(t *testing.T) {
		path := socketPath(t)
		first, err := Listen("unix:"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(path) // an operator or a new instance takes the path
		second, err := Listen("unix:"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		first.Close()
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("closing the old listener removed the new socket: %v", err)
		}
	})
}

// TestStdinListener runs this test binary as mod_fcgid would run the server:
// with the listening socket on standard input.
func TestStdinListener(t *testing.T) {
	skipWithoutUnixSockets(t)
	path := socketPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FCGI_STDIN_HELPER=serve")
	cmd.Stdin = f
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	status, _, body, err := fcgiclient.Do("unix", path, params("HTTP_HOST", "h", "REQUEST_URI", "/stdin"), nil)
	if err != nil || status != 200 || string(body) != "served from stdin" {
		t.Errorf("got %d %q %v", status, body, err)
	}
	waitHelper(t, cmd, out)

	// Without a socket on stdin the server must notice.
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FCGI_STDIN_HELPER=check")
	out = new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitHelper(t, cmd, out)
}

func waitHelper(t *testing.T, cmd *exec.Cmd, out *strings.Builder) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("helper: %v\n%s", err, out)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("helper did not exit\n%s", out)
	}
}

// TestMain runs the child process of TestStdinListener when
// FCGI_STDIN_HELPER names its mode, and the tests otherwise. The child is
// not a test of its own, so that no test skips when run alone.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FCGI_STDIN_HELPER"); mode != "" {
		if err := stdinHelper(mode); err != nil {
			fmt.Fprintln(os.Stderr, "stdin helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// stdinHelper is the child process of TestStdinListener: in mode "check"
// stdin is not a socket and the listener must say so; in mode "serve" it
// serves one request on the socket it was handed as stdin.
func stdinHelper(mode string) error {
	if mode == "check" {
		if StdinIsSocket() {
			return errors.New("StdinIsSocket with stdin not a socket")
		}
		if _, err := ListenerFromStdin(); err == nil {
			return errors.New("ListenerFromStdin without a socket")
		}
		return nil
	}
	if !StdinIsSocket() {
		return errors.New("StdinIsSocket = false")
	}
	l, err := ListenerFromStdin()
	if err != nil {
		return err
	}
	served := make(chan struct{})
	s := NewServer(handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		defer close(served)
		return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("served from stdin")}
	}), Options{Logger: quiet()})
	errCh := make(chan error, 1)
	go func() { errCh <- s.Serve(l) }()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		return errors.New("no request")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-errCh; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
