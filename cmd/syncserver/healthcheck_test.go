package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// envMain returns a Main configured by env alone (no file), as in the
// container image, with its output in the returned buffer.
func envMain(t *testing.T, env map[string]string, args ...string) (*Main, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = out, out
	m.Getenv = func(k string) string { return env[k] }
	m.Environ = nil
	if err := m.ParseFlags(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	return m, out
}

// The image's HEALTHCHECK runs "syncserver healthcheck" with the
// container's environment and nothing else: it must find the server that
// environment configured, also under a public_url with a path.
func TestHealthcheckFindsServerConfiguredByEnvironment(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	env := map[string]string{
		"SYNCSERVER_PUBLIC_URL": "https://sync.example.test/ff-sync/",
		"SYNCSERVER_SQLURI":     "sqlite:///" + filepath.Join(t.TempDir(), "syncserver.db"),
		"SYNCSERVER_HOST":       "127.0.0.1",
		"SYNCSERVER_PORT":       port,
	}
	srv, logs := envMain(t, env)
	runMain(t, srv, logs)

	m, out := envMain(t, env, "healthcheck")
	if code := m.Main(context.Background()); code != exitOK {
		t.Fatalf("healthcheck exit %d: %s\nserver log:\n%s", code, out, logs)
	}
	want := "ok http://127.0.0.1:" + port + "/ff-sync/__heartbeat__: "
	if got := out.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, `"status":"Ok"`) {
		t.Errorf("output %q, want %q and the heartbeat's body", got, want)
	}
	// The probe arrives as public_url says requests do: no false alarm
	// about clients getting 401 in the log of every container.
	if strings.Contains(logs.String(), "does not match public_url") {
		t.Errorf("the health check was reported as a request not matching public_url:\n%s", logs)
	}

	// -http, as given to the server, names the listener too.
	m, out = envMain(t, map[string]string{"SYNCSERVER_PUBLIC_URL": env["SYNCSERVER_PUBLIC_URL"]}, "healthcheck", "-http", "127.0.0.1:"+port)
	if code := m.Main(context.Background()); code != exitOK {
		t.Errorf("healthcheck -http: exit %d: %s", code, out)
	}
}

func TestHealthcheckFailures(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/__heartbeat__" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status": "Err",` + "\n" + ` "database": "Err"}`))
	}))
	defer down.Close()
	closed := "127.0.0.1:" + strconv.Itoa(freePort(t))

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"database down", []string{"-url", down.URL + "/__heartbeat__"}, exitFail, `: 503 {"status": "Err", "database": "Err"}`},
		{"nothing listening", []string{"-http", closed}, exitFail, "connection refused"},
		{"FastCGI listener", []string{"-fcgi", closed}, exitFail, "give -url"},
		{"not a URL", []string{"-url", "localhost:5000"}, exitUsage, "want http://host:port/__heartbeat__"},
		{"argument", []string{"now"}, exitUsage, "takes no arguments"},
		{"timeout", []string{"-timeout", "0s"}, exitUsage, "-timeout must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, out := envMain(t, nil, append([]string{"healthcheck"}, tc.args...)...)
			if code := m.Main(context.Background()); code != tc.code || !strings.Contains(out.String(), tc.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out, tc.code, tc.want)
			}
		})
	}
}

// A server on every address (the image's 0.0.0.0:5000) is asked on
// loopback, under public_url's path, with public_url's host and scheme.
func TestHealthcheckProbe(t *testing.T) {
	for _, tc := range []struct {
		env         map[string]string
		args        []string
		url         string
		host, proto string
	}{
		{nil, nil, "http://127.0.0.1:5000/__heartbeat__", "localhost:5000", ""},
		{map[string]string{"SYNCSERVER_HOST": "0.0.0.0", "SYNCSERVER_PORT": "8000", "SYNCSERVER_PUBLIC_URL": "https://sync.example.com/"},
			nil, "http://127.0.0.1:8000/__heartbeat__", "sync.example.com", "https"},
		{map[string]string{"SYNCSERVER_HOST": "::", "SYNCSERVER_PUBLIC_URL": "https://sync.example.com:8443/ff-sync/"},
			nil, "http://[::1]:5000/ff-sync/__heartbeat__", "sync.example.com:8443", "https"},
		{map[string]string{"PORT": "8080"}, nil, "http://127.0.0.1:8080/__heartbeat__", "localhost:5000", ""},
		{nil, []string{"-http", ":7000"}, "http://127.0.0.1:7000/__heartbeat__", "localhost:5000", ""},
		{nil, []string{"-http", "[::]:7000"}, "http://[::1]:7000/__heartbeat__", "localhost:5000", ""},
		{nil, []string{"-http", "sync.internal:7000"}, "http://sync.internal:7000/__heartbeat__", "localhost:5000", ""},
	} {
		m, _ := envMain(t, tc.env, tc.args...)
		got, err := m.healthProbe()
		want := healthProbe{url: tc.url, host: tc.host, proto: tc.proto}
		if err != nil || got != want {
			t.Errorf("env %v, flags %q: %+v, %v; want %+v", tc.env, tc.args, got, err, want)
		}
	}
}
