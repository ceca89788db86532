package adaptertest

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/fcgi"
	"syncserver/handlers"
	"syncserver/httpd"
)

const hawk = `Hawk id="dGVzdA==", ts="1700000000", nonce="Ny4xMjM=", mac="bWFj"`

// sameRequests are sent through both front-ends; every FastCGI flavour must
// give the core exactly what the standalone server gives it.
var sameRequests = []struct {
	name string
	req  clientRequest
	want echo // the fields checked against a fixed value (zero = not checked)
}{
	{
		name: "storage GET under prefix",
		req: clientRequest{method: "GET", target: "/ff-sync/storage/1.5/7/storage/col?ids=a%2Cb&full=1", header: [][2]string{
			{"Host", "sync.example.com"},
			{"User-Agent", "Firefox/140.0 FxSync/1.142.0.20250101.desktop"},
			{"Accept", "application/json"},
			{"Authorization", hawk},
			{"X-If-Modified-Since", "1700000000.00"},
			{"Connection", "close"},
		}},
		want: echo{Method: "GET", Scheme: "http", Host: "sync.example.com",
			RequestURI: "/ff-sync/storage/1.5/7/storage/col?ids=a%2Cb&full=1"},
	},
	{
		name: "percent-encoded path",
		req: clientRequest{method: "GET", target: "/ff-sync/st%6frage/1.5/7/storage/c%2Fo%20l?ids=a%2Cb&sort=newest", header: [][2]string{
			{"Host", "sync.example.com"},
			{"Authorization", hawk},
			{"Connection", "close"},
		}},
		want: echo{RequestURI: "/ff-sync/st%6frage/1.5/7/storage/c%2Fo%20l?ids=a%2Cb&sort=newest"},
	},
	{
		name: "POST with body",
		req: clientRequest{method: "POST", target: "/ff-sync/storage/1.5/7/storage/bookmarks?batch=true", header: [][2]string{
			{"Host", "sync.example.com"},
			{"Authorization", hawk},
			{"Content-Type", "application/json"},
			{"Content-Length", "42"},
			{"X-If-Unmodified-Since", "1700000000.00"},
			{"Connection", "close"},
		}, body: []byte(`[{"id":"abc","payload":"x","sortindex":1}]`)},
		want: echo{Method: "POST", ContentLength: 42, Body: `[{"id":"abc","payload":"x","sortindex":1}]`},
	},
	{
		name: "token with X-KeyID and no port in Host",
		req: clientRequest{method: "GET", target: "/ff-sync/token/1.0/sync/1.5", header: [][2]string{
			{"Host", "127.0.0.1"},
			{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
			{"X-KeyID", "1700000000000-qqo_HG5kMJcOD4wmNQgsYw"},
			{"Connection", "close"},
		}},
		want: echo{Host: "127.0.0.1", RequestURI: "/ff-sync/token/1.0/sync/1.5"},
	},
	{
		name: "no Authorization, trailing question mark",
		req: clientRequest{method: "GET", target: "/ff-sync/info/collections?", header: [][2]string{
			{"Host", "sync.example.com"},
			{"Connection", "close"},
		}},
		want: echo{RequestURI: "/ff-sync/info/collections?"},
	},
	{
		name: "client-sent X-Forwarded-Proto is not trusted",
		req: clientRequest{method: "GET", target: "/ff-sync/__heartbeat__", header: [][2]string{
			{"Host", "sync.example.com"},
			{"X-Forwarded-Proto", "https"},
			{"Connection", "close"},
		}},
		want: echo{Scheme: "http", UntrustedForwardedProto: "https"},
	},
	{
		name: "created",
		req: clientRequest{method: "PUT", target: "/ff-sync/storage/1.5/7/storage/col/abc", header: [][2]string{
			{"Host", "sync.example.com"},
			{"Content-Type", "application/json; charset=utf-8"},
			{"Content-Length", "2"},
			{"X-Test-Status", "201"},
			{"Connection", "close"},
		}, body: []byte("{}")},
		want: echo{Method: "PUT", Body: "{}", ContentLength: 2},
	},
	{
		name: "body over the limit is cut at limit+1",
		req: clientRequest{method: "POST", target: "/ff-sync/storage/1.5/7/storage/col", header: [][2]string{
			{"Host", "sync.example.com"},
			{"Content-Type", "application/json"},
			{"Content-Length", "5000"},
			{"Connection", "close"},
		}, body: bytes.Repeat([]byte("x"), 5000)},
		want: echo{ContentLength: 5000, BodyLen: testMaxBytes + 1},
	},
}

const testMaxBytes = 1024

// TestSameRequestFacts is the core promise of the two adapters: the same
// client request reaches the core as the same handlers.Request, and the same
// handlers.Response reaches the client the same way.
func TestSameRequestFacts(t *testing.T) {
	fs := startFCGI(t, echoHandler, fcgi.Options{MaxRequestBytes: testMaxBytes})
	hs := startHTTPD(t, echoHandler, httpd.Options{MaxRequestBytes: testMaxBytes})

	for _, tc := range sameRequests {
		t.Run(tc.name, func(t *testing.T) {
			direct := doHTTP(t, hs.addr, tc.req.raw())
			de := decodeEcho(t, direct)
			checkWant(t, "httpd", de, tc.want)
			for _, fe := range frontEnds {
				t.Run(fe.name, func(t *testing.T) {
					got := doFCGI(t, fs.addr, fe.params(tc.req), tc.req.body)
					fe := decodeEcho(t, got)
					checkWant(t, "fcgi", fe, tc.want)
					if !reflect.DeepEqual(fe, de) {
						t.Errorf("request facts differ\nfcgi:  %+v\nhttpd: %+v", fe, de)
					}
					if got.Status != direct.Status {
						t.Errorf("status: fcgi %d, httpd %d", got.Status, direct.Status)
					}
					if g, w := withoutTransport(got.Header), withoutTransport(direct.Header); !reflect.DeepEqual(g, w) {
						t.Errorf("response headers differ\nfcgi:  %v\nhttpd: %v", g, w)
					}
					if !bytes.Equal(got.Body, direct.Body) {
						t.Errorf("bodies differ\nfcgi:  %s\nhttpd: %s", got.Body, direct.Body)
					}
				})
			}
		})
	}
}

func checkWant(t *testing.T, who string, got, want echo) {
	t.Helper()
	check := func(field string, g, w any) {
		if !reflect.ValueOf(w).IsZero() && !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %s = %q, want %q", who, field, g, w)
		}
	}
	check("Method", got.Method, want.Method)
	check("Scheme", got.Scheme, want.Scheme)
	check("Host", got.Host, want.Host)
	check("RequestURI", got.RequestURI, want.RequestURI)
	check("ContentLength", got.ContentLength, want.ContentLength)
	check("Body", got.Body, want.Body)
	check("BodyLen", got.BodyLen, want.BodyLen)
	check("UntrustedForwardedProto", got.UntrustedForwardedProto, want.UntrustedForwardedProto)
	if got.ForwardedProto != "" {
		t.Errorf("%s: ForwardedProto = %q from an untrusted client", who, got.ForwardedProto)
	}
	for _, k := range []string{"Host", "Content-Length", "Connection"} {
		if _, ok := got.Header[k]; ok {
			t.Errorf("%s: transport header %s reached the core", who, k)
		}
	}
	if a, ok := got.Header["Authorization"]; ok && (len(a) != 1 || a[0] == "") {
		t.Errorf("%s: Authorization = %q", who, a)
	}
}

