package fcgi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

// TestRestartKeepAliveUnderLoad plays nginx with fastcgi_keep_conn and an
// upstream keepalive pool in front of a server that is stopped (Shutdown) and
// replaced by a new one on the same listening socket, as systemd's socket
// does across a restart, while clients send requests back to back on kept
// connections. Every request must be answered exactly once, or be refused in
// the way nginx retries: on a kept (reused) connection, which ends before any
// byte of an answer, and without the request having run. The retry goes on a
// new connection, as nginx's does.
func TestRestartKeepAliveUnderLoad(t *testing.T) {
	var (
		runs     sync.Map // request id -> *atomic.Int64
		inFlight atomic.Int64
	)
	h := handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		n, _ := runs.LoadOrStore(r.RequestURI, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		time.Sleep(200 * time.Microsecond)
		return &handlers.Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(r.RequestURI)}
	})
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l1.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := net.FileListener(f) // the same socket, held across the stop
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	addr := l1.Addr().String()
	opts := Options{Logger: quiet()}
	s1, s2 := NewServer(h, opts), NewServer(h, opts)
	t.Cleanup(func() { s1.Close(); s2.Close() })
	go s1.Serve(l1)

	const workers = 8
	var (
		stop                         = make(chan struct{})
		wg                           sync.WaitGroup
		answered, refused, retriedOK atomic.Int64
		mu                           sync.Mutex
		failures                     []string
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				nc     *countingConn
				c      *fcgiclient.Conn
				reused bool
			)
			defer func() {
				if nc != nil {
					nc.Close()
				}
			}()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("/w%d/%d", w, i)
				method := "GET"
				if i%2 == 0 {
					method = "POST" // nginx retries it only because it never ran
				}
				req := &fcgiclient.Request{Params: params("HTTP_HOST", "h", "REQUEST_URI", id, "REQUEST_METHOD", method), Body: []byte("b"), KeepConn: true}
				for attempt := 0; ; attempt++ {
					if c == nil {
						raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
						if err != nil {
							fail("%s: connect: %v", id, err)
							return
						}
						nc = &countingConn{Conn: raw}
						c = fcgiclient.NewConn(nc)
						reused = false
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					nc.n.Store(0)
					r, err := c.Do(req)
					if err == nil {
						if string(r.Body) != id {
							fail("%s: answered %q", id, r.Body)
						}
						answered.Add(1)
						if attempt > 0 {
							retriedOK.Add(1)
						}
						reused = true
						break
					}
					got := nc.n.Load()
					nc.Close()
					nc, c = nil, nil
					if !reused || got > 0 {
						fail("%s: failed in a way nginx does not retry (new connection, or after answer bytes): %v", id, err)
						return
					}
					refused.Add(1)
					if attempt > 3 {
						fail("%s: refused %d times", id, attempt+1)
						return
					}
				}
			}
		}()
	}

	time.Sleep(300 * time.Millisecond)
	atStop := inFlight.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s1.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	go s2.Serve(l2)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	for _, f := range failures {
		t.Error(f)
	}
	runs.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Load(); n != 1 {
			t.Errorf("request %s ran %d times, want once", k, n)
		}
		return true
	})
	t.Logf("%d answered, %d refused and retried (%d retries answered), %d in the handler at the stop",
		answered.Load(), refused.Load(), retriedOK.Load(), atStop)
	if answered.Load() < workers || atStop == 0 && refused.Load() == 0 {
		t.Fatal("too few requests to prove anything")
	}
}
