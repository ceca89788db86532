// Package fcgi is the FastCGI front-end: it serves handlers.Handler through
// Go's net/http/fcgi behind nginx, Apache mod_proxy_fcgi or Apache mod_fcgid.
//
// It only moves facts: the request the web server describes in FastCGI
// parameters is copied into a handlers.Request, and the handlers.Response is
// copied back. Routing, authentication, limits and error bodies live in
// handlers, so this front-end and the standalone HTTP one (package httpd)
// behave the same by construction.
//
// Trust: under FastCGI a header the client sent reaches the application
// unchanged (nginx and Apache pass X-Forwarded-Proto through as
// HTTP_X_FORWARDED_PROTO), and REMOTE_ADDR is the end client, not the web
// server. So the scheme comes only from the parameters the web server itself
// sets, HTTPS and REQUEST_SCHEME; X-Forwarded-Proto is never trusted here.
package fcgi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/fcgi"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"syncserver/handlers"
)

// DefaultMaxRequestBytes is used when Options.MaxRequestBytes is not positive.
// It matches httpd.DefaultMaxRequestBytes: 2 MiB of payload plus 4 KiB for
// the JSON around it, the legacy server's max_request_bytes.
const DefaultMaxRequestBytes = 2<<20 + 4<<10

// Options configures the FastCGI front-end.
type Options struct {
	// MaxRequestBytes bounds how much of a request body is read: the core
	// sees at most MaxRequestBytes+1 bytes, enough to know the body is too
	// large and answer 413 itself. Zero or less selects DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// ReadTimeout bounds reading a request's body, from the moment the
	// web server has sent the request's parameters ([server:main]
	// read_timeout; zero or less: no bound). Web servers bound their
	// clients themselves, but one that streams a stalled upload through
	// (mod_proxy_fcgi does) would otherwise hold the core's body budget
	// for as long as its client likes. The core answers 400 when it passes.
	ReadTimeout time.Duration
	// ShutdownTimeout bounds Server.Shutdown in addition to its context;
	// zero leaves the bound to the context alone.
	ShutdownTimeout time.Duration
	// Logger receives the front-end's own events (recovered panics, accept
	// errors, forced closes). Nil means slog.Default().
	Logger *slog.Logger
	// SocketMode is the permission of a unix socket created by Listen; zero
	// selects 0660 so that a web server in SocketGroup can connect.
	SocketMode os.FileMode
	// SocketGroup, when set, is the group (name or numeric id) a unix socket
	// created by Listen is given, typically www-data.
	SocketGroup string
}

