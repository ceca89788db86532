package fcgi

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// FastCGI record types this file needs to recognise (FastCGI 1.0 §8).
const (
	typeBeginRequest = 1
	typeAbortRequest = 2
	typeEndRequest   = 3
	typeStdin        = 5

	recordHeaderLen = 8
)

// recordScanner follows record boundaries in one direction of a FastCGI byte
// stream, however the bytes are chunked by reads and writes, and reports each
// record header it completes.
type recordScanner struct {
	hdr  [recordHeaderLen]byte
	n    int // header bytes collected so far
	skip int // content and padding bytes of the current record still to pass
}

// scan consumes p and calls fn for every complete record header in it.
func (s *recordScanner) scan(p []byte, fn func(typ uint8, id uint16, contentLen int)) {
	for len(p) > 0 {
		if s.skip > 0 {
			k := min(s.skip, len(p))
			s.skip -= k
			p = p[k:]
			continue
		}
		k := copy(s.hdr[s.n:], p)
		s.n += k
		p = p[k:]
		if s.n == recordHeaderLen {
			s.n = 0
			contentLen := int(binary.BigEndian.Uint16(s.hdr[4:6]))
			s.skip = contentLen + int(s.hdr[6])
			fn(s.hdr[1], binary.BigEndian.Uint16(s.hdr[2:4]), contentLen)
		}
	}
}

// midRecord reports whether a record has been started but not finished.
func (s *recordScanner) midRecord() bool { return s.n > 0 || s.skip > 0 }

// reqState is what a connection still owes or expects for one request id.
type reqState struct {
	ended     bool // FCGI_END_REQUEST written
	inputDone bool // empty FCGI_STDIN (or FCGI_ABORT_REQUEST) read
}

// trackedConn watches the FastCGI records that cross a connection so that
// Shutdown knows when it is idle. A handler returning is not enough: net/http/
// fcgi flushes the body and writes FCGI_END_REQUEST after the handler
// returns, then drains the unread request body; closing before both would cut
// the response or make the kernel reset it. A request therefore counts until
// its END_REQUEST has been written and its STDIN stream has ended.
type trackedConn struct {
	net.Conn
	srv     *Server
	created time.Time

	mu       sync.Mutex
	in, out  recordScanner
	reqs     map[uint16]*reqState
	readAny  bool
	closed   bool
	closeErr error
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.readAny = true
		c.in.scan(p[:n], c.onRead)
		c.mu.Unlock()
	}
	return n, err
}

func (c *trackedConn) onRead(typ uint8, id uint16, contentLen int) {
	switch typ {
	case typeBeginRequest:
		c.reqs[id] = &reqState{}
	case typeStdin, typeAbortRequest:
		if typ == typeStdin && contentLen > 0 {
			return
		}
		if st := c.reqs[id]; st != nil {
			st.inputDone = true
			c.settle(id, st)
		}
	}
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.mu.Lock()
		c.out.scan(p[:n], c.onWrite)
		c.mu.Unlock()
	}
	return n, err
}

func (c *trackedConn) onWrite(typ uint8, id uint16, _ int) {
	if typ != typeEndRequest {
		return
	}
	if st := c.reqs[id]; st != nil {
		st.ended = true
		c.settle(id, st)
	}
}

func (c *trackedConn) settle(id uint16, st *reqState) {
	if st.ended && st.inputDone {
		delete(c.reqs, id)
	}
}

// idle reports whether closing the connection now loses nothing: no request
// is under way or half received. A connection that has not sent a byte yet
// counts as busy for newConnGrace, since its first request may be in flight.
func (c *trackedConn) idle(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) > 0 || c.in.midRecord() || c.out.midRecord() {
		return false
	}
	return c.readAny || now.Sub(c.created) >= newConnGrace
}

func (c *trackedConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.closeErr
	}
	c.closed = true
	c.closeErr = c.Conn.Close()
	err := c.closeErr
	c.mu.Unlock()
	c.srv.forgetConn(c)
	return err
}

// newConnGrace is how long a connection that has sent nothing yet keeps
// Shutdown waiting for its first request (net/http waits as long).
const newConnGrace = 5 * time.Second
