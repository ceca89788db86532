package adaptertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/fcgi"
	"syncserver/handlers"
	"syncserver/httpd"
	"syncserver/internal/fcgiclient"
)

// echo is what the echo handler saw: the facts of one handlers.Request.
type echo struct {
	Method                  string
	Scheme                  string
	Host                    string
	RequestURI              string
	RemoteIP                string
	Header                  http.Header
	ContentLength           int64
	Body                    string
	BodyLen                 int
	ForwardedProto          string
	UntrustedForwardedProto string
}

// echoHandler answers with the Request it got, as JSON. X-Test-Status picks
// the status; X-Test-Empty asks for no body and no Content-Type.
var echoHandler = handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return &handlers.Response{Status: 599, Body: []byte(err.Error())}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	e := echo{
		Method: r.Method, Scheme: r.Scheme, Host: r.Host, RequestURI: r.RequestURI,
		RemoteIP: host, Header: r.Header, ContentLength: r.ContentLength,
		Body: string(b), BodyLen: len(b),
		ForwardedProto: r.ForwardedProto, UntrustedForwardedProto: r.UntrustedForwardedProto,
	}
	status := http.StatusOK
	if s := r.Header.Get("X-Test-Status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	resp := &handlers.Response{Status: status, Header: make(http.Header)}
	resp.Header["X-Multi"] = []string{"one", "two"}
	resp.Header.Set("X-Weave-Timestamp", "1700000000.00")
	if r.Header.Get("X-Test-Empty") != "" {
		return resp
	}
	resp.Header.Set("Content-Type", "application/json")
	resp.Body, _ = json.Marshal(e)
	return resp
})

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type fcgiServer struct {
	addr  string
	srv   *fcgi.Server
	errCh chan error
}

func startFCGI(t *testing.T, h handlers.Handler, opts fcgi.Options) *fcgiServer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	l, err := fcgi.Listen("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &fcgiServer{addr: l.Addr().String(), srv: fcgi.NewServer(h, opts), errCh: make(chan error, 1)}
	go func() { s.errCh <- s.srv.Serve(l) }()
	t.Cleanup(func() { s.srv.Close() })
	return s
}

type httpServer struct {
	addr  string
	srv   *httpd.Server
	errCh chan error
}

