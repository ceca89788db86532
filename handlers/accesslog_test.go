package handlers

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestAccessLogLevels: at info level every request gets its access line
// except 304s and successful heartbeats, which are at debug; errors and
// writes keep theirs.
func TestAccessLogLevels(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			logs := &logBuffer{}
			ts := newTestServer(t, func(o *Options) {
				o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
			})
			u := ts.user(1)
			T := u.put("bookmarks", "a", `{"payload":"x"}`)
			for _, c := range []struct {
				name   string
				do     func() *Response
				status int
				info   bool // the access line shows at info level
			}{
				{"write", func() *Response {
					return ts.serve(ts.hawkRequest(u.creds, http.MethodPut, u.path("/storage/bookmarks/b"), `{"payload":"y"}`))
				}, http.StatusOK, true},
				{"read", func() *Response {
					return ts.serve(ts.hawkRequest(u.creds, http.MethodGet, u.path("/info/collections"), ""))
				}, http.StatusOK, true},
				{"poll 304", func() *Response {
					return ts.serve(ts.hawkRequest(u.creds, http.MethodGet, u.path("/info/collections"), "", "X-If-Modified-Since", (T + 1000000).String()))
				}, http.StatusNotModified, false},
				{"lbheartbeat", func() *Response { return ts.serve(newRequest(http.MethodGet, "/__lbheartbeat__", "")) }, http.StatusOK, false},
				{"heartbeat", func() *Response { return ts.serve(newRequest(http.MethodGet, "/__heartbeat__", "")) }, http.StatusOK, false},
				{"401", func() *Response { return ts.serve(newRequest(http.MethodGet, u.path("/info/collections"), "")) }, http.StatusUnauthorized, true},
				{"404", func() *Response { return ts.serve(newRequest(http.MethodGet, "/nowhere", "")) }, http.StatusNotFound, true},
			} {
				before := strings.Count(logs.String(), "msg=request ")
				if r := c.do(); r.Status != c.status {
					t.Fatalf("%s: status %d, want %d", c.name, r.Status, c.status)
				}
				got := strings.Count(logs.String(), "msg=request ") - before
				want := 0
				if c.info || level == slog.LevelDebug {
					want = 1
				}
				if got != want {
					t.Errorf("%s: %d access lines at %s, want %d:\n%s", c.name, got, level, want, logs.String())
				}
			}
		})
	}
}
