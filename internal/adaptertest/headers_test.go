package adaptertest

import (
	"net/http"
	"strings"
	"testing"
)

// TestNosniffOnEveryAnswer: every answer of both APIs, errors and the
// last-resort 500s included, carries X-Content-Type-Options: nosniff,
// through either front-end.
func TestNosniffOnEveryAnswer(t *testing.T) {
	e := newCoreEnv(t, nil)
	tokenPath := prefix + "/token/1.0/sync/1.5"
	rows := []struct {
		name   string
		status int
		req    func(t *testing.T) clientRequest
		panics bool // the store's Ping panics during the request
	}{
		{"root", 200, func(t *testing.T) clientRequest { return e.request(t, 0, "GET", prefix+"/", nil) }, false},
		{"heartbeat", 200, func(t *testing.T) clientRequest { return e.request(t, 0, "GET", prefix+"/__heartbeat__", nil) }, false},
		{"lbheartbeat", 200, func(t *testing.T) clientRequest { return e.request(t, 0, "GET", prefix+"/__lbheartbeat__", nil) }, false},
		{"version", 200, func(t *testing.T) clientRequest { return e.request(t, 0, "GET", prefix+"/__version__", nil) }, false},
		{"token", 200, func(t *testing.T) clientRequest {
			return e.request(t, 0, "GET", tokenPath, nil, [2]string{"Authorization", "Bearer good"},
				[2]string{"X-KeyID", "1-qqo_HG5kMJcOD4wmNQgsYw"})
		}, false},
		{"token without credentials", 401, func(t *testing.T) clientRequest { return e.request(t, 0, "GET", tokenPath, nil) }, false},
		{"token rejected", 401, func(t *testing.T) clientRequest {
			return e.request(t, 0, "GET", tokenPath, nil, [2]string{"Authorization", "Bearer bad"})
		}, false},
		{"token, FxA down", 503, func(t *testing.T) clientRequest {
			return e.request(t, 0, "GET", tokenPath, nil, [2]string{"Authorization", "Bearer down"})
		}, false},
		{"token, wrong method", 405, func(t *testing.T) clientRequest { return e.request(t, 0, "DELETE", tokenPath, nil) }, false},
		{"storage", 200, func(t *testing.T) clientRequest {
			return e.request(t, 7, "GET", storagePath(7, "/info/collections"), nil)
		}, false},
		{"storage without credentials", 401, func(t *testing.T) clientRequest {
			return e.request(t, 0, "GET", storagePath(7, "/info/collections"), nil)
		}, false},
		{"storage, wrong method", 405, func(t *testing.T) clientRequest {
			return e.request(t, 0, "PUT", storagePath(7, "/info/collections"), nil)
		}, false},
		{"not found", 404, func(t *testing.T) clientRequest { return e.request(t, 0, "GET", prefix+"/nothing/here", nil) }, false},
		{"body too large", 413, func(t *testing.T) clientRequest {
			// The standalone server hands a request over once 8 KB of its
			// body (or all of it) are in: send a little more than that.
			return e.request(t, 7, "POST", storagePath(7, "/storage/c"), make([]byte, 9000),
				[2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", "900000000"})
		}, false},
		{"body shorter than declared", 400, func(t *testing.T) clientRequest {
			return e.request(t, 7, "PUT", storagePath(7, "/storage/c/x"), []byte(`{"payload":""}`),
				[2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", "13"})
		}, false},
		{"CORS preflight", 204, func(t *testing.T) clientRequest {
			return e.request(t, 0, "OPTIONS", storagePath(7, "/info/collections"), nil,
				[2]string{"Origin", "https://example.net"}, [2]string{"Access-Control-Request-Method", "GET"})
		}, false},
		{"panic in the core", 500, func(t *testing.T) clientRequest {
			return e.request(t, 0, "GET", prefix+"/__heartbeat__", nil)
		}, true},
		{"panic in front of the core", 500, func(t *testing.T) clientRequest {
			return e.request(t, 0, "GET", prefix+"/__heartbeat__", nil, [2]string{"X-Test-Panic", "1"})
		}, false},
	}
	check := func(t *testing.T, status, want int, h http.Header, body []byte) {
		t.Helper()
		if status != want {
			t.Errorf("status %d, want %d; body %q", status, want, body)
		}
		if got := h.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("X-Content-Type-Options %q in %v", got, h)
		}
	}
	for _, row := range rows {
		t.Run("httpd/"+row.name, func(t *testing.T) {
			e.store.panicking.Store(row.panics)
			defer e.store.panicking.Store(false)
			c := row.req(t)
			r := doHTTP(t, e.http.addr, c.raw())
			check(t, r.Status, row.status, r.Header, r.Body)
		})
		for _, fe := range frontEnds {
			t.Run(fe.name+"/"+row.name, func(t *testing.T) {
				e.store.panicking.Store(row.panics)
				defer e.store.panicking.Store(false)
				c := row.req(t)
				r := doFCGI(t, e.fcgi.addr, fe.params(c), c.body)
				check(t, r.Status, row.status, r.Header, r.Body)
			})
		}
	}
	// What fasthttp answers itself, before the core sees a request.
	for name, raw := range map[string]string{
		"headers too large":      "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n",
		"malformed request":      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
		"malformed request line": "\x00\x01 nonsense\r\n\r\n",
	} {
		t.Run("httpd/"+name, func(t *testing.T) {
			r := doHTTP(t, e.http.addr, []byte(raw))
			if r.Status < 400 {
				t.Errorf("status %d", r.Status)
			}
			check(t, r.Status, r.Status, r.Header, r.Body)
		})
	}
}
