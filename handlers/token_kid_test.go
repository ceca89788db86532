package handlers

// Tests of JWTs whose kid the tokenserver does not know: forged ones, and
// genuine ones signed with a key FxA has just started using.

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/fxa"
	"syncserver/internal/fxatest"
)

// newKidTest is a tokenTest whose fxa logs go to fxaLogs too.
func newKidTest(t *testing.T) (*tokenTest, *logBuffer) {
	fxaLogs := &logBuffer{}
	tt := newTokenTest(t, func(c *fxa.Config) {
		c.Logger = slog.New(slog.NewTextHandler(fxaLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return tt, fxaLogs
}

// wantNoErrorLogged fails if any log line is at warning or error level.
func wantNoErrorLogged(t *testing.T, logs ...*logBuffer) {
	t.Helper()
	for _, l := range logs {
		for line := range strings.Lines(l.String()) {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				t.Errorf("logged as a problem: %s", line)
			}
		}
	}
}

// waitForHits waits up to a few seconds for the stand-in to have seen n
// requests on path: what the verifier does in the background.
func waitForHits(t *testing.T, fx *fxatest.Server, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * fxa.DefaultKeysFetchInterval)
	for fx.Hits(path) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := fx.Hits(path); got != n {
		t.Fatalf("%s asked %d times, want %d", path, got, n)
	}
}

// TestTokenForgedJWTIs401 checks that a forged JWT gets 401
// invalid-credentials, whether its kid is unknown (FxA's /v1/verify says
// no) or known (the signature says no), and that neither is logged as a
// problem of the server.
func TestTokenForgedJWTIs401(t *testing.T) {
	tt, fxaLogs := newKidTest(t)
	a := tt.account()
	wantToken(t, tt.firefox(a)) // the keys are fetched
	for name, o := range map[string]fxatest.TokenOptions{
		"unknown kid": {Forge: true},
		"known kid":   {Forge: true, Header: map[string]any{"kid": tt.FxA.KID()}},
	} {
		t.Run(name, func(t *testing.T) {
			r := tt.getToken(tt.FxA.AccessToken(a.UID, o), "X-KeyID", a.KeyID())
			wantTokenError(t, r, unauthorizedAs("invalid-credentials"))
		})
	}
	if n := tt.FxA.Hits(fxatest.PathVerify); n != 1 {
		t.Errorf("/v1/verify asked %d times, want 1 (for the unknown kid only)", n)
	}
	wantNoErrorLogged(t, tt.Logs, fxaLogs)
	if !strings.Contains(tt.Logs.String(), "level=DEBUG msg=\"request refused\"") {
		t.Errorf("the refusal is not in the debug log:\n%s", tt.Logs)
	}
}

// TestTokenRotatedKeyRightAfterUnknownKid: a forged token makes the
// tokenserver fetch FxA's keys; FxA then starts signing with a new key.
// The first token signed with it, within the second after that fetch,
// gets 200 (through /v1/verify); the new key is fetched as soon as the
// rate bound allows, and from then on its tokens are checked locally, so
// an FxA outage does not refuse its users.
func TestTokenRotatedKeyRightAfterUnknownKid(t *testing.T) {
	tt, fxaLogs := newKidTest(t)
	a := tt.account()
	tt.FxA.StageKey() // made now: making an RSA key takes a while
	forged := tt.FxA.AccessToken(a.UID, fxatest.TokenOptions{Forge: true})
	before := time.Now()
	wantTokenError(t, tt.getToken(forged, "X-KeyID", a.KeyID()), unauthorizedAs("invalid-credentials"))
	if n := tt.FxA.Hits(fxatest.PathJWKS); n != 1 {
		t.Fatalf("jwks fetched %d times, want 1", n)
	}

	tt.FxA.PublishKeys() // FxA rotates: it publishes the key and signs with it
	wantToken(t, tt.firefox(a))
	if time.Since(before) < fxa.DefaultKeysFetchInterval {
		// The keys could not be fetched again so soon: FxA vouched.
		if n := tt.FxA.Hits(fxatest.PathVerify); n != 2 {
			t.Errorf("/v1/verify asked %d times, want 2 (the forged token, then the new kid)", n)
		}
	} else {
		t.Log("the machine is slow: the keys could be fetched again at once")
	}
	waitForHits(t, tt.FxA, fxatest.PathJWKS, 2)

	tt.FxA.Fail(fxatest.PathJWKS, http.StatusServiceUnavailable, 0)
	tt.FxA.Fail(fxatest.PathVerify, http.StatusServiceUnavailable, 0)
	wantToken(t, tt.firefox(a)) // a new JWT: not in the verification cache
	wantNoErrorLogged(t, tt.Logs, fxaLogs)
}

// TestTokenKeyNotPublishedYet: FxA signs with a key its published key set
// does not list yet (a cache in between). The fetch the unknown kid causes
// does not find it, so FxA's /v1/verify decides: 200. Once the key is
// published it is fetched, and an outage no longer matters.
func TestTokenKeyNotPublishedYet(t *testing.T) {
	tt, _ := newKidTest(t)
	a := tt.account()
	tt.FxA.StageKey()
	wantToken(t, tt.firefox(a))
	if n := tt.FxA.Hits(fxatest.PathJWKS); n < 1 {
		t.Errorf("jwks fetched %d times, want at least 1", n)
	}
	if n := tt.FxA.Hits(fxatest.PathVerify); n != 1 {
		t.Errorf("/v1/verify asked %d times, want 1", n)
	}
	tt.FxA.PublishKeys()
	// The verifier asks for the keys again once the rate bound allows.
	waitForHits(t, tt.FxA, fxatest.PathJWKS, 2)
	tt.FxA.Close()
	wantToken(t, tt.firefox(a))
}

// TestTokenUnknownKidsFetchKeysAtMostOncePerSecond floods the tokenserver
// with concurrent tokens naming unknown kids: FxA's keys are fetched at
// most once per second (requests share a running fetch), the rest is
// asked of /v1/verify, and every forged token gets 401.
func TestTokenUnknownKidsFetchKeysAtMostOncePerSecond(t *testing.T) {
	tt, fxaLogs := newKidTest(t)
	a := tt.account()
	// Each answer of /v1/jwks takes a while, as over a real network.
	tt.FxA.Stall(fxatest.PathJWKS, 50*time.Millisecond)
	const n = 40
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = tt.FxA.AccessToken(a.UID, fxatest.TokenOptions{Forge: true})
	}
	start := time.Now()
	var wg sync.WaitGroup
	answers := make([]*Response, n)
	for i := range n {
		wg.Go(func() { answers[i] = tt.getToken(tokens[i], "X-KeyID", a.KeyID()) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, r := range answers {
		wantTokenError(t, r, unauthorizedAs("invalid-credentials"))
	}
	if got, most := tt.FxA.Hits(fxatest.PathJWKS), 1+int(elapsed/fxa.DefaultKeysFetchInterval); got > most {
		t.Errorf("%d concurrent unknown kids in %v: jwks fetched %d times, want at most %d", n, elapsed, got, most)
	}
	if got := tt.FxA.Hits(fxatest.PathVerify); got != n {
		t.Errorf("/v1/verify asked %d times, want %d", got, n)
	}
	wantNoErrorLogged(t, tt.Logs, fxaLogs)
}

// TestTokenUnknownKidDuringOutage: 503 with Retry-After only when FxA
// cannot answer at all; when its keys cannot be fetched but /v1/verify
// answers, its answer stands.
func TestTokenUnknownKidDuringOutage(t *testing.T) {
	tt, _ := newKidTest(t)
	a := tt.account()
	wantToken(t, tt.firefox(a))
	tt.FxA.RotateKey()
	tt.FxA.Fail(fxatest.PathJWKS, http.StatusServiceUnavailable, 0)

	// The keys cannot be fetched, but FxA's /v1/verify answers.
	wantToken(t, tt.firefox(a))
	forged := tt.FxA.AccessToken(a.UID, fxatest.TokenOptions{Forge: true})
	wantTokenError(t, tt.getToken(forged, "X-KeyID", a.KeyID()), unauthorizedAs("invalid-credentials"))

	// Neither answers: come back later, whatever the token.
	tt.FxA.Fail(fxatest.PathVerify, http.StatusServiceUnavailable, 0)
	for name, tok := range map[string]string{"genuine": tt.FxA.JWT(a.UID), "forged": forged} {
		t.Run(name, func(t *testing.T) {
			r := tt.getToken(tok, "X-KeyID", a.KeyID())
			wantTokenError(t, r, errRowUnavailable)
			wantHeader(t, r, "Retry-After", "60")
		})
	}
}
