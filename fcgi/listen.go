package fcgi

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultSocketMode lets the owner and the socket's group (the web server's,
// via Options.SocketGroup) connect, and nobody else.
const DefaultSocketMode os.FileMode = 0o660

// Listen opens the FastCGI listening socket: "host:port" for TCP, or
// "unix:/path" for a unix socket. A unix socket gets Options.SocketMode
// (default 0660) and, when set, Options.SocketGroup, because the web server
// runs as another user (www-data) and a socket created under umask 022 would
// refuse it (nginx logs "connect() … (13: Permission denied)" and answers
// 502). A socket file left by an earlier run is removed first, but only if it
// is a socket nobody answers on; the file is removed again on Close.
//
// The mode is applied right after the socket is bound; during that instant
// the umask decides who may connect. Where that matters, put the socket in a
// directory only the server and the web server can enter.
func Listen(addr string, opts Options) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if path == "" {
		return nil, errors.New("fcgi: empty unix socket path")
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// We remove the file ourselves, and only if it is still ours.
	l.SetUnlinkOnClose(false)
	ul := &unixListener{UnixListener: l, path: path}
	if err := ul.setup(opts); err != nil {
		ul.Close()
		return nil, err
	}
	return ul, nil
}

// removeStaleSocket removes path if it is a socket that nothing listens on.
// Anything else (a regular file, a live server's socket) is left alone and
// reported, so a typo in the config cannot delete a file or steal a socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("fcgi: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("fcgi: %s is in use by another process", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// unixListener removes its socket file on Close.
type unixListener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo // the file we created, to avoid removing a successor's

	once sync.Once
	err  error
}

func (l *unixListener) setup(opts Options) error {
	mode := opts.SocketMode
	if mode == 0 {
		mode = DefaultSocketMode
	}
	if err := os.Chmod(l.path, mode); err != nil {
		return err
	}
	if opts.SocketGroup != "" {
		gid, err := lookupGroup(opts.SocketGroup)
		if err != nil {
			return err
		}
		if err := os.Chown(l.path, -1, gid); err != nil {
			return fmt.Errorf("fcgi: socket group %s: %w", opts.SocketGroup, err)
		}
	}
	fi, err := os.Lstat(l.path)
	if err != nil {
		return err
	}
	l.fi = fi
	return nil
}

// Close closes the listener and removes the socket file if it is still the
// one this listener created.
func (l *unixListener) Close() error {
	l.once.Do(func() {
		l.err = l.UnixListener.Close()
		if l.fi == nil {
			os.Remove(l.path)
			return
		}
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.fi) {
			if err := os.Remove(l.path); err != nil && l.err == nil {
				l.err = err
			}
		}
	})
	return l.err
}

// lookupGroup resolves a group name or numeric id.
func lookupGroup(name string) (int, error) {
	if gid, err := strconv.Atoi(name); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("fcgi: socket group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

// StdinIsSocket reports whether standard input is a socket, as it is when a
// web server spawns the program (Apache mod_fcgid passes the listening socket
// as fd 0) or systemd passes one with StandardInput=socket.
func StdinIsSocket() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode().Type() == fs.ModeSocket
}

// ListenerFromStdin returns the listening socket on standard input.
func ListenerFromStdin() (net.Listener, error) {
	if !StdinIsSocket() {
		return nil, errors.New("fcgi: standard input is not a socket")
	}
	return net.FileListener(os.Stdin)
}
