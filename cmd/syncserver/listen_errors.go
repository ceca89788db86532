package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// listenError explains why the server could not listen, naming the
// setting that chose the address: a bare "bind: address already in use"
// leaves a newcomer guessing which of -http, -fcgi or [server:main] port
// to change.
func (m *Main) listenError(err error, addr string) error {
	setting, change := "[server:main] host and port", "[server:main] port"
	switch {
	case m.FCGIAddr != "":
		setting, change = "-fcgi "+m.FCGIAddr, "-fcgi"
	case m.HTTPAddr != "":
		setting, change = "-http "+m.HTTPAddr, "-http"
	case m.Config != nil && m.Config.File != "":
		setting += " of " + m.Config.File
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return socketError(err, setting, path)
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s: %s is already in use by another program (a syncserver already running?): "+
			"stop it, or choose another port with %s", setting, addr, change)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%s: %s: ports below 1024 need root or CAP_NET_BIND_SERVICE; "+
			"choose a port above 1023 and put a web server in front: %w", setting, addr, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s: %s is not an address of this machine: %w", setting, addr, err)
	}
	return fmt.Errorf("%s: %w", setting, err)
}

// socketError explains why the FastCGI socket could not be made: most
// often its directory is missing (/run is emptied at every boot) or
// belongs to another user.
func socketError(err error, setting, path string) error {
	dir := filepath.Dir(path)
	me := currentUser()
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s: the socket's directory %s does not exist: create it for the server's user "+
			"(mkdir -p %s && chown %s %s), or under systemd let it make one (RuntimeDirectory=syncserver)",
			setting, dir, dir, me, dir)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s: %s cannot create the socket in %s: give the directory to the server's user "+
			"(chown %s %s): %w", setting, me, dir, me, dir, err)
	}
	return fmt.Errorf("%s: %w", setting, err)
}

// currentUser is the name of the user this process runs as, for advice.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Geteuid())
}
