package adaptertest

import (
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"syncserver/internal/fcgiclient"
)

// Slow and oversized clients, through both front-ends to the real core.
// The standalone server also cuts slow headers and idle connections
// (httpd's TestSlowClientIsCutOff); under FastCGI the web server reads
// the client's headers and bounds them itself, so a request reaches us
// only once its parameters are complete.

const slowTimeout = 500 * time.Millisecond

// openUpload sends the headers of a PUT declaring declared bytes and the
// first sent bytes of its body, through the front-end fe ("httpd" or
// "fcgi"), and leaves the connection open.
func openUpload(t *testing.T, e *coreEnv, fe string, uid int64, declared, sent int) net.Conn {
	t.Helper()
	c := e.request(t, uid, "PUT", storagePath(uid, "/storage/c/x"), make([]byte, sent),
		[2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", strconv.Itoa(declared)})
	var raw []byte
	addr := e.http.addr
	if fe == "fcgi" {
		addr = e.fcgi.addr
		raw = fcgiclient.Encode(nginxParams(c), c.body, 0)
		raw = raw[:len(raw)-8] // STDIN not ended
	} else {
		raw = c.raw()
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	return conn
}

// waitClosed waits until the server closes conn, at most within.
func waitClosed(t *testing.T, conn net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, conn)
	took := time.Since(start)
	if isTimeout(err) {
		t.Fatalf("connection still open after %v", took)
	}
	return took
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestSlowBodyCutAtReadTimeout: an upload that stalls mid-body is cut at
// read_timeout, whether the front-end still holds it (the standalone
// server reads the first 8 KB before the core runs) or the core is reading
// it; what the core reserved for it is given back and nothing is stored.
func TestSlowBodyCutAtReadTimeout(t *testing.T) {
	e := newCoreEnvTimeout(t, nil, slowTimeout)
	cases := []struct {
		name           string
		fe             string
		declared, sent int
		core           bool // the core sees the request
	}{
		{"httpd, stalled in the first 8 KB", "httpd", 100, 3, false},
		{"httpd, stalled while the core reads", "httpd", 20000, 9000, true},
		{"fcgi, stalled while the core reads", "fcgi", 20000, 9000, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uid := int64(200 + i)
			e.drainDone()
			conn := openUpload(t, e, tc.fe, uid, tc.declared, tc.sent)
			if tc.core {
				e.waitInUse(t, int64(tc.declared))
				select {
				case s := <-e.done:
					t.Fatalf("answered %d before read_timeout", s)
				case <-time.After(slowTimeout / 2):
				}
				start := time.Now()
				if s := e.waitDone(t); s != http.StatusBadRequest {
					t.Errorf("core answered %d, want 400", s)
				}
				if d := time.Since(start); d > slowTimeout+2*time.Second {
					t.Errorf("cut after %v, read_timeout is %v", d, slowTimeout)
				}
				e.waitInUse(t, 0)
			}
			if tc.fe == "httpd" {
				waitClosed(t, conn, slowTimeout+3*time.Second)
			}
			if got := e.collections(t, uid); got != "{}" {
				t.Errorf("stored: %s", got)
			}
		})
	}
}

// TestOversizedRefusedUnread: a body declared larger than
// max_request_bytes gets 413 with body 17 at once, before it is read: the
// core reserves nothing for it and no client needs to send it all.
func TestOversizedRefusedUnread(t *testing.T) {
	e := newCoreEnv(t, nil)
	const declared = "900000000"
	t.Run("httpd", func(t *testing.T) {
		// The standalone server hands a request over once 8 KB of its body
		// are in (or all of it): a client that sends its body gets there.
		c := e.request(t, 7, "PUT", storagePath(7, "/storage/c/x"), make([]byte, 9000),
			[2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", declared})
		start := time.Now()
		r := doHTTP(t, e.http.addr, c.raw())
		if r.Status != http.StatusRequestEntityTooLarge || string(r.Body) != "17" {
			t.Errorf("got %d %q, want 413 \"17\"", r.Status, r.Body)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("answered after %v", d)
		}
	})
	t.Run("fcgi", func(t *testing.T) {
		c := e.request(t, 7, "PUT", storagePath(7, "/storage/c/x"), make([]byte, 100),
			[2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", declared})
		start := time.Now()
		r := doFCGI(t, e.fcgi.addr, nginxParams(c), c.body)
		if r.Status != http.StatusRequestEntityTooLarge || string(r.Body) != "17" {
			t.Errorf("got %d %q, want 413 \"17\"", r.Status, r.Body)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("answered after %v", d)
		}
	})
	if n := e.core.BodyBytesInUse(); n != 0 {
		t.Errorf("%d bytes reserved", n)
	}
}

// TestHugeDeclaredFewBytesSent: a request that declares a gigabyte and
// sends a hundred bytes is answered (FastCGI: 413 at once) or cut
// (standalone: it never reaches the core, which would answer 413, since
// fewer than 8 KB came) within read_timeout, and no memory is held for
// the declared size.
func TestHugeDeclaredFewBytesSent(t *testing.T) {
	e := newCoreEnvTimeout(t, nil, slowTimeout)
	const declared = 1 << 30
	for _, fe := range []string{"httpd", "fcgi"} {
		t.Run(fe, func(t *testing.T) {
			e.drainDone()
			var before, during runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			conn := openUpload(t, e, fe, 300, declared, 100)
			time.Sleep(slowTimeout / 2)
			runtime.ReadMemStats(&during)
			if n := e.core.BodyBytesInUse(); n != 0 {
				t.Errorf("%d bytes reserved", n)
			}
			if grew := during.TotalAlloc - before.TotalAlloc; grew > declared/100 {
				t.Errorf("%d bytes allocated while it is held", grew)
			}
			if fe == "fcgi" {
				select {
				case s := <-e.done:
					if s != http.StatusRequestEntityTooLarge {
						t.Errorf("core answered %d, want 413", s)
					}
				case <-time.After(time.Second):
					t.Error("not answered")
				}
				return
			}
			waitClosed(t, conn, slowTimeout+3*time.Second)
		})
	}
}
