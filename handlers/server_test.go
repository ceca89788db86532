package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/internal/testdb"
)

// pingStore is a fault-injection store: Ping does what the test says and
// every other method is unused by the service endpoints.
type pingStore struct {
	db.Store
	ping func() error
}

func (p pingStore) Ping(ctx context.Context) error { return p.ping() }

// logBuffer collects log output safely across goroutines.
type logBuffer = testdb.LogBuffer

var fixedNow = time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC)

// newCoreServer builds a Server over a fault-injection store for tests of
// the core (routing, errors, headers); storage tests use a real store.
func newCoreServer(t *testing.T, ping func() error, edit func(*Options)) (*Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts := Options{
		PublicURL: PublicURL{Scheme: "http", Host: "localhost", Port: 5000},
		Store:     pingStore{ping: ping},
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       func() time.Time { return fixedNow },
		Version:   "1.2.3",
	}
	if edit != nil {
		edit(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

func okPing() error { return nil }

func get(target string) *Request {
	return &Request{Method: http.MethodGet, Scheme: "http", Host: "localhost:5000", RequestURI: target, Header: make(http.Header), ContentLength: -1}
}

func TestServiceEndpoints(t *testing.T) {
	s, _ := newCoreServer(t, okPing, func(o *Options) { o.PublicURL.Prefix = "/ff-sync" })
	tests := []struct {
		name, method, target string
		status               int
		ctype, body          string
	}{
		{"root", "GET", "/", 200, "text/plain; charset=utf-8", "it works!\n"},
		{"root under prefix", "GET", "/ff-sync/", 200, "text/plain; charset=utf-8", "it works!\n"},
		{"prefix without slash", "GET", "/ff-sync", 200, "text/plain; charset=utf-8", "it works!\n"},
		{"lbheartbeat", "GET", "/__lbheartbeat__", 200, "application/json", "{}"},
		{"lbheartbeat under prefix", "GET", "/ff-sync/__lbheartbeat__", 200, "application/json", "{}"},
		{"legacy storage lbheartbeat", "GET", "/ff-sync/storage/__lbheartbeat__", 200, "application/json", "{}"},
		{"version", "GET", "/__version__", 200, "application/json", `{"source":"syncserver","version":"1.2.3"}`},
		{"unknown path", "GET", "/nope", 404, "application/json", "0"},
		{"unknown path under prefix", "GET", "/ff-sync/nope/x", 404, "application/json", "0"},
		{"bad escape", "GET", "/storage/1.5/%zz", 404, "application/json", "0"},
		{"wrong method", "POST", "/__heartbeat__", 405, "application/json", "0"},
		{"wrong method on root", "DELETE", "/", 405, "application/json", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.target)
			r.Method = tt.method
			resp := s.Serve(context.Background(), r)
			if resp.Status != tt.status {
				t.Errorf("status = %d, want %d", resp.Status, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			if got := string(resp.Body); got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
			if got := resp.Header.Get("X-Weave-Timestamp"); got != "1795867200.13" {
				t.Errorf("X-Weave-Timestamp = %q, want 1795867200.13 (clock rounded up to 10 ms)", got)
			}
		})
	}
}

func TestMethodNotAllowedListsAllowed(t *testing.T) {
	s, _ := newCoreServer(t, okPing, nil)
	r := get("/__heartbeat__")
	r.Method = http.MethodPut
	resp := s.Serve(context.Background(), r)
	if got, want := resp.Header.Get("Allow"), "GET, HEAD"; got != want {
		t.Errorf("Allow = %q, want %q", got, want)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Run("database up", func(t *testing.T) {
		s, _ := newCoreServer(t, okPing, nil)
		resp := s.Serve(context.Background(), get("/__heartbeat__"))
		if resp.Status != 200 {
			t.Fatalf("status = %d, want 200", resp.Status)
		}
		var got map[string]any
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got["status"] != "Ok" || got["database"] != "Ok" || got["version"] != "1.2.3" {
			t.Errorf("body = %s", resp.Body)
		}
	})
	t.Run("database down", func(t *testing.T) {
		s, logs := newCoreServer(t, func() error { return errors.New("disk on fire") }, nil)
		resp := s.Serve(context.Background(), get("/__heartbeat__"))
		if resp.Status != 503 {
			t.Fatalf("status = %d, want 503", resp.Status)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After on 503")
		}
		var got map[string]any
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got["status"] != "Err" || got["database"] != "Err" {
			t.Errorf("body = %s", resp.Body)
		}
		if strings.Contains(string(resp.Body), "disk on fire") {
			t.Error("internal error detail leaked to the client")
		}
		if !strings.Contains(logs.String(), "disk on fire") {
			t.Error("database error not logged")
		}
	})
}

func TestPanicBecomes500AndServerLives(t *testing.T) {
	calls := 0
	s, logs := newCoreServer(t, func() error {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return nil
	}, nil)
	resp := s.Serve(context.Background(), get("/__heartbeat__"))
	if resp.Status != 500 || string(resp.Body) != "0" {
		t.Fatalf("got %d %q, want 500 \"0\"", resp.Status, resp.Body)
	}
	if resp.Header.Get("X-Weave-Timestamp") == "" {
		t.Error("500 lacks X-Weave-Timestamp")
	}
	out := logs.String()
	if !strings.Contains(out, "boom") || !strings.Contains(out, "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", out)
	}
	if resp := s.Serve(context.Background(), get("/__heartbeat__")); resp.Status != 200 {
		t.Errorf("after a panic: status %d, want 200", resp.Status)
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	s, _ := newCoreServer(t, okPing, func(o *Options) {
		o.Limits = DefaultLimits
		o.Limits.MaxRequestBytes = 10
	})
	r := get("/storage/1.5/1/storage/col")
	r.Method = http.MethodPost
	r.ContentLength = 11
	r.Body = strings.NewReader("01234567890")
	resp := s.Serve(context.Background(), r)
	if resp.Status != 413 || string(resp.Body) != "17" {
		t.Fatalf("got %d %q, want 413 \"17\"", resp.Status, resp.Body)
	}
}

func TestCORS(t *testing.T) {
	t.Run("preflight needs no auth", func(t *testing.T) {
		s, _ := newCoreServer(t, okPing, nil)
		r := get("/storage/1.5/1/info/collections")
		r.Method = http.MethodOptions
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "GET")
		resp := s.Serve(context.Background(), r)
		if resp.Status/100 != 2 {
			t.Fatalf("status = %d, want 2xx", resp.Status)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Errorf("Allow-Origin = %q", got)
		}
		if got := resp.Header.Get("Access-Control-Max-Age"); got == "" || got == "0" {
			t.Errorf("Max-Age = %q, want > 0", got)
		}
		for _, h := range []string{"Authorization", "X-If-Modified-Since", "X-Weave-Records"} {
			if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), h) {
				t.Errorf("Allow-Headers lacks %s", h)
			}
		}
	})
	t.Run("allow-list", func(t *testing.T) {
		s, _ := newCoreServer(t, okPing, func(o *Options) { o.CORSAllowedOrigins = []string{"https://ok.example"} })
		for origin, want := range map[string]string{"https://ok.example": "https://ok.example", "https://evil.example": ""} {
			r := get("/__heartbeat__")
			r.Header.Set("Origin", origin)
			resp := s.Serve(context.Background(), r)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("origin %s: Allow-Origin = %q, want %q", origin, got, want)
			}
		}
	})
}

