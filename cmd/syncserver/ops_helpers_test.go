package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/fxatest"
)

// A running server with an FxA stand-in, and a client that talks to it as
// Firefox does: an access token traded for Hawk credentials, then signed
// storage requests over real HTTP.

// opsServer is a Main serving standalone HTTP on a known port.
type opsServer struct {
	*Main
	Logs   *syncBuffer
	Config string // the syncserver.ini path
	FxA    *fxatest.Server
	Port   int
}

// testSecret signs the tokens of these tests.
const testSecret = "0f6b1c0e8f3a4d2b9c7e5a1d3f8b6c4e"

// startOpsServer starts a server whose public_url is its own loopback
// address, trusting a fresh FxA stand-in, with extra appended to its
// configuration (more keys for [syncserver], then other sections).
func startOpsServer(t *testing.T, extra string) *opsServer {
	t.Helper()
	fx := fxatest.New(t)
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`[syncserver]
public_url = "http://127.0.0.1:%d/"
sqluri = "sqlite:///syncserver.db"
secret = %q
identity_provider = %q
log_level = "debug"
%s`, port, testSecret, fx.IdentityProvider(), extra))
	m, logs := newTestMain(t, "-config", cfg, "-http", fmt.Sprintf("127.0.0.1:%d", port))
	runMain(t, m, logs)
	return &opsServer{Main: m, Logs: logs, Config: cfg, FxA: fx, Port: port}
}

// command runs a subcommand against the server's configuration and
// returns its exit status and output.
func (s *opsServer) command(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = stdout, stderr
	m.Getenv = func(string) string { return "" }
	if err := m.ParseFlags(context.Background(), append([]string{"-config", s.Config}, args...)); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	status := m.Main(context.Background())
	return status, stdout.String(), stderr.String()
}

// firefox is one Firefox profile signed in to an account.
type firefox struct {
	t       *testing.T
	s       *opsServer
	Account fxatest.Account
	Token   tokenAnswer
	// AccessToken is the FxA access token it trades for storage tokens.
	AccessToken string
	nonce       atomic.Uint64
}

// tokenAnswer is the tokenserver's answer.
type tokenAnswer struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	UID         int64  `json:"uid"`
	APIEndpoint string `json:"api_endpoint"`
}

// newFirefox registers a fresh account with the stand-in and signs in.
func (s *opsServer) newFirefox(t *testing.T) *firefox {
	t.Helper()
	a := fxatest.NewAccount(fmt.Sprintf("user%d@example.com", time.Now().UnixNano()))
	ms := time.Now().UnixMilli() - 60_000
	a.Generation, a.KeysChangedAt = ms, ms
	s.FxA.SetAccount(a)
	f := &firefox{t: t, s: s, Account: a}
	if status := f.signIn(); status != http.StatusOK {
		t.Fatalf("token request: status %d", status)
	}
	return f
}

// signIn asks the tokenserver for a storage token and returns the status.
func (f *firefox) signIn() int {
	f.t.Helper()
	f.AccessToken = f.s.FxA.JWT(f.Account.UID)
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/token/1.0/sync/1.5", f.s.Port), nil)
	req.Header.Set("Authorization", "Bearer "+f.AccessToken)
	req.Header.Set("X-KeyID", f.Account.KeyID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &f.Token); err != nil {
			f.t.Fatalf("token answer %s: %v", body, err)
		}
	}
	return resp.StatusCode
}

// do sends a Hawk-signed request for rel below the storage endpoint.
func (f *firefox) do(method, rel, body string) (int, http.Header, string) {
	f.t.Helper()
	target := f.Token.APIEndpoint + rel
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	auth := hawk.Auth{ID: f.Token.ID, TS: time.Now().Unix(), Nonce: "n" + strconv.FormatUint(f.nonce.Add(1), 36)}
	if body != "" {
		auth.Hash = hawk.PayloadHash("application/json", []byte(body))
	}
	auth.MAC = hawk.Sign([]byte(f.Token.Key), auth, hawk.Request{
		Method: method, Host: "127.0.0.1", Port: f.s.Port, Resource: req.URL.RequestURI(),
	})
	req.Header.Set("Authorization", auth.Header())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// must sends a request that must answer want, and returns the body.
func (f *firefox) must(want int, method, rel, body string) string {
	f.t.Helper()
	status, _, got := f.do(method, rel, body)
	if status != want {
		f.t.Fatalf("%s %s: %d %s, want %d", method, rel, status, got, want)
	}
	return got
}

// scrape reads the metrics endpoint: each sample line's value by its name
// and labels as written ("syncserver_requests_total{method=\"GET\",…}").
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sample sums the samples of a metric whose labels include every one of
// labels (`route="token"`).
func sample(samples map[string]float64, name string, labels ...string) float64 {
	var sum float64
	for k, v := range samples {
		n, rest, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