func startHTTPD(t *testing.T, h handlers.Handler, opts httpd.Options) *httpServer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	srv, err := httpd.NewServer(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httpServer{addr: l.Addr().String(), srv: srv, errCh: make(chan error, 1)}
	go func() { s.errCh <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

// clientRequest is one request as the client sends it on the wire.
type clientRequest struct {
	method string
	target string // raw request-target
	header [][2]string
	body   []byte
}

func (c clientRequest) get(name string) (string, bool) {
	for _, kv := range c.header {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}

// raw renders the HTTP/1.1 request bytes, headers exactly as listed.
func (c clientRequest) raw() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", c.method, c.target)
	for _, kv := range c.header {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	b.WriteString("\r\n")
	b.Write(c.body)
	return []byte(b.String())
}

// response is what a client of either front-end got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func doHTTP(t *testing.T, addr string, raw []byte) response {
	t.Helper()
	r, err := tryHTTP(addr, raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryHTTP sends raw on a new connection and reads one response; it is safe
// to call from any goroutine.
func tryHTTP(addr string, raw []byte) (response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return response{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func doFCGI(t *testing.T, addr string, params map[string]string, body []byte) response {
	t.Helper()
	r, err := tryFCGI(addr, params, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryFCGI is doFCGI for any goroutine.
func tryFCGI(addr string, params map[string]string, body []byte) (response, error) {
	status, h, b, err := fcgiclient.Do("tcp", addr, params, body)
	return response{Status: status, Header: h, Body: b}, err
}

// frontEnd turns a client request into the FastCGI parameters one web server
// configuration sends for it.
type frontEnd struct {
	name   string
	params func(c clientRequest) map[string]string
}

// The prefix the web server is configured with (location /ff-sync/, Alias,
// ProxyPass), as the snippets of syncserver.fcgi.conf use it.
const prefix = "/ff-sync"

func splitTarget(target string) (path, query string) {
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

func decoded(p string) string {
	d, err := url.PathUnescape(p)
	if err != nil {
		panic(err)
	}
	return d
}

// cgiName is the HTTP_* parameter name of a request header.
func cgiName(h string) string {
	return "HTTP_" + strings.ToUpper(strings.ReplaceAll(h, "-", "_"))
}

// nginxParams is Debian 12's nginx with `include fastcgi_params;` in
// `location /ff-sync/ { fastcgi_pass …; }`, as observed: raw
// REQUEST_URI, SCRIPT_NAME = DOCUMENT_URI = the whole decoded path, no
// PATH_INFO, every header as HTTP_* (Content-Type/-Length twice), HTTP_HOST
// from $host.
func nginxParams(c clientRequest) map[string]string {
	path, query := splitTarget(c.target)
	ct, _ := c.get("Content-Type")
	cl, _ := c.get("Content-Length")
	p := map[string]string{
		"QUERY_STRING": query, "REQUEST_METHOD": c.method,
		"CONTENT_TYPE": ct, "CONTENT_LENGTH": cl,
		"SCRIPT_NAME": decoded(path), "REQUEST_URI": c.target, "DOCUMENT_URI": decoded(path),
		"DOCUMENT_ROOT": "/var/www/html", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http",
		"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx/1.22.1",
		"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "51234", "REMOTE_USER": "",
		"SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_NAME": "_",
		"REDIRECT_STATUS": "200",
	}
	for _, kv := range c.header {
		p[cgiName(kv[0])] = kv[1]
	}
	return p
}

// apacheCommon is what ap_add_common_vars/ap_add_cgi_vars give both Apache
// modules: headers as HTTP_* except Content-Type/-Length (CONTENT_* instead)
// and Authorization, which is withheld; here it comes back through
// `SetEnvIf Authorization "(.*)" HTTP_AUTHORIZATION=$1`, which sends it empty
// when the client sent none (observed with Debian 12's Apache).
func apacheCommon(c clientRequest) map[string]string {
	ct, _ := c.get("Content-Type")
	cl, _ := c.get("Content-Length")
	_, query := splitTarget(c.target)
	p := map[string]string{
		"QUERY_STRING": query, "REQUEST_METHOD": c.method, "REQUEST_URI": c.target,
		"SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE": "Apache/2.4.71 (Debian)", "SERVER_NAME": "sync.example.com",
		"SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "51234",
		"DOCUMENT_ROOT": "/var/www/html", "CONTEXT_DOCUMENT_ROOT": "/var/www/html",
		"REQUEST_SCHEME": "http", "SERVER_ADMIN": "webmaster@localhost", "SERVER_SIGNATURE": "",
		"PATH":               "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HTTP_AUTHORIZATION": "",
	}
	if ct != "" {
		p["CONTENT_TYPE"] = ct
	}
	if cl != "" {
		p["CONTENT_LENGTH"] = cl
	}
	for _, kv := range c.header {
		switch strings.ToLower(kv[0]) {
		case "content-type", "content-length":
			continue
		}
		p[cgiName(kv[0])] = kv[1]
	}
	return p
}

// proxyFCGIParams is mod_proxy_fcgi with ProxyPass "/ff-sync/"
// "fcgi://127.0.0.1:P/", as observed: SCRIPT_NAME the whole decoded path, no
// PATH_INFO, SCRIPT_FILENAME proxy:fcgi://…, empty CONTEXT_PREFIX.
func proxyFCGIParams(c clientRequest) map[string]string {
	p := apacheCommon(c)
	path, _ := splitTarget(c.target)
	p["SCRIPT_NAME"] = decoded(path)
	p["SCRIPT_FILENAME"] = "proxy:fcgi://127.0.0.1:9000" + strings.TrimPrefix(path, prefix)
	p["CONTEXT_PREFIX"] = ""
	return p
}

// fcgidParams is mod_fcgid with Alias "/ff-sync/" ".../syncserver.fcgi/"
// (as observed): SCRIPT_NAME=/ff-sync, PATH_INFO the decoded rest,
// CONTENT_LENGTH=0 on a GET, HTTP_CONNECTION=close.
func fcgidParams(c clientRequest) map[string]string {
	p := apacheCommon(c)
	path, _ := splitTarget(c.target)
	rest := strings.TrimPrefix(path, prefix)
	p["SCRIPT_NAME"] = prefix
	p["PATH_INFO"] = decoded(rest)
	p["PATH_TRANSLATED"] = "/var/www/html" + decoded(rest)
	p["SCRIPT_FILENAME"] = "/usr/lib/cgi-bin/syncserver.fcgi"
	p["CONTEXT_PREFIX"] = prefix + "/"
	p["HTTP_CONNECTION"] = "close"
	if _, ok := p["CONTENT_LENGTH"]; !ok {
		p["CONTENT_LENGTH"] = "0"
	}
	return p
}

var frontEnds = []frontEnd{
	{"nginx", nginxParams},
	{"mod_proxy_fcgi", proxyFCGIParams},
	{"mod_fcgid", fcgidParams},
}

func decodeEcho(t *testing.T, r response) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("echo body %q: %v", r.Body, err)
	}
	return e
}

// transportHeaders differ between the front-ends by nature and are not
// compared: each transport stamps its own Date, and Connection describes the
// client's connection (the FastCGI client has no such header).
var transportHeaders = []string{"Date", "Connection"}

func withoutTransport(h http.Header) http.Header {
	h = h.Clone()
	for _, k := range transportHeaders {
		h.Del(k)
	}
	return h
}

func waitErr(t *testing.T, ch <-chan error, want error) {
	t.Helper()
	select {
	case err := <-ch:
		if !errors.Is(err, want) {
			t.Errorf("Serve returned %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return")
	}
}

// doFCGIOn sends one request on an open connection and ignores the outcome.
func doFCGIOn(c net.Conn, params map[string]string) {
	_, _ = fcgiclient.NewConn(c).Do(&fcgiclient.Request{Params: params})
}
