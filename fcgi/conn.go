package fcgi

import (
	"encoding/binary"
	"errors"
	"io"
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
	typeStdout       = 6
	typeStderr       = 7

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
//
// It also closes a kept-open connection (FCGI_KEEP_CONN, nginx's
// fastcgi_keep_conn) during Shutdown without losing a request; see drain.
//
// And it buffers both ways, because net/http/fcgi does neither: it reads
// each record with two reads (header, then content), six for a typical
// request, and writes each record with its own write, three or four for a
// response (headers, body, end of stream, END_REQUEST). Behind a web server
// every one of those is a system call here and a wake-up of the web server
// there, which cost more than the request itself. So Read fills rbuf with
// what the socket holds (a whole request, usually) and hands it out from
// there, and Write holds a response's records until its END_REQUEST, which
// then goes out with them in one write (see Write).
type trackedConn struct {
	net.Conn
	srv     *Server
	created time.Time

	rbuf []byte // read buffer: rbuf[rpos:rend] (under mu) is received, not yet read

	wmu  sync.Mutex // serialises Write; guards wbuf
	wbuf []byte     // records written but not yet sent

	mu       sync.Mutex
	in, out  recordScanner
	reqs     map[uint16]reqState // by value: no allocation per request
	rpos     int
	rend     int
	pending  int  // len(wbuf): bytes held by Write
	flushDue bool // the Write being scanned must send what is held
	readAny  bool
	active   time.Time     // last byte read or written
	writing  int           // Write calls under way
	draining bool          // Shutdown has begun: close at the next request boundary
	finSent  bool          // write side shut (FIN sent); nothing more is read or served
	finIdle  time.Duration // how long the connection had been idle at the FIN
	peerEOF  bool          // the web server closed its side
	dropped  bool          // bytes came after finSent and were thrown away
	noLinger bool
	closed   bool
	closeErr error
}

// Read passes the web server's records to net/http/fcgi, until the write side
// has been shut: from then on it reports end of stream and throws away what
// comes, so that a request the web server sent as the connection was being
// closed is never read, never run, and can be retried by the web server.
//
// It reads the socket into rbuf and hands out from there; only the bytes
// handed out are scanned, so the request boundaries are those net/http/fcgi
// has seen, and bytes still in rbuf keep the connection busy (idleLocked).
// Only net/http/fcgi's one reading goroutine calls Read.
func (c *trackedConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	if c.finSent {
		c.mu.Unlock()
		return 0, io.EOF
	}
	if c.rpos < c.rend {
		n := copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
		c.consumed(p[:n])
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	// A read as large as the buffer (a body record) goes straight to p.
	direct := len(p) >= len(c.rbuf)
	into := c.rbuf
	if direct {
		into = p
	}
	n, err := c.Conn.Read(into)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil && errors.Is(err, io.EOF) {
		c.peerEOF = true
	}
	if c.finSent {
		// The write side was shut while this read waited; what it got
		// began after a request boundary, so it is a request we will not
		// answer: drop it whole.
		if n > 0 {
			c.dropped = true
		}
		return 0, io.EOF
	}
	if n == 0 {
		return 0, err
	}
	c.readAny = true
	c.active = time.Now()
	k := n
	if !direct {
		k = copy(p, into[:n])
		c.rpos, c.rend = k, n
		if k < n {
			// The rest is handed out first; a sticky error (end of
			// stream, a reset) comes again on the read after it.
			err = nil
		}
	}
	c.consumed(p[:k])
	return k, err
}

// consumed scans bytes handed to net/http/fcgi. c.mu is held.
func (c *trackedConn) consumed(p []byte) {
	c.in.scan(p, c.onRead)
	c.finishIfDone()
}

func (c *trackedConn) onRead(typ uint8, id uint16, contentLen int) {
	switch typ {
	case typeBeginRequest:
		c.reqs[id] = reqState{}
	case typeStdin, typeAbortRequest:
		if typ == typeStdin && contentLen > 0 {
			return
		}
		if st, ok := c.reqs[id]; ok {
			st.inputDone = true
			c.settle(id, st)
		}
	}
}

// Write scans p before writing it: once an END_REQUEST is on the wire, the
// web server may send its next request (nginx reuses request id 1), and that
// request's BEGIN_REQUEST must not be read before this END_REQUEST has been
// counted, or it would be taken for the end of the new request. writing
// keeps the connection busy until the bytes are out.
//
// A response's stream records (STDOUT, STDERR) are held in wbuf and sent
// with the next record of any other type, which for a response is its
// END_REQUEST: net/http/fcgi writes the headers, the body, the end of the
// stream and END_REQUEST one after the other, and they leave in one write.
// Nothing waits long: the adapter writes a whole response at once and
// returns, and net/http/fcgi then ends the stream and writes END_REQUEST;
// a record that would take the held bytes past maxHeldBytes is sent at once,
// with them, in one gathering write that copies neither. So a handler that
// flushes part of a body (http.Flusher) to stream it would not stream under
// this front-end; none does.
func (c *trackedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	c.flushDue = false
	c.out.scan(p, c.onWrite)
	if !c.flushDue && !c.out.midRecord() && len(c.wbuf)+len(p) < maxHeldBytes {
		c.wbuf = append(c.wbuf, p...)
		c.pending = len(c.wbuf)
		c.mu.Unlock()
		return len(p), nil
	}
	c.writing++
	c.mu.Unlock()
	var n int
	var err error
	switch held := len(c.wbuf); {
	case held == 0:
		n, err = c.Conn.Write(p)
	case held+len(p) <= maxHeldBytes:
		// A response's END_REQUEST after its held records.
		c.wbuf = append(c.wbuf, p...)
		n, err = c.Conn.Write(c.wbuf)
		n = max(n-held, 0)
	default:
		// A large record: gathered with the held bytes, not copied after
		// them (writev on a socket).
		bufs := net.Buffers{c.wbuf, p}
		var sent int64
		sent, err = bufs.WriteTo(c.Conn)
		n = max(int(sent)-held, 0)
	}
	c.wbuf = c.wbuf[:0]
	c.mu.Lock()
	c.pending = 0
	c.writing--
	c.active = time.Now()
	c.finishIfDone()
	c.mu.Unlock()
	return n, err
}

// maxHeldBytes bounds what Write holds back, and so the buffer each
// connection keeps: net/http/fcgi writes a body in records of up to 64 KiB,
// and a record past the bound goes out as it comes, with what was held
// before it. Most responses (polls, writes' answers, small reads) fit whole.
// The bound is per connection, and a web server keeps one open for each
// request it has in flight: at 64 KiB, the bound this once was, the 32
// connections of 32 busy clients kept 2 MB of a heap that memory_limit
// holds to about 17 MB, and the garbage collector ran without pause.
const maxHeldBytes = 16 << 10

func (c *trackedConn) onWrite(typ uint8, id uint16, _ int) {
	if typ != typeStdout && typ != typeStderr {
		// END_REQUEST, or a management record (FCGI_GET_VALUES_RESULT,
		// FCGI_UNKNOWN_TYPE) that no request's END_REQUEST follows.
		c.flushDue = true
	}
	if typ != typeEndRequest {
		return
	}
	if st, ok := c.reqs[id]; ok {
		st.ended = true
		c.settle(id, st)
	}
}

func (c *trackedConn) settle(id uint16, st reqState) {
	if st.ended && st.inputDone {
		delete(c.reqs, id)
	} else {
		c.reqs[id] = st
	}
}

// idle reports whether closing the connection now loses nothing: no request
// is under way or half received. A connection that has not sent a byte yet
// counts as busy for newConnGrace, since its first request may be in flight.
func (c *trackedConn) idle(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idleLocked(now)
}

func (c *trackedConn) idleLocked(now time.Time) bool {
	if !c.atBoundary() {
		return false
	}
	return c.readAny || now.Sub(c.created) >= newConnGrace
}

// atBoundary reports whether no request is under way or half received, no
// received byte awaits net/http/fcgi and no written byte awaits sending.
// c.mu is held.
func (c *trackedConn) atBoundary() bool {
	return len(c.reqs) == 0 && c.writing == 0 && c.pending == 0 && c.rpos == c.rend &&
		!c.in.midRecord() && !c.out.midRecord()
}

// drain starts closing the connection for Shutdown, and closes its write side
// as soon as it is at a request boundary. It reports whether the connection
// is still open.
//
// FastCGI has no way to tell the web server that a kept-open connection is
// about to close; it may send the next request at any moment. So the close is
// done in this order:
//
//  1. nothing is closed while a request is under way or half received: a
//     request whose BEGIN_REQUEST has been read is served in full;
//  2. at the first request boundary, the write side is shut (FIN). Right
//     after the last END_REQUEST, the FIN follows the response at once, so
//     the web server sees both together and does not put the connection
//     back in its pool, or finds it closed when it takes it again (nginx
//     checks for a pending end of stream when it frees a kept connection,
//     and watches idle pooled ones; Apache checks a pooled connection before
//     reusing it). A connection idle when Shutdown starts is closed once it
//     has been idle for drainIdleWait: one just used is likely to be taken
//     again at once (both servers reuse the most recently used connection
//     first), and is better closed right after that request, while one
//     idle for longer lies at the bottom of the pool, where the web server
//     is unlikely to take it in the instant its FIN is on the way. Just
//     before the FIN, the receive buffer is checked: a request the web
//     server sent while this side was finishing the last answer (the
//     goroutine can be descheduled between writing it and the FIN) is
//     served first, and the FIN follows its answer;
//  3. from then on nothing is read: a request that crossed the FIN is
//     never run, and the web server sees the connection end before any
//     byte of its answer. nginx retries such a request on another
//     connection when it came on a kept (cached) connection, if the request
//     may be retried (fastcgi_next_upstream, by default "error timeout":
//     not POST, PATCH or LOCK, which only "non_idempotent" allows). Apache
//     mod_proxy_fcgi does not retry: it answers 503;
//  4. the close is lingering: the socket is read and the bytes thrown away
//     until the web server closes its side or lingerTimeout passes, so the
//     kernel does not reset the connection (a reset can destroy the last
//     response before the web server has read it).
func (c *trackedConn) drain(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.finSent && c.idleLocked(now) && now.Sub(c.active) >= drainIdleWait {
		c.shutWrite()
	}
	return !c.closed
}

// finishIfDone shuts the write side of a draining connection that has just
// reached a request boundary. c.mu is held.
func (c *trackedConn) finishIfDone() {
	if c.draining && !c.finSent && c.atBoundary() {
		c.shutWrite()
	}
}

type closeWriter interface{ CloseWrite() error }

// shutWrite sends FIN and bounds the lingering read that follows, unless
// the web server's next request is already in the receive buffer (it was sent
// while this side was busy finishing the previous one): then nothing
// happens, the request is read and served, and the FIN follows its answer.
// c.mu is held.
func (c *trackedConn) shutWrite() {
	shut, ok := shutWriteIfQuiet(c.Conn)
	if !ok {
		// No half-close on this kind of connection: close it whole, at a
		// request boundary all the same.
		c.finSent, c.noLinger = true, true
		c.Conn.Close()
		return
	}
	if !shut {
		return
	}
	c.finSent = true
	c.finIdle = time.Since(c.active)
	c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
}

// Close closes the connection, lingering first if its write side was shut by
// drain and the web server has not closed its side yet.
func (c *trackedConn) Close() error {
	c.mu.Lock()
	linger := c.finSent && !c.peerEOF && !c.noLinger && !c.closed
	c.mu.Unlock()
	if linger {
		c.linger()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.closeErr
	}
	c.closed = true
	c.closeErr = c.Conn.Close()
	err := c.closeErr
	dropped, idle := c.dropped, c.finIdle
	c.mu.Unlock()
	if dropped {
		c.srv.log.Warn("fcgi: the web server sent a request on a connection closed for shutdown; it was not read, so the web server may retry it", "idle_before_close", idle)
	}
	c.srv.forgetConn(c)
	return err
}

// linger reads and throws away what the web server sends until it closes its
// side, or the read deadline set by shutWrite passes.
func (c *trackedConn) linger() {
	buf := make([]byte, 4096)
	for {
		n, err := c.Conn.Read(buf)
		if n > 0 {
			c.mu.Lock()
			c.dropped = true
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// abort closes the connection at once, without lingering (Close, or Shutdown
// out of time).
func (c *trackedConn) abort() {
	c.mu.Lock()
	c.noLinger = true
	c.mu.Unlock()
	c.Close()
}

// readBufSize is the read buffer of a connection: a whole request as nginx or
// Apache sends it (parameters with a Hawk Authorization header, about 1 KiB)
// fits in one read.
const readBufSize = 4 << 10

// newConnGrace is how long a connection that has sent nothing yet keeps
// Shutdown waiting for its first request (net/http waits as long).
const newConnGrace = 5 * time.Second

// drainIdleWait is how long a kept connection must have been idle before
// Shutdown closes it between requests (see drain).
const drainIdleWait = 200 * time.Millisecond

// lingerTimeout bounds the lingering close: the web server has read the last
// response long before, and nginx closes its side of an idle kept connection
// as soon as it sees ours close; Apache notices only when it next takes the
// connection from its pool, so its connections wait this long.
const lingerTimeout = time.Second
