// Package httpd is the standalone HTTP front-end, on github.com/valyala/fasthttp.
//
// It only moves facts: the request is copied into a handlers.Request and the
// handlers.Response is copied back. Routing, authentication, limits and error
// bodies live in handlers, so this front-end and the FastCGI one (package
// fcgi) behave the same by construction.
//
// Trust: X-Forwarded-Proto is honoured only from peers listed in
// Options.ForwardedAllowIPs (a reverse proxy that terminates TLS); from
// anyone else it is passed on as Request.UntrustedForwardedProto, for the
// core to explain a scheme mismatch in its log.
package httpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"syncserver/handlers"
)

// Defaults applied to zero Options fields.
const (
	// DefaultMaxRequestBytes matches fcgi.DefaultMaxRequestBytes: 2 MiB of
	// payload plus 4 KiB for the JSON around it.
	DefaultMaxRequestBytes = 2<<20 + 4<<10
	// DefaultMaxHeaderBytes bounds the request line plus headers; Sync
	// requests with long ids= lists stay far below it.
	DefaultMaxHeaderBytes = 16 << 10
	DefaultReadTimeout    = 60 * time.Second
	DefaultWriteTimeout   = 60 * time.Second
	DefaultIdleTimeout    = 120 * time.Second
)

// Options configures the standalone HTTP front-end.
type Options struct {
	// MaxRequestBytes bounds how much of a request body is read: the core
	// sees at most MaxRequestBytes+1 bytes, enough to know the body is too
	// large and answer 413 itself. Zero or less selects DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxHeaderBytes bounds the request line and headers together; a request
	// over it gets fasthttp's 431. Zero selects DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ReadTimeout bounds reading a whole request, body included; WriteTimeout
	// writing a response; IdleTimeout waiting for the next request on a
	// keep-alive connection. Zero selects the Default… value, negative
	// disables the timeout.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds Shutdown in addition to its context; zero leaves
	// the bound to the context alone.
	ShutdownTimeout time.Duration
	// ForwardedAllowIPs lists the peers whose X-Forwarded-Proto is trusted:
	// IPs, CIDRs, or "*" for any. Empty trusts no TCP peer. A peer on a unix
	// socket is always trusted.
	ForwardedAllowIPs []string
	// Logger receives the front-end's own events. Nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) maxRequestBytes() int64 {
	if o.MaxRequestBytes <= 0 {
		return DefaultMaxRequestBytes
	}
	return o.MaxRequestBytes
}

func timeout(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0 // fasthttp: unlimited
	}
	return d
}

// Server serves a handlers.Handler over HTTP/1.x.
type Server struct {
	srv      *fasthttp.Server
	h        handlers.Handler
	trust    trustList
	maxBytes int64
	opts     Options
	log      *slog.Logger

	base       context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
}

// NewServer makes a Server for h; it fails only on a malformed
// ForwardedAllowIPs entry.
func NewServer(h handlers.Handler, opts Options) (*Server, error) {
	trust, err := parseTrustList(opts.ForwardedAllowIPs)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		h:          h,
		trust:      trust,
		maxBytes:   opts.maxRequestBytes(),
		opts:       opts,
		log:        log,
		base:       base,
		cancelBase: cancel,
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[net.Conn]struct{}),
	}
	maxHeader := opts.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	s.srv = &fasthttp.Server{
		Handler: s.serve,
		// ReadBufferSize is also fasthttp's limit on the request line plus
		// headers (431 beyond it).
		ReadBufferSize: maxHeader,
		ReadTimeout:    timeout(opts.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:   timeout(opts.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:    timeout(opts.IdleTimeout, DefaultIdleTimeout),
		// With StreamRequestBody the handler runs once the headers are in
		// and the body is read as the core reads it, so the core answers an
		// oversized body with its own 413 whatever the size, instead of
		// fasthttp's plain-text one. MaxRequestBodySize is then only the
		// amount buffered before the handler starts.
		StreamRequestBody:  true,
		MaxRequestBodySize: int(min(s.maxBytes+1, 1<<30)),
		// The core sets Content-Type on every body and nothing else may be
		// added or rewritten behind its back.
		NoDefaultContentType:          true,
		NoDefaultServerHeader:         true,
		DisableHeaderNamesNormalizing: false,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{log},
		ErrorHandler:                  errorResponse,
		ConnState:                     s.connState,
	}
	return s, nil
}

// ListenAndServe listens on the TCP address addr ("127.0.0.1:5000",
// ":5000") and serves until Shutdown or Close.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve serves connections accepted on l until Shutdown or Close, and then
// returns http.ErrServerClosed. Any other error is the listener's. l is closed
// when Serve returns. A TLS listener (crypto/tls) makes requests https.
func (s *Server) Serve(l net.Listener) error {
	// Both Shutdown and fasthttp close the listener; the second Close must
	// not report the first one as an error.
	l = &onceCloseListener{Listener: l}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	err := s.srv.Serve(l)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return http.ErrServerClosed
	}
	if err == nil {
		// fasthttp returns nil when the listener is closed under it.
		err = net.ErrClosed
	}
	return err
}

