//go:build !unix

package fcgi

import "net"

// shutWriteIfQuiet: without a way to look at the receive buffer, shut the
// write side with CloseWrite when the connection has one.
func shutWriteIfQuiet(nc net.Conn) (shut, ok bool) {
	cw, isCW := nc.(closeWriter)
	if !isCW || cw.CloseWrite() != nil {
		return false, false
	}
	return true, true
}