// TestSameResponses checks what the client gets for responses that are not
// plain JSON: no body and no Content-Type (net/http/fcgi must not sniff one),
// and a 304.
func TestSameResponses(t *testing.T) {
	fs := startFCGI(t, echoHandler, fcgi.Options{})
	hs := startHTTPD(t, echoHandler, httpd.Options{})
	for _, tc := range []struct {
		status int
		empty  bool // the core sets no body and no Content-Type
	}{{200, true}, {404, true}, {304, true}, {204, true}, {304, false}, {204, false}} {
		status := tc.status
		t.Run(strconv.Itoa(status)+map[bool]string{true: " empty", false: " with body"}[tc.empty], func(t *testing.T) {
			req := clientRequest{method: "GET", target: "/ff-sync/x", header: [][2]string{
				{"Host", "sync.example.com"},
				{"X-Test-Status", strconv.Itoa(status)},
				{"Connection", "close"},
			}}
			if tc.empty {
				req.header = append(req.header, [2]string{"X-Test-Empty", "1"})
			}
			direct := doHTTP(t, hs.addr, req.raw())
			got := doFCGI(t, fs.addr, nginxParams(req), nil)
			if got.Status != status || direct.Status != status {
				t.Errorf("status: fcgi %d, httpd %d, want %d", got.Status, direct.Status, status)
			}
			if ct, ok := got.Header["Content-Type"]; ok && (tc.empty || status == 304) {
				t.Errorf("fcgi sent Content-Type %q", ct)
			}
			if g, w := withoutTransport(got.Header), withoutTransport(direct.Header); !reflect.DeepEqual(g, w) {
				t.Errorf("response headers differ\nfcgi:  %v\nhttpd: %v", g, w)
			}
			if len(got.Body) != 0 || len(direct.Body) != 0 {
				t.Errorf("bodies: fcgi %q, httpd %q", got.Body, direct.Body)
			}
		})
	}
}

