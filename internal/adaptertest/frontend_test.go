package adaptertest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"syncserver/fcgi"
	"syncserver/handlers"
	"syncserver/httpd"
	"syncserver/internal/testdb"
)

// frontFacts is what the core learns about the web server in front.
type frontFacts struct {
	FastCGI        bool
	ServerSoftware string
}

var factsHandler = handlers.HandlerFunc(func(_ context.Context, r *handlers.Request) *handlers.Response {
	b, _ := json.Marshal(frontFacts{r.FastCGI, r.ServerSoftware})
	return &handlers.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
})

// TestFrontEndFacts: FastCGI requests say so and name the web server from
// SERVER_SOFTWARE; the standalone server knows of no web server, whatever
// headers a client sends.
func TestFrontEndFacts(t *testing.T) {
	fs := startFCGI(t, factsHandler, fcgi.Options{})
	hs := startHTTPD(t, factsHandler, httpd.Options{})
	req := clientRequest{method: "GET", target: "/ff-sync/__heartbeat__", header: [][2]string{
		{"Host", "sync.example.com"}, {"Server-Software", "Apache/2.4.62"}, {"Connection", "close"},
	}}
	decode := func(r response) frontFacts {
		t.Helper()
		var f frontFacts
		if err := json.Unmarshal(r.Body, &f); err != nil {
			t.Fatalf("body %q: %v", r.Body, err)
		}
		return f
	}
	if got := decode(doHTTP(t, hs.addr, req.raw())); got != (frontFacts{}) {
		t.Errorf("httpd: %+v, want no FastCGI and no server software", got)
	}
	for _, fe := range frontEnds {
		p := fe.params(req)
		want := frontFacts{FastCGI: true, ServerSoftware: p["SERVER_SOFTWARE"]}
		if got := decode(doFCGI(t, fs.addr, p, nil)); got != want {
			t.Errorf("%s: %+v, want %+v", fe.name, got, want)
		}
	}
}

// newCore is the real protocol core on a fresh sqlite store, public_url
// http://sync.example.com/ff-sync/, logging into the returned buffer.
func newCore(t *testing.T) (*handlers.Server, *testdb.LogBuffer) {
	t.Helper()
	logs := &testdb.LogBuffer{}
	s, err := handlers.New(handlers.Options{
		PublicURL: handlers.PublicURL{Scheme: "http", Host: "sync.example.com", Port: 80, Prefix: prefix},
		Store:     testdb.Open(t, "sqlite", testdb.Options{}),
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// TestMissingAuthorizationAdviceByFrontEnd sends the same requests without
// an Authorization header through each front-end to the real core: the
// Apache fix ("CGIPassAuth On") is named for Apache's FastCGI modules only,
// never under nginx or the standalone server, and a request made by hand
// (the README's curl check) gets no advice anywhere.
func TestMissingAuthorizationAdviceByFrontEnd(t *testing.T) {
	firefox := clientRequest{method: "GET", target: prefix + "/storage/1.5/1/info/collections", header: [][2]string{
		{"Host", "sync.example.com"},
		{"User-Agent", "Firefox/133.0 (Linux x86_64) FxSync/1.135.0.20241125.desktop"},
		{"Connection", "close"},
	}}
	curl := clientRequest{method: "GET", target: prefix + "/token/1.0/sync/1.5", header: [][2]string{
		{"Host", "sync.example.com"}, {"User-Agent", "curl/7.88.1"}, {"Accept", "*/*"}, {"Connection", "close"},
	}}
	type send func(t *testing.T, core handlers.Handler, c clientRequest) response
	viaHTTPD := func(t *testing.T, core handlers.Handler, c clientRequest) response {
		return doHTTP(t, startHTTPD(t, core, httpd.Options{}).addr, c.raw())
	}
	via := func(params func(clientRequest) map[string]string) send {
		return func(t *testing.T, core handlers.Handler, c clientRequest) response {
			return doFCGI(t, startFCGI(t, core, fcgi.Options{}).addr, params(c), nil)
		}
	}
	for _, tc := range []struct {
		name       string
		send       send
		req        clientRequest
		wantApache bool
	}{
		{"httpd Firefox", viaHTTPD, firefox, false},
		{"nginx Firefox", via(nginxParams), firefox, false},
		{"mod_proxy_fcgi Firefox", via(proxyFCGIParams), firefox, true},
		{"mod_fcgid Firefox", via(fcgidParams), firefox, true},
		{"httpd curl", viaHTTPD, curl, false},
		{"nginx curl", via(nginxParams), curl, false},
		{"mod_proxy_fcgi curl", via(proxyFCGIParams), curl, false},
		{"mod_fcgid curl", via(fcgidParams), curl, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := newCore(t)
			if r := tc.send(t, core, tc.req); r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d %q, want 401", r.Status, r.Body)
			}
			out := logs.String()
			if !strings.Contains(out, "without an Authorization header") {
				t.Errorf("the missing header is not mentioned:\n%s", out)
			}
			if got := strings.Contains(out, "CGIPassAuth"); got != tc.wantApache {
				t.Errorf("Apache advice given: %v, want %v:\n%s", got, tc.wantApache, out)
			}
		})
	}
}
