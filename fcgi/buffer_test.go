package fcgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

// syscallCounter counts the reads and writes made on the connections it
// accepts: what reaches the socket, under trackedConn's buffers.
type syscallCounter struct {
	net.Listener
	reads, writes atomic.Int64
}

func (l *syscallCounter) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: nc, l: l}, nil
}

type countedConn struct {
	net.Conn
	l *syscallCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	c.l.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}

// keptRequest is a whole request with id 1 and FCGI_KEEP_CONN, as nginx
// sends it with fastcgi_keep_conn on: in one write.
func keptRequest(uri string) []byte {
	b := fcgiclient.Encode(params("HTTP_HOST", "h", "REQUEST_URI", uri), nil, 0)
	b[10] = 1 // BEGIN_REQUEST flags: FCGI_KEEP_CONN
	return b
}

// readResponse reads records until request 1's END_REQUEST and returns its
// STDOUT stream.
func readResponse(t *testing.T, r io.Reader) []byte {
	t.Helper()
	out, _ := readResponseRecords(t, r)
	return out
}

// readResponseRecords is readResponse that also returns the content length
// of the largest STDOUT record.
func readResponseRecords(t *testing.T, r io.Reader) (out []byte, largest int) {
	t.Helper()
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("reading a record: %v", err)
		}
		content := make([]byte, int(binary.BigEndian.Uint16(h[4:6]))+int(h[6]))
		if _, err := io.ReadFull(r, content); err != nil {
			t.Fatalf("reading a record: %v", err)
		}
		content = content[:binary.BigEndian.Uint16(h[4:6])]
		switch h[1] {
		case typeStdout:
			out = append(out, content...)
			largest = max(largest, len(content))
		case typeEndRequest:
			return out, largest
		}
	}
}

// TestResponseInOneWrite: behind a web server each system call costs a
// wake-up on both sides, so a small response (headers, body, end of stream
// and END_REQUEST, four records from net/http/fcgi) leaves in one write, and
// a request sent in one piece is read in one read rather than two per record.
// A large body still arrives whole, and a management record is answered at
// once, not held.
func TestResponseInOneWrite(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 30000)
	h := handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		resp := &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(r.RequestURI)}
		switch r.RequestURI {
		case "/304":
			resp = &handlers.Response{Status: 304, Header: http.Header{}}
		case "/big":
			resp.Body = big
		case "/medium":
			resp.Body = big[:40<<10]
		}
		return resp
	})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &syscallCounter{Listener: inner}
	s := NewServer(h, Options{Logger: quiet()})
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })

	nc, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	// Let the server's first read start on an empty socket, so each
	// request below is met by a read already waiting, as behind nginx.
	time.Sleep(50 * time.Millisecond)

	for i, uri := range []string{"/small", "/304", "/small?again"} {
		r0, w0 := l.reads.Load(), l.writes.Load()
		if _, err := nc.Write(keptRequest(uri)); err != nil {
			t.Fatal(err)
		}
		out := readResponse(t, nc)
		if uri == "/304" {
			if !bytes.HasPrefix(out, []byte("Status: 304")) {
				t.Errorf("%s: got %q", uri, out)
			}
		} else if !bytes.HasSuffix(out, []byte("\r\n\r\n"+uri)) {
			t.Errorf("%s: got %q", uri, out)
		}
		// The writes are done before END_REQUEST reaches us; the reads of
		// this request too, but the next read may be waiting already
		// (counted when it starts), hence one more allowed from the second
		// request on.
		if w := l.writes.Load() - w0; w != 1 {
			t.Errorf("%s: %d writes for a small response, want 1", uri, w)
		}
		if r, limit := l.reads.Load()-r0, int64(min(i, 1)+1); r > limit {
			t.Errorf("%s: %d reads for a request sent in one piece, want at most %d", uri, r, limit)
		}
	}

	w0 := l.writes.Load()
	if _, err := nc.Write(keptRequest("/big")); err != nil {
		t.Fatal(err)
	}
	out, largest := readResponseRecords(t, nc)
	_, body, _ := bytes.Cut(out, []byte("\r\n\r\n"))
	if !bytes.Equal(body, big) {
		t.Errorf("large body: got %d bytes, want %d", len(body), len(big))
	}
	if !bytes.Contains(out, []byte("Content-Length: "+strconv.Itoa(len(big))+"\r\n")) {
		t.Errorf("large body sent without its Content-Length: %q", out[:min(len(out), 300)])
	}
	// Records of bodyChunk (the first with the headers), so that the
	// connection's buffers stay that size, each sent as it comes: one
	// write each, not one per record of each size.
	if largest > bodyChunk+1024 {
		t.Errorf("a record of %d bytes for a large body; want at most %d and the headers", largest, bodyChunk)
	}
	if w, most := l.writes.Load()-w0, int64(len(big)/bodyChunk+2); w > most {
		t.Errorf("%d writes for a %d-byte body, want at most %d", w, len(big), most)
	}

	// A body larger than maxHeldBytes is not held: the connection keeps no
	// buffer of its size (a web server keeps one connection open for each
	// request it has in flight, and each would keep one).
	if _, err := nc.Write(keptRequest("/medium")); err != nil {
		t.Fatal(err)
	}
	if out := readResponse(t, nc); !bytes.HasSuffix(out, big[:40<<10]) {
		t.Errorf("medium body: got %d bytes of response", len(out))
	}
	s.mu.Lock()
	for c := range s.conns {
		c.wmu.Lock()
		if kept := cap(c.wbuf); kept >= 40<<10 {
			t.Errorf("a connection keeps a %d-byte write buffer after a %d-byte body", kept, 40<<10)
		}
		c.wmu.Unlock()
	}
	s.mu.Unlock()

	// FCGI_GET_VALUES: its answer has no END_REQUEST after it, and must
	// not wait for one.
	if _, err := nc.Write(record(9, 0, fcgiclient.EncodeParams(map[string]string{"FCGI_MPXS_CONNS": ""}))); err != nil {
		t.Fatal(err)
	}
	var hdr [8]byte
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		t.Fatalf("no answer to FCGI_GET_VALUES: %v", err)
	}
	if hdr[1] != 10 {
		t.Errorf("got record type %d, want FCGI_GET_VALUES_RESULT (10)", hdr[1])
	}
}

