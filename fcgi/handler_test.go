package fcgi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"strings"
	"testing"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// start serves h on 127.0.0.1:0 and returns the address.
func start(t *testing.T, h handlers.Handler, opts Options) (string, *Server) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	l, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, opts)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String(), s
}

func params(kv ...string) map[string]string {
	p := map[string]string{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

// TestRequestURI checks the raw target rebuilt from what net/http/fcgi
// parses (cgi.RequestFromMap is the function it calls).
func TestRequestURI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"query kept raw", params("HTTP_HOST", "h", "REQUEST_URI", "/ff-sync/storage/1.5/7/storage/col?ids=a%2Cb&full=1"),
			"/ff-sync/storage/1.5/7/storage/col?ids=a%2Cb&full=1"},
		{"escaped path kept", params("HTTP_HOST", "h", "REQUEST_URI", "/st%6frage/a%2Cb/c%2Fd%20e"), "/st%6frage/a%2Cb/c%2Fd%20e"},
		{"unescaped path kept", params("HTTP_HOST", "h", "REQUEST_URI", "/a,b;c=d/e:f@g!$&'()*+"), "/a,b;c=d/e:f@g!$&'()*+"},
		{"lower-case escapes kept", params("HTTP_HOST", "h", "REQUEST_URI", "/a%2cb?q=%2c"), "/a%2cb?q=%2c"},
		{"trailing question mark", params("HTTP_HOST", "h", "REQUEST_URI", "/info/collections?"), "/info/collections?"},
		{"dot segments and double slash", params("HTTP_HOST", "h", "REQUEST_URI", "//a/./b/../c"), "//a/./b/../c"},
		{"no Host", params("REQUEST_URI", "/a%2Cb?x=%2C"), "/a%2Cb?x=%2C"},
		{"fragment", params("HTTP_HOST", "h", "REQUEST_URI", "/a?b#c"), "/a?b#c"},
		{"no REQUEST_URI: rebuilt from decoded SCRIPT_NAME+PATH_INFO",
			params("HTTP_HOST", "h", "SCRIPT_NAME", "/ff-sync", "PATH_INFO", "/a,b c", "QUERY_STRING", "ids=a%2Cb"),
			"/ff-sync/a,b%20c?ids=a%2Cb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := cgi.RequestFromMap(tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if r.RequestURI != "" {
				t.Fatalf("net/http/fcgi changed: RequestURI = %q", r.RequestURI)
			}
			if got := requestURI(r); got != tc.want {
				t.Errorf("requestURI = %q, want %q", got, tc.want)
			}
		})
	}
}

type seen struct {
	ContentLength int64
	Body          string
	Header        http.Header
	Scheme        string
}

var echo = handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
	b, _ := io.ReadAll(r.Body)
	out, _ := json.Marshal(seen{r.ContentLength, string(b), r.Header, r.Scheme})
	return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: out}
})

func doSeen(t *testing.T, addr string, p map[string]string, body []byte) seen {
	t.Helper()
	status, _, b, err := fcgiclient.Do("tcp", addr, p, body)
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 {
		t.Fatalf("status %d: %s", status, b)
	}
	var s seen
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBodyLength: CONTENT_LENGTH when given; a body sent without one is
// still read, with length -1; no body is length 0.
func TestBodyLength(t *testing.T) {
	addr, _ := start(t, echo, Options{MaxRequestBytes: 100})
	for _, tc := range []struct {
		name    string
		cl      string
		body    string
		wantLen int64
		want    string
	}{
		{"declared", "5", "hello", 5, "hello"},
		{"undeclared", "", "hello", -1, "hello"},
		{"absent body", "", "", 0, ""},
		{"zero declared", "0", "", 0, ""},
		{"undeclared over the limit", "", strings.Repeat("x", 300), -1, strings.Repeat("x", 101)},
		{"declared over the limit", "300", strings.Repeat("x", 300), 300, strings.Repeat("x", 101)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := params("HTTP_HOST", "h", "REQUEST_URI", "/", "REQUEST_METHOD", "POST")
			if tc.cl != "" {
				p["CONTENT_LENGTH"] = tc.cl
			}
			s := doSeen(t, addr, p, []byte(tc.body))
			if s.ContentLength != tc.wantLen || s.Body != tc.want {
				t.Errorf("ContentLength %d body %d bytes, want %d and %d bytes", s.ContentLength, len(s.Body), tc.wantLen, len(tc.want))
			}
		})
	}
}

// TestDuplicatedContentType: nginx sends CONTENT_TYPE and HTTP_CONTENT_TYPE.
func TestDuplicatedContentType(t *testing.T) {
	addr, _ := start(t, echo, Options{})
	s := doSeen(t, addr, params("HTTP_HOST", "h", "REQUEST_URI", "/", "CONTENT_TYPE", "application/json",
		"HTTP_CONTENT_TYPE", "application/json", "HTTP_CONTENT_LENGTH", "0", "CONTENT_LENGTH", "0"), nil)
	if got := s.Header["Content-Type"]; len(got) != 1 || got[0] != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if _, ok := s.Header["Content-Length"]; ok {
		t.Error("Content-Length left in Header")
	}
}

// TestBrokenCore: a panic, a nil response or a status out of range give a
// bare 500 and the server keeps serving.
func TestBrokenCore(t *testing.T) {
	addr, _ := start(t, handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		switch r.RequestURI {
		case "/panic":
			panic("boom")
		case "/nil":
			return nil
		case "/zero":
			return &handlers.Response{Body: []byte("x")}
		}
		return &handlers.Response{Status: 200}
	}), Options{})
	for _, p := range []string{"/panic", "/nil", "/zero", "/ok"} {
		status, h, body, err := fcgiclient.Do("tcp", addr, params("HTTP_HOST", "h", "REQUEST_URI", p), nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want := 500
		if p == "/ok" {
			want = 200
		}
		if status != want || len(body) != 0 || h.Get("Content-Type") != "" {
			t.Errorf("%s: %d %q %v, want %d with no body", p, status, body, h, want)
		}
	}
}

// TestTransportHeadersFromCore: framing headers the core might set are the
// transport's; Content-Length always matches the body.
func TestTransportHeadersFromCore(t *testing.T) {
	addr, _ := start(t, handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		return &handlers.Response{Status: 200, Header: http.Header{
			"Content-Type":      {"text/plain"},
			"Content-Length":    {"999"},
			"Transfer-Encoding": {"chunked"},
			"Status":            {"404 Not Found"},
		}, Body: []byte("abc")}
	}), Options{})
	status, h, body, err := fcgiclient.Do("tcp", addr, params("HTTP_HOST", "h", "REQUEST_URI", "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || string(body) != "abc" || h.Get("Content-Length") != "3" || h.Get("Transfer-Encoding") != "" {
		t.Errorf("got %d %q %v", status, body, h)
	}
}

var _ net.Listener = (*unixListener)(nil)