// TestScheme covers where each front-end takes the scheme from.
func TestScheme(t *testing.T) {
	fs := startFCGI(t, echoHandler, fcgi.Options{})
	base := clientRequest{method: "GET", target: "/ff-sync/__heartbeat__", header: [][2]string{
		{"Host", "sync.example.com"},
		{"X-Forwarded-Proto", "https"},
		{"Connection", "close"},
	}}

	t.Run("fcgi HTTPS=on", func(t *testing.T) {
		p := proxyFCGIParams(base)
		p["HTTPS"] = "on"
		p["REQUEST_SCHEME"] = "https"
		e := decodeEcho(t, doFCGI(t, fs.addr, p, nil))
		if e.Scheme != "https" || e.ForwardedProto != "" {
			t.Errorf("Scheme %q ForwardedProto %q, want https and none", e.Scheme, e.ForwardedProto)
		}
	})
	t.Run("fcgi REQUEST_SCHEME=https alone", func(t *testing.T) {
		p := nginxParams(base)
		p["REQUEST_SCHEME"] = "https"
		if e := decodeEcho(t, doFCGI(t, fs.addr, p, nil)); e.Scheme != "https" {
			t.Errorf("Scheme %q, want https", e.Scheme)
		}
	})
	t.Run("fcgi X-Forwarded-Proto only", func(t *testing.T) {
		e := decodeEcho(t, doFCGI(t, fs.addr, nginxParams(base), nil))
		if e.Scheme != "http" || e.ForwardedProto != "" || e.UntrustedForwardedProto != "https" {
			t.Errorf("got %+v, want http with the header untrusted", e)
		}
	})

	for _, tc := range []struct {
		name      string
		allow     []string
		xfp       string
		scheme    string
		forwarded string
		untrusted string
	}{
		{"httpd untrusted peer", []string{"10.0.0.1", "192.168.0.0/16"}, "https", "http", "", "https"},
		{"httpd no trust list", nil, "https", "http", "", "https"},
		{"httpd trusted IP", []string{"127.0.0.1"}, "https", "https", "https", ""},
		{"httpd trusted CIDR", []string{"10.0.0.0/8", "127.0.0.0/8"}, "HTTPS", "https", "https", ""},
		{"httpd trusted star", []string{"*"}, "https, http", "https", "https", ""},
		{"httpd trusted says http", []string{"127.0.0.1"}, "http", "http", "http", ""},
		{"httpd trusted nonsense", []string{"127.0.0.1"}, "gopher", "http", "", "gopher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := startHTTPD(t, echoHandler, httpd.Options{ForwardedAllowIPs: tc.allow})
			req := base
			req.header = [][2]string{{"Host", "sync.example.com"}, {"X-Forwarded-Proto", tc.xfp}, {"Connection", "close"}}
			e := decodeEcho(t, doHTTP(t, hs.addr, req.raw()))
			if e.Scheme != tc.scheme || e.ForwardedProto != tc.forwarded || e.UntrustedForwardedProto != tc.untrusted {
				t.Errorf("Scheme %q ForwardedProto %q Untrusted %q, want %q %q %q",
					e.Scheme, e.ForwardedProto, e.UntrustedForwardedProto, tc.scheme, tc.forwarded, tc.untrusted)
			}
		})
	}
}