// nginxParams is what nginx's fastcgi_params sends for a Firefox poll.
func nginxParams() map[string]string {
	return map[string]string{
		"QUERY_STRING": "", "REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
		"SCRIPT_NAME": "/1.5/1/info/collections", "REQUEST_URI": "/1.5/1/info/collections",
		"DOCUMENT_URI": "/1.5/1/info/collections", "DOCUMENT_ROOT": "/usr/share/nginx/html",
		"SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE": "nginx/1.22.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "51234",
		"SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_NAME": "sync.example.com",
		"REDIRECT_STATUS": "200", "HTTP_HOST": "127.0.0.1:8080", "HTTP_USER_AGENT": "Firefox-Android-FxAccounts/120.0",
		"HTTP_ACCEPT": "application/json", "HTTP_X_IF_MODIFIED_SINCE": "1700000000.00",
		"HTTP_AUTHORIZATION": `Hawk id="` + strings.Repeat("a", 200) + `", ts="1700000000", nonce="bm9uY2Vub25jZQ==", mac="` + strings.Repeat("m", 44) + `"`,
	}
}

// BenchmarkKeptConn304 serves 304s over kept unix-socket connections, one
// per client as nginx's keepalive pool gives, with nginx's parameters: the
// front-end's own cost per request (net/http/fcgi, this package's
// connections and adapter), with a core that does nothing, plus the client's.
// cpu-µs/op is the process's CPU time (user + system, the client's share
// included) per request: on a shared machine it is steadier than ns/op.
func BenchmarkKeptConn304(b *testing.B) {
	h := handlers.HandlerFunc(func(context.Context, *handlers.Request) *handlers.Response {
		return &handlers.Response{Status: 304, Header: http.Header{"X-Last-Modified": {"1700000000.00"}, "X-Content-Type-Options": {"nosniff"}}}
	})
	path := filepath.Join(b.TempDir(), "s")
	l, err := Listen("unix:"+path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := NewServer(h, Options{Logger: quiet()})
	go s.Serve(l)
	defer s.Close()
	req := fcgiclient.Encode(nginxParams(), nil, 0)
	req[10] = 1
	b.ReportAllocs()
	b.SetParallelism(8)
	cpu0 := processCPU(b)
	defer func() {
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		nc, err := net.Dial("unix", path)
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		var hdr [8]byte
		buf := make([]byte, 70000)
		for pb.Next() {
			if _, err := nc.Write(req); err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					b.Error(err)
					return
				}
				n := int(binary.BigEndian.Uint16(hdr[4:6])) + int(hdr[6])
				if _, err := io.ReadFull(br, buf[:n]); err != nil {
					b.Error(err)
					return
				}
				if hdr[1] == typeEndRequest {
					break
				}
			}
		}
	})
}
