package fcgi

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

// stdoutRecords sends one request with FCGI_KEEP_CONN on nc and returns its
// STDOUT stream and the content length of each STDOUT record.
func stdoutRecords(t *testing.T, nc net.Conn, p map[string]string) ([]byte, []int) {
	t.Helper()
	req := fcgiclient.Encode(p, nil, 0)
	req[10] = 1 // FCGI_KEEP_CONN
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	var out []byte
	var sizes []int
	for {
		var h [8]byte
		if _, err := io.ReadFull(nc, h[:]); err != nil {
			t.Fatalf("reading a record: %v", err)
		}
		n := int(binary.BigEndian.Uint16(h[4:6]))
		content := make([]byte, n+int(h[6]))
		if _, err := io.ReadFull(nc, content); err != nil {
			t.Fatalf("reading a record: %v", err)
		}
		switch h[1] {
		case typeStdout:
			out = append(out, content[:n]...)
			sizes = append(sizes, n)
		case typeEndRequest:
			return out, sizes
		}
	}
}

var dateLine = regexp.MustCompile(`(?m)^Date: ([^\r]*)\r\n`)

// TestResponseExact: the bytes of the CGI response net/http/fcgi writes for
// what the core answers: status line, headers (the core's, shared with
// net/http/fcgi rather than copied, plus Content-Length and Date), body;
// nothing sniffed, nothing left over from an earlier response on the
// connection, a body over 64 KiB split into whole records.
func TestResponseExact(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144,000 bytes: three records
	static := http.Header{"X-Static": {"s"}, "Content-Type": {"application/json"}}
	core := handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		switch r.RequestURI {
		case "/json":
			return &handlers.Response{Status: 200, Header: http.Header{
				"Content-Type":      {"application/json"},
				"X-Weave-Timestamp": {"1700000000.00"},
				"X-Multi":           {"a", "b"},
			}, Body: []byte(`{"a":1}`)}
		case "/304":
			return &handlers.Response{Status: 304, Header: http.Header{
				"Content-Type":    {"application/json"},
				"X-Last-Modified": {"1700000000.00"},
			}}
		case "/204":
			return &handlers.Response{Status: 204, Header: http.Header{"X-Weave-Timestamp": {"1.00"}}}
		case "/dated":
			return &handlers.Response{Status: 200, Header: http.Header{
				"Date": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "Content-Type": {"text/plain"},
			}, Body: []byte("x")}
		case "/untyped":
			return &handlers.Response{Status: 400, Body: []byte("<html>")}
		case "/static":
			return &handlers.Response{Status: 200, Header: static, Body: []byte("1")}
		case "/big":
			return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: big}
		}
		return &handlers.Response{Status: 404, Header: http.Header{}}
	})
	addr, _ := start(t, core, Options{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))

	for _, tc := range []struct {
		method, uri string
		want        string // with the Date line taken out
		wantDate    string // "": the current time
	}{
		{"GET", "/json", "Status: 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\nX-Multi: a\r\nX-Multi: b\r\nX-Weave-Timestamp: 1700000000.00\r\n\r\n{\"a\":1}", ""},
		// The web server drops a HEAD's body; the headers are GET's.
		{"HEAD", "/json", "Status: 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\nX-Multi: a\r\nX-Multi: b\r\nX-Weave-Timestamp: 1700000000.00\r\n\r\n{\"a\":1}", ""},
		{"GET", "/304", "Status: 304 Not Modified\r\nX-Last-Modified: 1700000000.00\r\n\r\n", ""},
		{"GET", "/204", "Status: 204 No Content\r\nX-Weave-Timestamp: 1.00\r\n\r\n", ""},
		{"GET", "/dated", "Status: 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain\r\n\r\nx", "Mon, 02 Jan 2006 15:04:05 GMT"},
		{"GET", "/untyped", "Status: 400 Bad Request\r\nContent-Length: 6\r\n\r\n<html>", ""},
		{"GET", "/static", "Status: 200 OK\r\nContent-Length: 1\r\nContent-Type: application/json\r\nX-Static: s\r\n\r\n1", ""},
		{"GET", "/static", "Status: 200 OK\r\nContent-Length: 1\r\nContent-Type: application/json\r\nX-Static: s\r\n\r\n1", ""},
		{"GET", "/big", "Status: 200 OK\r\nContent-Length: 144000\r\nContent-Type: text/plain\r\n\r\n" + string(big), ""},
		{"GET", "/json", "Status: 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\nX-Multi: a\r\nX-Multi: b\r\nX-Weave-Timestamp: 1700000000.00\r\n\r\n{\"a\":1}", ""},
	} {
		out, sizes := stdoutRecords(t, nc, params("REQUEST_METHOD", tc.method, "HTTP_HOST", "h", "REQUEST_URI", tc.uri))
		dates := dateLine.FindAllSubmatch(out, -1)
		got := string(dateLine.ReplaceAll(out, nil))
		if got != tc.want {
			t.Errorf("%s %s:\n got %.300q\nwant %.300q", tc.method, tc.uri, got, tc.want)
		}
		if len(dates) != 1 {
			t.Errorf("%s %s: %d Date headers, want 1", tc.method, tc.uri, len(dates))
			continue
		}
		date := string(dates[0][1])
		if tc.wantDate != "" {
			if date != tc.wantDate {
				t.Errorf("%s %s: Date %q, want the core's %q", tc.method, tc.uri, date, tc.wantDate)
			}
		} else if d, err := http.ParseTime(date); err != nil || !strings.HasSuffix(date, " GMT") || time.Since(d).Abs() > 5*time.Second {
			t.Errorf("%s %s: Date %q is not the current time in HTTP format (%v)", tc.method, tc.uri, date, err)
		}
		// The header block goes out in a record of its own, then the
		// body in records of at most 65,535 bytes, then the empty record
		// that ends the stream.
		if tc.uri == "/big" {
			if len(sizes) < 4 || sizes[len(sizes)-1] != 0 {
				t.Errorf("big body: STDOUT records of %v bytes", sizes)
			}
			total := 0
			for _, n := range sizes[1:] {
				total += n
			}
			if total != len(big) {
				t.Errorf("big body: %d bytes in records after the header's, want %d", total, len(big))
			}
		}
	}
	if want := (http.Header{"X-Static": {"s"}, "Content-Type": {"application/json"}}); !reflect.DeepEqual(static, want) {
		t.Errorf("the core's header map was changed by serving it: %v", static)
	}
}