// TestEmptyAuthorizationDropped: Apache's SetEnvIf workaround sends an empty
// HTTP_AUTHORIZATION when the client sent none; the core must see none.
func TestEmptyAuthorizationDropped(t *testing.T) {
	fs := startFCGI(t, echoHandler, fcgi.Options{})
	hs := startHTTPD(t, echoHandler, httpd.Options{})
	req := clientRequest{method: "GET", target: "/ff-sync/info/collections", header: [][2]string{
		{"Host", "sync.example.com"}, {"Authorization", ""}, {"Connection", "close"},
	}}
	p := proxyFCGIParams(req)
	if v, ok := p["HTTP_AUTHORIZATION"]; !ok || v != "" {
		t.Fatalf("test setup: HTTP_AUTHORIZATION = %q, %v", v, ok)
	}
	for name, e := range map[string]echo{
		"fcgi":  decodeEcho(t, doFCGI(t, fs.addr, p, nil)),
		"httpd": decodeEcho(t, doHTTP(t, hs.addr, req.raw())),
	} {
		if v, ok := e.Header["Authorization"]; ok {
			t.Errorf("%s: Authorization %q reached the core", name, v)
		}
	}
}

// slowHandler signals when it starts and answers after 500 ms.
func slowHandler(started chan<- struct{}) handlers.Handler {
	var once sync.Once
	return handlers.HandlerFunc(func(ctx context.Context, r *handlers.Request) *handlers.Response {
		once.Do(func() { close(started) })
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return &handlers.Response{Status: http.StatusServiceUnavailable}
		}
		resp := &handlers.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}}}
		resp.Body = []byte("done")
		return resp
	})
}

// TestGracefulDrain: a request under way when Shutdown is called still gets
// its 200, while new connections are refused from the moment Shutdown starts.
func TestGracefulDrain(t *testing.T) {
	req := clientRequest{method: "GET", target: "/ff-sync/slow", header: [][2]string{
		{"Host", "sync.example.com"}, {"Connection", "close"},
	}}
	type server struct {
		addr     string
		shutdown func(context.Context) error
		serveErr chan error
		do       func() (response, error)
	}
	for name, start := range map[string]func(t *testing.T, h handlers.Handler) server{
		"fcgi": func(t *testing.T, h handlers.Handler) server {
			s := startFCGI(t, h, fcgi.Options{})
			return server{s.addr, s.srv.Shutdown, s.errCh, func() (response, error) {
				return tryFCGI(s.addr, nginxParams(req), nil)
			}}
		},
		"httpd": func(t *testing.T, h handlers.Handler) server {
			s := startHTTPD(t, h, httpd.Options{})
			return server{s.addr, s.srv.Shutdown, s.errCh, func() (response, error) {
				return tryHTTP(s.addr, req.raw())
			}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			started := make(chan struct{})
			s := start(t, slowHandler(started))
			type result struct {
				resp response
				err  error
			}
			respCh := make(chan result, 1)
			go func() {
				r, err := s.do()
				respCh <- result{r, err}
			}()
			<-started

			shutdownErr := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				shutdownErr <- s.shutdown(ctx)
			}()
			refused := false
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				c, err := net.DialTimeout("tcp", s.addr, time.Second)
				if err != nil {
					refused = true
					break
				}
				c.Close()
			}
			if !refused {
				t.Fatal("new connections still accepted after Shutdown")
			}
			select {
			case <-shutdownErr:
				t.Fatal("Shutdown returned before the in-flight request finished")
			default:
			}

			var resp response
			select {
			case r := <-respCh:
				if r.err != nil {
					t.Fatalf("in-flight request failed: %v", r.err)
				}
				resp = r.resp
			case <-time.After(15 * time.Second):
				t.Fatal("in-flight request got no answer")
			}
			if resp.Status != http.StatusOK || string(resp.Body) != "done" {
				t.Errorf("in-flight request got %d %q, want 200 done", resp.Status, resp.Body)
			}
			select {
			case err := <-shutdownErr:
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Shutdown did not return after the drain")
			}
			waitErr(t, s.serveErr, http.ErrServerClosed)
			if c, err := net.Dial("tcp", s.addr); err == nil {
				c.Close()
				t.Error("connection accepted after Shutdown")
			}
		})
	}
}

