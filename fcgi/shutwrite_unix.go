//go:build unix

package fcgi

import (
	"net"
	"syscall"
)

// shutWriteIfQuiet shuts the write side of nc unless bytes from the web
// server are waiting in the socket's receive buffer: the web server has
// already sent its next request, which must be served, not closed on. The
// look and the shutdown are back to back, so a request can only cross the FIN
// if it arrives in between. It reports whether the write side was shut; ok
// is false when nc cannot be half-closed this way.
func shutWriteIfQuiet(nc net.Conn) (shut, ok bool) {
	sc, isSC := nc.(syscall.Conn)
	if !isSC {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == nil && n > 0 {
			return // a request is waiting
		}
		serr = syscall.Shutdown(int(fd), syscall.SHUT_WR)
		shut = serr == nil
	})
	if cerr != nil || serr != nil {
		return false, false
	}
	return shut, true
}
