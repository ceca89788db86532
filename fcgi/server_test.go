package fcgi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

func record(typ uint8, id uint16, content []byte) []byte {
	pad := -len(content) & 7
	h := []byte{1, typ, 0, 0, 0, 0, byte(pad), 0}
	binary.BigEndian.PutUint16(h[2:], id)
	binary.BigEndian.PutUint16(h[4:], uint16(len(content)))
	return append(append(h, content...), make([]byte, pad)...)
}

type event struct {
	typ uint8
	id  uint16
	n   int
}

// TestRecordScanner: record boundaries are found however the stream is cut.
func TestRecordScanner(t *testing.T) {
	var stream []byte
	stream = append(stream, record(typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})...)
	stream = append(stream, record(4, 1, []byte("params!"))...)
	stream = append(stream, record(typeStdin, 1, bytes.Repeat([]byte{8}, 300))...)
	stream = append(stream, record(typeStdin, 1, nil)...)
	stream = append(stream, record(typeBeginRequest, 2, []byte{0, 1, 1, 0, 0, 0, 0, 0})...)
	want := []event{{typeBeginRequest, 1, 8}, {4, 1, 7}, {typeStdin, 1, 300}, {typeStdin, 1, 0}, {typeBeginRequest, 2, 8}}

	for _, chunk := range []int{1, 2, 3, 7, 8, 9, 64, len(stream)} {
		var s recordScanner
		var got []event
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			s.scan(p[:n], func(typ uint8, id uint16, n int) { got = append(got, event{typ, id, n}) })
			p = p[n:]
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunk %d: got %v, want %v", chunk, got, want)
		}
		if s.midRecord() {
			t.Errorf("chunk %d: mid-record at the end", chunk)
		}
	}
}

// fakeConn feeds Read from a buffer and discards writes.
type fakeConn struct {
	net.Conn
	in *bytes.Buffer
}

func (f fakeConn) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f fakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (f fakeConn) Close() error                { return nil }