// TestShutdownTimeout: when the drain outlasts ShutdownTimeout, Shutdown
// returns the deadline error and the handlers' contexts are cancelled.
func TestShutdownTimeout(t *testing.T) {
	blocked := handlers.HandlerFunc(func(ctx context.Context, r *handlers.Request) *handlers.Response {
		select {
		case <-ctx.Done():
			return &handlers.Response{Status: http.StatusServiceUnavailable}
		case <-time.After(10 * time.Second):
			return &handlers.Response{Status: http.StatusOK}
		}
	})
	req := clientRequest{method: "GET", target: "/x", header: [][2]string{{"Host", "h"}, {"Connection", "close"}}}
	for name, start := range map[string]func(t *testing.T) (string, func(context.Context) error){
		"fcgi": func(t *testing.T) (string, func(context.Context) error) {
			s := startFCGI(t, blocked, fcgi.Options{ShutdownTimeout: 200 * time.Millisecond})
			return s.addr, s.srv.Shutdown
		},
		"httpd": func(t *testing.T) (string, func(context.Context) error) {
			s := startHTTPD(t, blocked, httpd.Options{ShutdownTimeout: 200 * time.Millisecond})
			return s.addr, s.srv.Shutdown
		},
	} {
		t.Run(name, func(t *testing.T) {
			addr, shutdown := start(t)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if name == "fcgi" {
				go doFCGIOn(c, nginxParams(req))
			} else {
				c.Write(req.raw())
			}
			time.Sleep(100 * time.Millisecond) // let the request reach the handler
			begin := time.Now()
			err = shutdown(context.Background())
			if err != context.DeadlineExceeded {
				t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(begin); d > 3*time.Second {
				t.Errorf("Shutdown took %v", d)
			}
		})
	}
}

// TestHeaderCaseAndDuplicates: header names are canonical in both, and a
// header repeated by the client keeps all its values on httpd (FastCGI
// parameters cannot carry a repeated name).
func TestHeaderCaseAndDuplicates(t *testing.T) {
	hs := startHTTPD(t, echoHandler, httpd.Options{})
	req := clientRequest{method: "GET", target: "/x", header: [][2]string{
		{"host", "h"}, {"x-keyid", "k"}, {"X-Weave-Records", "1"}, {"X-Weave-Records", "2"}, {"Connection", "close"},
	}}
	e := decodeEcho(t, doHTTP(t, hs.addr, req.raw()))
	if got := e.Header["X-Keyid"]; !reflect.DeepEqual(got, []string{"k"}) {
		t.Errorf("X-Keyid = %q", got)
	}
	if got := e.Header["X-Weave-Records"]; !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Errorf("X-Weave-Records = %q", got)
	}
	if e.Host != "h" {
		t.Errorf("Host = %q", e.Host)
	}
	for k := range e.Header {
		if k != http.CanonicalHeaderKey(k) {
			t.Errorf("non-canonical key %q", k)
		}
		if strings.EqualFold(k, "host") {
			t.Errorf("Host left in Header")
		}
	}
}