// TestDateCache: one formatted Date a second, in the form net/http/fcgi
// would write.
func TestDateCache(t *testing.T) {
	var c dateCache
	for range 3 {
		before := time.Now().Unix()
		a, b := c.now(), c.now()
		after := time.Now().Unix()
		if len(a) != 1 || len(b) != 1 {
			t.Fatalf("got %q and %q", a, b)
		}
		d, err := http.ParseTime(a[0])
		if err != nil || d.Unix() < before || d.Unix() > after || a[0] != d.UTC().Format(http.TimeFormat) {
			t.Errorf("Date %q (%v) not between %d and %d in HTTP format", a[0], err, before, after)
		}
		if before == after && &a[0] != &b[0] {
			t.Errorf("two values for one second: %q", a)
		}
	}
}

// TestMayWait: only a body that can wait on the web server gets the
// read_timeout timer.
func TestMayWait(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	for _, tc := range []struct {
		name string
		body io.ReadCloser
		want bool
	}{
		{"nil", nil, false},
		{"net/http/fcgi's empty body", io.NopCloser(strings.NewReader("")), false},
		{"http.NoBody", http.NoBody, false},
		{"net/http/fcgi's body pipe", pr, true},
		{"another reader", io.NopCloser(struct{ io.Reader }{strings.NewReader("x")}), true},
	} {
		if got := mayWait(tc.body); got != tc.want {
			t.Errorf("%s: mayWait = %v, want %v", tc.name, got, tc.want)
		}
	}
}