// Shutdown stops accepting connections, lets the requests under way finish
// (their responses carry Connection: close), closes idle keep-alive
// connections and returns nil once no connection is left. If ctx ends first,
// or Options.ShutdownTimeout passes, the remaining connections are closed, the
// contexts of the handlers still running are cancelled, and the context's
// error is returned. Serve returns http.ErrServerClosed as soon as Shutdown
// starts.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.opts.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.ShutdownTimeout)
		defer cancel()
	}
	lnErr := s.closeListeners()
	err := s.srv.ShutdownWithContext(ctx)
	if err != nil && ctx.Err() != nil {
		n := s.closeAllConns()
		s.cancelBase()
		s.log.Warn("httpd: shutdown timed out; connections closed", "conns", n)
		return ctx.Err()
	}
	if lnErr != nil {
		return lnErr
	}
	return err
}

// Close stops the server at once: listeners and connections are closed and
// the contexts of running handlers are cancelled.
func (s *Server) Close() error {
	err := s.closeListeners()
	s.closeAllConns()
	s.cancelBase()
	return err
}

// closeListeners closes the listeners before fasthttp knows of Shutdown, so
// that a Serve whose listener fasthttp has not registered yet stops too.
func (s *Server) closeListeners() error {
	s.mu.Lock()
	s.closing = true
	ls := make([]net.Listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	var err error
	for _, l := range ls {
		if cerr := l.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	}
	return err
}

func (s *Server) closeAllConns() int {
	s.mu.Lock()
	all := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	return len(all)
}

// connState tracks connections so that a Shutdown that runs out of time can
// close them; fasthttp only closes idle ones.
func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case fasthttp.StateNew:
		s.conns[c] = struct{}{}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		delete(s.conns, c)
	}
}

// serve is the fasthttp handler. The core gets the server's context, not the
// RequestCtx: fasthttp ends a RequestCtx's Done as soon as Shutdown starts,
// which would cancel the very requests Shutdown lets finish.
func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	defer func() {
		// fasthttp does not recover: a panic would end the process. The core
		// has its own recovering wrapper; this is the last resort.
		if v := recover(); v != nil {
			s.log.Error("httpd: panic serving request", "panic", v, "method", string(ctx.Method()))
			writeResponse(ctx, nil)
		}
	}()
	req := buildRequest(ctx, s.trust, s.maxBytes)
	writeResponse(ctx, s.h.Serve(s.base, req))
}

// errorResponse answers a request fasthttp could not read, which the core
// never sees: headers over MaxHeaderBytes (431), a client too slow to send
// them (408), anything malformed (400). Status and text are fasthttp's own;
// the headers every response carries are added.
func errorResponse(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		ctx.Error("Too big request header", http.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		ctx.Error("Request timeout", http.StatusRequestTimeout)
	default:
		ctx.Error("Error when parsing request", http.StatusBadRequest)
	}
	h := make(http.Header)
	handlers.SetSecurityHeaders(h)
	for k, vs := range h {
		for _, v := range vs {
			ctx.Response.Header.Add(k, v)
		}
	}
}

// fasthttpLogger sends fasthttp's own messages (failed connections, mostly)
// to slog.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Info("httpd: " + fmt.Sprintf(format, args...))
}

// onceCloseListener makes Close idempotent.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
