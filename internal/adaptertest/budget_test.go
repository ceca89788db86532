package adaptertest

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"syncserver/handlers"
	"syncserver/internal/fcgiclient"
)

// TestBodyBudgetBothFrontEnds: uploads held open one byte short fill the
// core's body budget through either front-end; the next upload waits
// BodyBufferWait and gets 503 with Retry-After, a GET still answers at
// once, and when a held upload ends its room is given back.
func TestBodyBudgetBothFrontEnds(t *testing.T) {
	const size = 64 << 10
	const wait = 300 * time.Millisecond
	e := newCoreEnv(t, func(o *handlers.Options) {
		o.Limits = handlers.DefaultLimits
		o.Limits.MaxRequestBytes = size
		o.BodyBufferBytes = 4 * size
		o.BodyBufferWait = wait
	})
	body := []byte(`{"payload":"p"}`)
	big := make([]byte, size)
	copy(big, `{"payload":"`)
	for i := len(`{"payload":"`); i < size-2; i++ {
		big[i] = 'x'
	}
	copy(big[size-2:], `"}`)
	put := func(t *testing.T, uid int64, id string, b []byte) clientRequest {
		return e.request(t, uid, "PUT", storagePath(uid, "/storage/c/"+id), b,
			[2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", strconv.Itoa(len(b))})
	}

	// Two held uploads of user 1 through the standalone server, two of
	// user 2 through FastCGI: each user holds half the budget.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	holdHTTP := func(uid int64, id string) {
		c, err := net.Dial("tcp", e.http.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		raw := put(t, uid, id, big).raw()
		if _, err := c.Write(raw[:len(raw)-1]); err != nil {
			t.Fatal(err)
		}
	}
	holdFCGI := func(uid int64, id string) {
		c, err := net.Dial("tcp", e.fcgi.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		r := put(t, uid, id, big)
		raw := fcgiclient.Encode(nginxParams(r), big[:size-1], 0)
		if _, err := c.Write(raw[:len(raw)-8]); err != nil { // STDIN not ended
			t.Fatal(err)
		}
	}
	holdHTTP(1, "a")
	holdHTTP(1, "b")
	holdFCGI(2, "a")
	holdFCGI(2, "b")
	e.waitInUse(t, 4*size)

	refused := func(t *testing.T, status int, h http.Header, took time.Duration) {
		t.Helper()
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") != "10" ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("got %d %v, want 503 with Retry-After: 10 and nosniff", status, h)
		}
		if took < wait || took > wait+5*time.Second {
			t.Errorf("answered after %v, want after the wait of %v", took, wait)
		}
	}
	t.Run("httpd upload refused", func(t *testing.T) {
		start := time.Now()
		r := doHTTP(t, e.http.addr, put(t, 3, "x", big).raw())
		refused(t, r.Status, r.Header, time.Since(start))
	})
	t.Run("fcgi upload refused", func(t *testing.T) {
		start := time.Now()
		c := put(t, 3, "y", big)
		r := doFCGI(t, e.fcgi.addr, nginxParams(c), c.body)
		refused(t, r.Status, r.Header, time.Since(start))
	})
	t.Run("GETs answer at once", func(t *testing.T) {
		start := time.Now()
		c := e.request(t, 4, "GET", storagePath(4, "/info/collections"), nil)
		if r := doHTTP(t, e.http.addr, c.raw()); r.Status != 200 {
			t.Errorf("httpd GET: %d", r.Status)
		}
		c = e.request(t, 4, "GET", storagePath(4, "/info/collections"), nil)
		if r := doFCGI(t, e.fcgi.addr, nginxParams(c), nil); r.Status != 200 {
			t.Errorf("fcgi GET: %d", r.Status)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("GETs took %v", d)
		}
	})
	// A held upload whose client goes away gives its room back.
	held[0].Close()
	held[2].Close()
	e.waitInUse(t, 2*size)
	t.Run("room given back", func(t *testing.T) {
		if r := doHTTP(t, e.http.addr, put(t, 3, "z", body).raw()); r.Status != 200 {
			t.Errorf("httpd PUT: %d %q", r.Status, r.Body)
		}
		c := put(t, 3, "w", big)
		if r := doFCGI(t, e.fcgi.addr, nginxParams(c), c.body); r.Status != 200 {
			t.Errorf("fcgi PUT: %d %q", r.Status, r.Body)
		}
	})
	for _, c := range held {
		c.Close()
	}
	e.waitInUse(t, 0)
}
