package fcgi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/fcgi"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"syncserver/handlers"
)

// Server serves a handlers.Handler over FastCGI with a graceful shutdown,
// which net/http/fcgi lacks: Shutdown stops accepting, lets the requests under
// way finish and their responses reach the web server, then closes the
// connections the web server keeps open, each at a request boundary and
// lingering (trackedConn.drain).
type Server struct {
	handler *adapter
	opts    Options
	log     *slog.Logger

	base       context.Context // ends when Close gives up on in-flight requests
	cancelBase context.CancelFunc

	handlers atomic.Int64 // handler calls under way

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*trackedConn]struct{}
}

// NewServer makes a Server for h. Nothing is served until Serve.
func NewServer(h handlers.Handler, opts Options) *Server {
	base, cancel := context.WithCancel(context.Background())
	return &Server{
		handler:    newAdapter(h, opts),
		opts:       opts,
		log:        opts.logger(),
		base:       base,
		cancelBase: cancel,
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[*trackedConn]struct{}),
	}
}

// ServeHTTP runs the adapter, counting the call so Shutdown can wait for it.
// Its context ends when the request's does or when Close (or a Shutdown that
// ran out of time) abandons in-flight requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Add(-1)
	ctx, cancel := requestContext(r, s.base)
	defer cancel()
	s.handler.serve(ctx, w, r)
}

// Serve accepts FastCGI connections on l until Shutdown or Close, and then
// returns http.ErrServerClosed. Any other error is the listener's. l is closed
// when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	tl := &trackedListener{Listener: l, srv: s}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.listeners[tl] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, tl)
		s.mu.Unlock()
		tl.Close()
	}()

	err := fcgi.Serve(tl, s)
	if s.isClosing() {
		return http.ErrServerClosed
	}
	return err
}

// Shutdown stops accepting connections, waits until every request under way
// has been answered and every connection has been closed (idle ones are
// closed by Shutdown), and returns nil. If ctx ends first, or
// Options.ShutdownTimeout passes, the remaining connections are closed, the
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

	interval := time.Millisecond
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		if s.drainConns() && s.handlers.Load() == 0 {
			return lnErr
		}
		select {
		case <-ctx.Done():
			n := s.closeAllConns()
			s.cancelBase()
			s.log.Warn("fcgi: shutdown timed out; connections closed", "conns", n, "handlers", s.handlers.Load())
			return ctx.Err()
		case <-timer.C:
			interval = min(2*interval, 50*time.Millisecond)
			timer.Reset(interval)
		}
	}
}

// Close stops the server at once: listeners and connections are closed and
// the contexts of running handlers are cancelled. Serve returns
// http.ErrServerClosed.
func (s *Server) Close() error {
	err := s.closeListeners()
	s.closeAllConns()
	s.cancelBase()
	return err
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

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

// drainConns has every connection close at its next request boundary and
// reports whether none is left open.
func (s *Server) drainConns() bool {
	now := time.Now()
	s.mu.Lock()
	all := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.drain(now)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) == 0
}

func (s *Server) closeAllConns() int {
	s.mu.Lock()
	all := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.abort()
	}
	return len(all)
}

func (s *Server) forgetConn(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// trackedListener registers every accepted connection with the server and
// keeps accepting through transient failures: net/http/fcgi.Serve returns on
// the first Accept error, which would end the server when file descriptors
// run out for a moment.
type trackedListener struct {
	net.Listener
	srv *Server
}

func (l *trackedListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if !l.srv.isClosing() && transientAcceptError(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.srv.log.Error("fcgi: accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return nil, err
		}
		now := time.Now()
		c := &trackedConn{Conn: nc, srv: l.srv, created: now, active: now, reqs: make(map[uint16]reqState), rbuf: make([]byte, readBufSize)}
		// A connection accepted while Shutdown starts is registered all the
		// same: the web server has already sent its request on it, and the
		// drain serves it rather than closing it unanswered.
		l.srv.mu.Lock()
		l.srv.conns[c] = struct{}{}
		c.draining = l.srv.closing
		l.srv.mu.Unlock()
		return c, nil
	}
}

// transientAcceptError reports errors after which a later Accept can succeed:
// the process or system is out of descriptors or memory for a moment.
func transientAcceptError(err error) bool {
	for _, e := range [...]error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