func (o Options) maxRequestBytes() int64 {
	if o.MaxRequestBytes <= 0 {
		return DefaultMaxRequestBytes
	}
	return o.MaxRequestBytes
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// adapter is the http.Handler that net/http/fcgi calls.
type adapter struct {
	h           handlers.Handler
	maxBytes    int64
	readTimeout time.Duration
	log         *slog.Logger
	dates       dateCache // the Date header of the current second
}

// NewHandler adapts h to the *http.Request values net/http/fcgi produces. It
// is meant for fcgi.Serve; Server wraps it with graceful shutdown.
func NewHandler(h handlers.Handler, opts Options) http.Handler {
	return newAdapter(h, opts)
}

func newAdapter(h handlers.Handler, opts Options) *adapter {
	return &adapter{h: h, maxBytes: opts.maxRequestBytes(), readTimeout: opts.ReadTimeout, log: opts.logger()}
}

func (a *adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.serve(r.Context(), w, r)
}

// serve answers r with the core, which runs under ctx.
func (a *adapter) serve(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	defer func() {
		// net/http/fcgi does not recover: a panic would take down every
		// request in the process. The core has its own recovering wrapper;
		// this is the last resort for anything that escapes it.
		if v := recover(); v != nil {
			a.log.Error("fcgi: panic serving request", "panic", v, "method", r.Method)
			a.writeResponse(w, nil)
		}
	}()
	growStack()
	if a.readTimeout > 0 && mayWait(r.Body) {
		d := newDeadlineBody(r.Body, a.readTimeout)
		defer d.stop()
		r.Body = d
	}
	req := buildRequest(r, a.maxBytes)
	a.writeResponse(w, a.h.Serve(ctx, req))
}

// mayWait reports whether reading body can wait on the web server.
// net/http/fcgi gives a request a pipe fed by the connection's reader when
// the web server sends body bytes, and an empty reader when it sends none
// (a GET): only the pipe needs the read_timeout timer.
func mayWait(body io.ReadCloser) bool {
	switch body.(type) {
	case nil:
		return false
	case *io.PipeReader:
		return true
	}
	_, empty := body.(io.WriterTo) // net/http/fcgi's empty body: io.NopCloser(strings.Reader)
	return !empty
}

// growStack grows the stack of the goroutine net/http/fcgi starts for each
// request to what the core needs, in one step taken where it is cheap. The
// goroutine starts at the runtime's smallest size (2 KiB; the adaptive
// start averages the used stacks of all goroutines, mostly idle
// connection readers) and net/http/fcgi grows it to 4 KiB before calling
// us; a 304 poll then grew it to 8 KiB in the core, about 3 KiB deep
// (measured with a probe on runtime.copystack behind nginx). Each growth
// copies the stack and walks every frame on it to adjust pointers, so the
// deeper it happens the more it costs. One frame of stackReserve here,
// with few frames below it, makes the runtime double to 8 KiB at once; a
// goroutine that already has the room only zeroes the frame.
//
//go:noinline
func growStack() {
	var reserve [stackReserve]byte
	keep(&reserve)
}

//go:noinline
func keep(*[stackReserve]byte) {}

// stackReserve is chosen so that a 4 KiB stack doubles to 8 KiB, the size
// that fits a poll, and stays within the runtime's per-CPU stack caches.
const stackReserve = 5 << 10

// errReadTimeout is what reading a body returns once ReadTimeout has passed.
var errReadTimeout = errors.New("fcgi: request body not received within read_timeout")

// deadlineBody is a request body that stops at a deadline. net/http/fcgi's
// body is a pipe fed by the connection's reader, which has no deadline of
// its own; closing the pipe at the deadline ends a Read waiting on it, and
// the connection's reader then drops what still arrives for the request.
type deadlineBody struct {
	io.ReadCloser
	timer   *time.Timer
	expired atomic.Bool
}

func newDeadlineBody(body io.ReadCloser, timeout time.Duration) *deadlineBody {
	d := &deadlineBody{ReadCloser: body}
	d.timer = time.AfterFunc(timeout, func() {
		d.expired.Store(true)
		body.Close()
	})
	return d
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if err != nil && d.expired.Load() {
		err = errReadTimeout
	}
	return n, err
}

// stop disarms the deadline once the handler is done with the body.
func (d *deadlineBody) stop() { d.timer.Stop() }

// buildRequest copies the facts of r into a handlers.Request.
func buildRequest(r *http.Request, maxBytes int64) *handlers.Request {
	h := r.Header
	if h == nil {
		h = make(http.Header)
	}
	handlers.CleanHeader(h)
	// CONTENT_TYPE becomes Content-Type and nginx also sends it as
	// HTTP_CONTENT_TYPE, so it arrives twice; the first is CONTENT_TYPE.
	if ct := h["Content-Type"]; len(ct) > 1 {
		h["Content-Type"] = ct[:1]
	}
	untrusted := h.Get("X-Forwarded-Proto")

	req := &handlers.Request{
		Method:                  r.Method,
		Scheme:                  scheme(r),
		Host:                    r.Host,
		RequestURI:              requestURI(r),
		Header:                  h,
		RemoteAddr:              r.RemoteAddr,
		UntrustedForwardedProto: untrusted,
		FastCGI:                 true,
		ServerSoftware:          fcgi.ProcessEnv(r)["SERVER_SOFTWARE"],
	}
	req.ContentLength, req.Body = body(r, maxBytes)
	return req
}

// scheme is "https" when the web server says the client used TLS: HTTPS=on
// (net/http/fcgi turns it into a non-nil r.TLS) or REQUEST_SCHEME=https.
func scheme(r *http.Request) string {
	if r.TLS != nil || strings.EqualFold(fcgi.ProcessEnv(r)["REQUEST_SCHEME"], "https") {
		return "https"
	}
	return "http"
}

// requestURI rebuilds the raw request-target. net/http/fcgi leaves
// r.RequestURI empty but parses REQUEST_URI (the raw target nginx and Apache
// send) into r.URL, whose RawPath, RawQuery and ForceQuery keep the escaped
// form: "%2C" in the query, "%6f" in the path and a trailing "?" survive byte
// for byte. Two things cannot be recovered: path characters that url.URL
// re-escapes because they are not valid in an escaped path (a raw `"`, `{`,
// `|`…; clients that sign with Hawk escape them anyway), and an empty
// fragment ("#" with nothing after it). When the web server sends no
// REQUEST_URI, net/http/fcgi falls back to SCRIPT_NAME+PATH_INFO, which are
// decoded, so the path is the re-escaped decoded one.
func requestURI(r *http.Request) string {
	u := r.URL
	if u == nil {
		return "/"
	}
	s := u.RequestURI()
	if u.Fragment != "" {
		s += "#" + u.EscapedFragment()
	}
	return s
}

// body returns the declared length and the body limited to maxBytes+1 bytes.
// CONTENT_LENGTH is the only length FastCGI gives, and net/http/fcgi cannot
// tell "0" from "absent": both leave r.ContentLength at 0. A body is present
// anyway when the web server streams one without a length, so for a zero
// length one byte is peeked (it never waits on the client: net/http/fcgi
// makes a non-empty body only once the web server has sent body bytes) and a
// body found that way is reported with length -1, unknown.
func body(r *http.Request, maxBytes int64) (int64, io.Reader) {
	if r.Body == nil {
		return 0, http.NoBody
	}
	if r.ContentLength > 0 {
		return r.ContentLength, io.LimitReader(r.Body, maxBytes+1)
	}
	var one [1]byte
	n, err := io.ReadFull(r.Body, one[:])
	if n == 0 {
		if err != nil && err != io.EOF {
			// The read failed (the web server aborted the request): let the
			// core meet the error when it reads the body.
			return -1, errReader{err}
		}
		return 0, http.NoBody
	}
	return -1, io.MultiReader(bytes.NewReader(one[:n]), io.LimitReader(r.Body, maxBytes))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// writeResponse copies resp out: headers, then status, then body. A nil
// response or an impossible status is a bug in the core; it becomes a bare
// 500 rather than a panic inside net/http/fcgi.
func (a *adapter) writeResponse(w http.ResponseWriter, resp *handlers.Response) {
	if resp == nil || resp.Status < 100 || resp.Status > 999 {
		resp = &handlers.Response{Status: http.StatusInternalServerError, Header: make(http.Header)}
		handlers.SetSecurityHeaders(resp.Header)
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if transportHeader(k) {
			continue
		}
		// Shared, not copied: net/http/fcgi replaces or deletes header
		// values but never writes into a slice it was given, and the core
		// is done with resp.
		h[k] = vs
	}
	if _, ok := h["Date"]; !ok {
		// net/http/fcgi would format the time for every response.
		h["Date"] = a.dates.now()
	}
	// net/http/fcgi sniffs a Content-Type when none is set (JSON would go
	// out as text/plain). The core sets Content-Type on every body; when it
	// sets none, a present-but-nil entry stops the sniffing and writes no
	// header, which is what the httpd front-end sends too.
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	noBody := resp.Status < 200 || resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified
	if !noBody {
		// The web server would otherwise fall back to chunked encoding or
		// closing the connection; fasthttp sends Content-Length as well.
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	w.WriteHeader(resp.Status)
	if !noBody && len(resp.Body) > 0 {
		writeBody(w, resp.Body)
	}
}

// bodyChunk is the most of a body handed to net/http/fcgi at once. Given a
// whole large body, net/http/fcgi sends it in records of 64 KiB, and each
// connection's record buffer grows to that size and keeps it for as long
// as the web server keeps the connection open, which is one per request it
// has in flight: under 32 clients reading 1,000-record pages that was 3 MB
// of a heap that memory_limit holds to about 17 MB, and the garbage
// collector ran without pause. In chunks of bodyChunk, each flushed, the
// buffers stay at that size, for a few more system calls per large body.
const bodyChunk = 16 << 10

// writeBody writes body in flushed chunks of at most bodyChunk bytes; the
// last one is flushed by net/http/fcgi with the end of the response.
func writeBody(w http.ResponseWriter, body []byte) {
	f, _ := w.(http.Flusher)
	for len(body) > 0 {
		n := min(len(body), bodyChunk)
		if _, err := w.Write(body[:n]); err != nil {
			return // the web server went away: nothing to do
		}
		body = body[n:]
		if len(body) > 0 && f != nil {
			f.Flush()
		}
	}
}

// transportHeader reports response headers that belong to the transport, not
// to the core: the framing is computed from the body, and the connection is
// the web server's business.
func transportHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Status":
		return true
	}
	return false
}

// dateCache formats the Date header once a second instead of once a
// response. The value is an http.Header slice shared by every response of
// that second, so it must never be written into; net/http/fcgi only reads it.
type dateCache struct {
	cur atomic.Pointer[dateValue]
}

type dateValue struct {
	sec int64
	h   []string
}

func (c *dateCache) now() []string {
	t := time.Now()
	if d := c.cur.Load(); d != nil && d.sec == t.Unix() {
		return d.h
	}
	d := &dateValue{sec: t.Unix(), h: []string{t.UTC().Format(http.TimeFormat)}}
	c.cur.Store(d)
	return d.h
}

// requestContext is the context the core runs under: the server's lifetime
// (base), which Close and a Shutdown out of time end. net/http/fcgi's
// request contexts are never cancelled and their values (fcgi.ProcessEnv)
// are read here, from r, not by the core, so base serves as it is, with no
// context made per request; a cancellable one (a caller other than
// net/http/fcgi) is merged with base.
func requestContext(r *http.Request, base context.Context) (context.Context, context.CancelFunc) {
	if r.Context().Done() == nil {
		return base, func() {}
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(base, cancel)
	return ctx, func() { stop(); cancel() }
}