// TestTrackedConnIdle: a request keeps its connection busy until both its
// END_REQUEST has been written and its STDIN has ended, in either order.
func TestTrackedConnIdle(t *testing.T) {
	begin := record(typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	stdin := record(typeStdin, 1, []byte("body"))
	stdinEnd := record(typeStdin, 1, nil)
	end := record(typeEndRequest, 1, make([]byte, 8))
	now := time.Now()

	newConn := func(in ...[]byte) *trackedConn {
		return &trackedConn{
			Conn: fakeConn{in: bytes.NewBuffer(bytes.Join(in, nil))},
			srv:  NewServer(nil, Options{}), created: now, reqs: map[uint16]reqState{}, rbuf: make([]byte, readBufSize),
		}
	}
	read := func(c *trackedConn, n int) {
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}

	c := newConn()
	if c.idle(now) {
		t.Error("a silent new connection is idle before the grace period")
	}
	if !c.idle(now.Add(newConnGrace)) {
		t.Error("a silent connection is busy after the grace period")
	}

	// Response first, then the rest of the body (an early 413).
	c = newConn(begin, stdin, stdinEnd)
	read(c, len(begin)+3)
	if c.idle(now) {
		t.Error("idle in the middle of a record")
	}
	read(c, len(stdin)-3)
	c.Write(end[:5])
	if c.idle(now) {
		t.Error("idle before END_REQUEST is complete")
	}
	c.Write(end[5:])
	if c.idle(now) {
		t.Error("idle before STDIN ended")
	}
	read(c, len(stdinEnd))
	if !c.idle(now) {
		t.Error("busy after END_REQUEST and end of STDIN")
	}

	// Body first, then the response.
	c = newConn(begin, stdinEnd)
	read(c, len(begin)+len(stdinEnd))
	if c.idle(now) {
		t.Error("idle before END_REQUEST")
	}
	c.Write(end)
	if !c.idle(now) {
		t.Error("busy after END_REQUEST")
	}

	// Abort ends the input.
	c = newConn(begin, record(typeAbortRequest, 1, nil))
	read(c, len(begin)+8)
	c.Write(end)
	if !c.idle(now) {
		t.Error("busy after an aborted request was answered")
	}
}

// TestShutdownClosesIdleKeptConn: nginx with fastcgi_keep_conn keeps
// connections open between requests; Shutdown closes them instead of waiting:
// the web server sees a clean end of stream (FIN, not a reset) at once, and
// Shutdown returns as soon as the web server closes its side.
func TestShutdownClosesIdleKeptConn(t *testing.T) {
	addr, s := start(t, echo, Options{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := fcgiclient.NewConn(nc)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Do(&fcgiclient.Request{Params: params("HTTP_HOST", "h", "REQUEST_URI", "/"), KeepConn: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	nc.SetReadDeadline(time.Now().Add(lingerTimeout / 2))
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read on the idle kept connection during Shutdown: %d, %v; want end of stream", n, err)
	}
	nc.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(lingerTimeout / 2):
		t.Fatal("Shutdown still waits after the web server closed its side")
	}
}

// TestShutdownDropsRequestAfterFIN: a request that the web server sends on a
// kept connection after Shutdown has closed its write side (it crossed the
// FIN) is never run, and the web server sees the connection end before any
// byte of an answer, which is what nginx retries on a cached connection.
func TestShutdownDropsRequestAfterFIN(t *testing.T) {
	var ran atomic.Int64
	addr, s := start(t, handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		ran.Add(1)
		return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("ok")}
	}), Options{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var counted countingConn
	counted.Conn = nc
	c := fcgiclient.NewConn(&counted)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := &fcgiclient.Request{Params: params("HTTP_HOST", "h", "REQUEST_URI", "/", "REQUEST_METHOD", "POST"), Body: []byte("x"), KeepConn: true}
	if _, err := c.Do(req); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// Wait until the FIN has arrived, without reading it.
	deadline := time.Now().Add(2 * time.Second)
	for !finArrived(t, nc) {
		if time.Now().After(deadline) {
			t.Fatal("no FIN on the idle kept connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	counted.n.Store(0)
	if _, err := c.Do(req); err == nil || counted.n.Load() != 0 {
		t.Fatalf("request after the FIN: err %v after %d answer bytes; want end of stream before any byte", err, counted.n.Load())
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := ran.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1: the request that crossed the FIN was run", n)
	}
}

// finArrived peeks at nc for a pending end of stream.
func finArrived(t *testing.T, nc net.Conn) bool {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var eof bool
	rc.Read(func(fd uintptr) bool {
		buf := make([]byte, 1)
		n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		eof = n == 0 && err == nil
		return true
	})
	return eof
}

// countingConn counts the bytes read from it.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestShutdownWaitsForKeptConnRequest: a request on a kept connection is
// answered in full before that connection is closed.
func TestShutdownWaitsForKeptConnRequest(t *testing.T) {
	started := make(chan struct{})
	addr, s := start(t, handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: bytes.Repeat([]byte("y"), 100000)}
	}), Options{})
	c, err := fcgiclient.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	type result struct {
		resp *fcgiclient.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.Do(&fcgiclient.Request{Params: params("HTTP_HOST", "h", "REQUEST_URI", "/"), KeepConn: true})
		done <- result{r, err}
	}()
	<-started
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r := <-done
	if r.err != nil || r.resp.Status != 200 || len(r.resp.Body) != 100000 {
		t.Fatalf("got %v %v", r.resp, r.err)
	}
}

func TestServeAfterShutdown(t *testing.T) {
	s := NewServer(echo, Options{Logger: quiet()})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("listener left open")
	}
}

// TestShutWriteIfQuiet: the write side is not shut while the web server's
// next request waits in the receive buffer, and is shut once it has been read.
func TestShutWriteIfQuiet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	web, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer web.Close()
	app, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.SetDeadline(time.Now().Add(5 * time.Second))
	web.SetDeadline(time.Now().Add(5 * time.Second))

	begin := record(typeBeginRequest, 1, []byte{0, 1, 1, 0, 0, 0, 0, 0})
	if _, err := web.Write(begin); err != nil {
		t.Fatal(err)
	}
	// Wait until the bytes are in app's receive buffer.
	for deadline := time.Now().Add(2 * time.Second); ; {
		if n := pending(t, app); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	if shut, ok := shutWriteIfQuiet(app); !ok || shut {
		t.Fatalf("shutWriteIfQuiet with a request waiting = %v, %v; want not shut", shut, ok)
	}
	if _, err := io.ReadFull(app, make([]byte, len(begin))); err != nil {
		t.Fatal(err)
	}
	if shut, ok := shutWriteIfQuiet(app); !ok || !shut {
		t.Fatalf("shutWriteIfQuiet with nothing waiting = %v, %v; want shut", shut, ok)
	}
	if n, err := web.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the web server reads %d, %v after the shutdown; want end of stream", n, err)
	}
}

// pending returns how many bytes nc's receive buffer holds (at most 64).
func pending(t *testing.T, nc net.Conn) int {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	rc.Control(func(fd uintptr) {
		buf := make([]byte, 64)
		n, _, _ = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return n
}
