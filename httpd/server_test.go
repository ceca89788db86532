package httpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"syncserver/handlers"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

type seen struct {
	Method, Scheme, Host, RequestURI string
	Header                           http.Header
	ContentLength                    int64
	Body                             string
	ForwardedProto, Untrusted        string
}

// echo answers with what it saw; a body over the limit gets the core's 413.
func echo(maxBytes int) handlers.Handler {
	return handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return &handlers.Response{Status: 400, Body: []byte(err.Error())}
		}
		if len(b) > maxBytes {
			return &handlers.Response{Status: 413, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("17")}
		}
		out, _ := json.Marshal(seen{r.Method, r.Scheme, r.Host, r.RequestURI, r.Header, r.ContentLength, string(b),
			r.ForwardedProto, r.UntrustedForwardedProto})
		return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: out}
	})
}

func start(t *testing.T, h handlers.Handler, opts Options, l net.Listener) (*Server, chan error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	s, err := NewServer(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	errCh := make(chan error, 1)
	go func() { errCh <- s.Serve(l) }()
	t.Cleanup(func() { s.Close() })
	return s, errCh
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// roundTrip writes raw on c and reads one response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp, string(b)
}

func do(t *testing.T, network, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return roundTrip(t, c, bufio.NewReader(c), raw)
}

func decode(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	return s
}

// TestRawTarget: the request-target reaches the core byte for byte; an
// absolute-form target is reduced to origin-form and names the host.
func TestRawTarget(t *testing.T) {
	l := listen(t)
	start(t, echo(1<<20), Options{}, l)
	for _, tc := range []struct{ target, wantURI, wantHost string }{
		{"/a/../b//c/%2e%2E/d?x=%2C&y=%2c", "/a/../b//c/%2e%2E/d?x=%2C&y=%2c", "h"},
		{"/st%6frage/a%2Fb%20c?", "/st%6frage/a%2Fb%20c?", "h"},
		{"http://other.example:8080/a%2Cb?x=1", "/a%2Cb?x=1", "other.example:8080"},
		{"HTTPS://other.example?x", "/?x", "other.example"},
	} {
		_, body := do(t, "tcp", l.Addr().String(), "GET "+tc.target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		s := decode(t, body)
		if s.RequestURI != tc.wantURI || s.Host != tc.wantHost {
			t.Errorf("%s: RequestURI %q Host %q, want %q %q", tc.target, s.RequestURI, s.Host, tc.wantURI, tc.wantHost)
		}
	}
}

func TestCutAbsoluteForm(t *testing.T) {
	for _, tc := range []struct {
		in, host, rest string
		ok             bool
	}{
		{"/a://b", "", "", false},
		{"/path?x=http://y", "", "", false},
		{"ftp://h/x", "", "", false},
		{"http://h", "h", "/", true},
		{"http://h/x?y", "h", "/x?y", true},
		{"http://h?y", "h", "/?y", true},
		{"*", "", "", false},
	} {
		host, rest, ok := cutAbsoluteForm(tc.in)
		if host != tc.host || rest != tc.rest || ok != tc.ok {
			t.Errorf("cutAbsoluteForm(%q) = %q %q %v, want %q %q %v", tc.in, host, rest, ok, tc.host, tc.rest, tc.ok)
		}
	}
}

func TestTrustList(t *testing.T) {
	tl, err := parseTrustList([]string{"127.0.0.1, 10.0.0.0/8", " ::1 ", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": false, "10.1.2.3": true, "11.0.0.1": false,
		"::1": true, "::ffff:127.0.0.1": true, "::ffff:10.9.9.9": true, "2001:db8::5": true, "2001:db9::5": false,
	} {
		if got := tl.trusts(&net.TCPAddr{IP: net.ParseIP(ip)}); got != want {
			t.Errorf("trusts(%s) = %v, want %v", ip, got, want)
		}
	}
	if !tl.trusts(&net.UnixAddr{Name: "@", Net: "unix"}) {
		t.Error("unix peer not trusted")
	}
	star, _ := parseTrustList([]string{"*"})
	if !star.trusts(&net.TCPAddr{IP: net.ParseIP("203.0.113.9")}) {
		t.Error(`"*" does not trust everyone`)
	}
	none, _ := parseTrustList(nil)
	if none.trusts(&net.TCPAddr{IP: net.ParseIP("127.0.0.1")}) {
		t.Error("empty list trusts loopback")
	}
	for _, bad := range []string{"localhost", "10.0.0.0/33", "1.2.3"} {
		if _, err := NewServer(echo(1), Options{ForwardedAllowIPs: []string{bad}}); err == nil {
			t.Errorf("entry %q accepted", bad)
		}
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLS: a TLS connection is https whatever X-Forwarded-Proto says.
func TestTLS(t *testing.T) {
	l := tls.NewListener(listen(t), &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	start(t, echo(1<<20), Options{ForwardedAllowIPs: []string{"127.0.0.1"}}, l)
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, body := roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n")
	if s := decode(t, body); s.Scheme != "https" || s.ForwardedProto != "http" {
		t.Errorf("Scheme %q ForwardedProto %q, want https (TLS) and http (trusted header)", s.Scheme, s.ForwardedProto)
	}
}

// TestUnixPeerTrusted: a proxy on a unix socket is trusted, as under gunicorn.
func TestUnixPeerTrusted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix sockets")
	}
	dir, err := os.MkdirTemp("", "httpd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	start(t, echo(1<<20), Options{}, l)
	_, body := do(t, "unix", path, "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
	if s := decode(t, body); s.Scheme != "https" || s.ForwardedProto != "https" {
		t.Errorf("Scheme %q ForwardedProto %q", s.Scheme, s.ForwardedProto)
	}
}

// TestBodies: chunked bodies have no declared length; a body over the limit
// reaches the core cut at limit+1, which answers 413 itself, and the
// connection stays usable.
func TestBodies(t *testing.T) {
	l := listen(t)
	start(t, echo(1024), Options{MaxRequestBytes: 1024}, l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)

	_, body := roundTrip(t, c, br, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if s := decode(t, body); s.ContentLength != -1 || s.Body != "hello world" {
		t.Errorf("chunked: ContentLength %d body %q", s.ContentLength, s.Body)
	}
	if s := decode(t, body); s.Header.Get("Transfer-Encoding") != "" {
		t.Error("Transfer-Encoding reached the core")
	}

	big := strings.Repeat("x", 200<<10)
	resp, body := roundTrip(t, c, br, fmt.Sprintf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
	if resp.StatusCode != 413 || body != "17" {
		t.Errorf("oversized: %d %q, want the core's 413 17", resp.StatusCode, body)
	}

	// Same connection: the unread rest was drained, not parsed as a request.
	_, body = roundTrip(t, c, br, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
	if s := decode(t, body); s.RequestURI != "/after" || s.ContentLength != 0 {
		t.Errorf("after: %+v", s)
	}
}

func TestHeaderLimit(t *testing.T) {
	l := listen(t)
	start(t, echo(1), Options{MaxHeaderBytes: 4096}, l)
	resp, _ := do(t, "tcp", l.Addr().String(), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: "+strings.Repeat("b", 8000)+"\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
	resp, _ = do(t, "tcp", l.Addr().String(), "GET /"+strings.Repeat("u", 3000)+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Errorf("a 3000-byte URL under the limit got %d", resp.StatusCode)
	}
	resp, _ = do(t, "tcp", l.Addr().String(), "GET /"+strings.Repeat("u", 8000)+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge && resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("an 8000-byte URL over the limit got %d, want 431 or 414", resp.StatusCode)
	}
}

func TestBrokenCore(t *testing.T) {
	l := listen(t)
	start(t, handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		switch r.RequestURI {
		case "/panic":
			panic("boom")
		case "/nil":
			return nil
		case "/zero":
			return &handlers.Response{Body: []byte("x")}
		}
		return &handlers.Response{Status: 200, Header: http.Header{
			"Content-Length": {"999"}, "Transfer-Encoding": {"chunked"}, "Content-Type": {"text/plain"},
		}, Body: []byte("abc")}
	}), Options{}, l)
	for _, p := range []string{"/panic", "/nil", "/zero"} {
		resp, body := do(t, "tcp", l.Addr().String(), "GET "+p+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 500 || body != "" || resp.Header.Get("Content-Type") != "" {
			t.Errorf("%s: %d %q %v, want a bare 500", p, resp.StatusCode, body, resp.Header)
		}
	}
	resp, body := do(t, "tcp", l.Addr().String(), "GET /ok HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || body != "abc" || resp.ContentLength != 3 {
		t.Errorf("/ok: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
}

// TestShutdownClosesIdleKeepAlive: an idle keep-alive connection does not
// hold Shutdown up.
func TestShutdownClosesIdleKeepAlive(t *testing.T) {
	l := listen(t)
	s, errCh := start(t, echo(1), Options{}, l)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := <-errCh; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("idle connection still open")
	}
}

func TestServeAfterShutdown(t *testing.T) {
	s, err := NewServer(echo(1), Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := listen(t)
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener left open")
	}
}

// TestSlowClientIsCutOff: a client that sends half a request and stalls,
// or keeps an idle connection open, does not hold it forever.
func TestSlowClientIsCutOff(t *testing.T) {
	l := listen(t)
	start(t, echo(1<<20), Options{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, l)
	for name, partial := range map[string]string{
		"stalled headers": "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ",
		"stalled body":    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc",
		"idle keep-alive": "",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if partial != "" {
				if _, err := c.Write([]byte(partial)); err != nil {
					t.Fatal(err)
				}
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			io.ReadAll(c) // returns when the server closes the connection
			if d := time.Since(start); d >= 5*time.Second {
				t.Fatalf("connection still open after %v", d)
			}
		})
	}
}

// TestRequestHeaders: the core gets every header under its canonical name,
// in any case the client wrote it, repeated values in order and kept
// apart, and no transport header.
func TestRequestHeaders(t *testing.T) {
	l := listen(t)
	start(t, echo(1<<20), Options{}, l)
	_, body := do(t, "tcp", l.Addr().String(), "GET /x HTTP/1.1\r\nHost: h\r\n"+
		"authorization: Hawk id=\"a\"\r\nx-if-modified-since: 12.34\r\nX-Custom-thing: 1\r\n"+
		"Accept: a\r\nX-Custom-Thing: 2\r\naccept: b\r\nUser-Agent: Firefox\r\nConnection: close\r\n\r\n")
	got := decode(t, body).Header
	want := http.Header{
		"Authorization":       {`Hawk id="a"`},
		"X-If-Modified-Since": {"12.34"},
		"X-Custom-Thing":      {"1", "2"},
		"Accept":              {"a", "b"},
		"User-Agent":          {"Firefox"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("headers\n%v\nwant\n%v", got, want)
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/storage/1.5/1000001/info/collections")
	ctx.Request.Header.SetHost("127.0.0.1:5000")
	ctx.Request.Header.Set("Authorization", `Hawk id="eyJub2RlIjoiaHR0cDovLzEyNy4wLjAuMTo1MDAwIiwidWlkIjoxMDAwMDAxfQ", ts="1700000000", nonce="AAAAAAAAAAA=", mac="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`)
	ctx.Request.Header.Set("X-If-Modified-Since", "1700000000.00")
	ctx.Request.Header.Set("User-Agent", "Firefox/140.0 FxSync/1.142.0.20250701000000.desktop")
	ctx.Request.Header.Set("Accept", "application/json")
	ctx.Request.Header.Set("Accept-Encoding", "gzip, deflate")
	b.ReportAllocs()
	for b.Loop() {
		buildRequest(&ctx, trustList{}, 1<<20)
	}
}