func TestPublicURLMismatchIsLoggedOnceWithFix(t *testing.T) {
	s, logs := newCoreServer(t, okPing, func(o *Options) {
		o.PublicURL = PublicURL{Scheme: "https", Host: "sync.example.com", Port: 443}
	})
	r := get("/__lbheartbeat__")
	r.Host = "sync.example.com"
	r.UntrustedForwardedProto = "https"
	s.Serve(context.Background(), r)
	s.Serve(context.Background(), r)
	out := logs.String()
	if n := strings.Count(out, "does not match public_url"); n != 1 {
		t.Fatalf("mismatch logged %d times, want once:\n%s", n, out)
	}
	for _, want := range []string{"scheme http but public_url says https", "forwarded_allow_ips", "X-Forwarded-Proto"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	s, logs = newCoreServer(t, okPing, func(o *Options) {
		o.PublicURL = PublicURL{Scheme: "https", Host: "sync.example.com", Port: 443}
		o.ForceWSGIEnviron = true
	})
	s.Serve(context.Background(), r)
	if strings.Contains(logs.String(), "does not match public_url") {
		t.Error("force_wsgi_environ should silence the mismatch report")
	}

	// Debian's nginx drops the port from Host: that is not a mismatch.
	s, logs = newCoreServer(t, okPing, func(o *Options) {
		o.PublicURL = PublicURL{Scheme: "http", Host: "127.0.0.1", Port: 8080}
	})
	r = get("/__lbheartbeat__")
	r.Host = "127.0.0.1"
	s.Serve(context.Background(), r)
	if strings.Contains(logs.String(), "does not match public_url") {
		t.Errorf("a Host without port was reported:\n%s", logs.String())
	}
}

func TestAccessLogOneLineNoSecrets(t *testing.T) {
	s, logs := newCoreServer(t, okPing, nil)
	r := get("/__lbheartbeat__?secret=x")
	r.Header.Set("Authorization", "Hawk id=\"TOKENVALUE\", mac=\"MACVALUE\"")
	s.Serve(context.Background(), r)
	out := logs.String()
	if n := strings.Count(out, "msg=request "); n != 1 {
		t.Fatalf("%d access lines, want 1:\n%s", n, out)
	}
	for _, leak := range []string{"TOKENVALUE", "MACVALUE", "secret=x"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q:\n%s", leak, out)
		}
	}
	if !regexp.MustCompile(`status=200`).MatchString(out) {
		t.Errorf("access line lacks status:\n%s", out)
	}
}
