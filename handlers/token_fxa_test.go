package handlers

import (
	"net/http"
	"testing"
	"time"

	"syncserver/fxa"
	"syncserver/internal/fxatest"
)

// TestTokenFxAOutageIsNever401 checks the rule that FxA unreachable, slow
// or answering 5xx gives 503 with Retry-After, never a 401 that would sign
// the user out.
func TestTokenFxAOutageIsNever401(t *testing.T) {
	short := func(c *fxa.Config) { c.Timeout = 200 * time.Millisecond }
	tests := []struct {
		name   string
		fxa    func(*fxa.Config)
		break_ func(fx *fxatest.Server)
		opaque bool
	}{
		// Without its keys a JWT is asked of /v1/verify: an outage is when
		// neither answers.
		{"jwks 503", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathJWKS, 503, 0); fx.Fail(fxatest.PathVerify, 503, 0) }, false},
		{"jwks 500", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathJWKS, 500, 0); fx.Fail(fxatest.PathVerify, 500, 0) }, false},
		{"jwks 404", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathJWKS, 404, 0); fx.Fail(fxatest.PathVerify, 502, 0) }, false},
		{"jwks slow", short, func(fx *fxatest.Server) {
			fx.Stall(fxatest.PathJWKS, 5*time.Second)
			fx.Stall(fxatest.PathVerify, 5*time.Second)
		}, false},
		{"verify 500", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathVerify, 500, 0) }, true},
		{"verify 503", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathVerify, 503, 0) }, true},
		{"verify 429", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathVerify, 429, 0) }, true},
		{"verify slow", short, func(fx *fxatest.Server) { fx.Stall(fxatest.PathVerify, 5*time.Second) }, true},
		{"discovery 500", nil, func(fx *fxatest.Server) { fx.Fail(fxatest.PathDiscovery, 500, 0) }, false},
		{"discovery slow", short, func(fx *fxatest.Server) { fx.Stall(fxatest.PathDiscovery, 5*time.Second) }, false},
		{"FxA gone", nil, func(fx *fxatest.Server) { fx.Close() }, false},
		{"FxA gone, opaque token", nil, func(fx *fxatest.Server) { fx.Close() }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := newTokenTest(t, tc.fxa)
			a := tt.account()
			tok := tt.FxA.JWT(a.UID)
			if tc.opaque {
				tok = tt.FxA.OpaqueToken(a.UID)
			}
			tc.break_(tt.FxA)
			start := time.Now()
			r := tt.getToken(tok, "X-KeyID", a.KeyID())
			wantTokenError(t, r, errRowUnavailable)
			wantHeader(t, r, "Retry-After", "60")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("answer took %v: FxA's slowness must be bounded by the timeout", d)
			}
		})
	}
}

func TestTokenFxARecovers(t *testing.T) {
	tt := newTokenTest(t, func(c *fxa.Config) { c.RetryInterval = 10 * time.Second })
	a := tt.account()
	tt.FxA.Fail(fxatest.PathDiscovery, 503, 0)
	wantTokenError(t, tt.firefox(a), errRowUnavailable)
	tt.FxA.Fail(fxatest.PathDiscovery, 0, 0)
	// Discovery is retried once RetryInterval has passed, not before.
	wantTokenError(t, tt.firefox(a), errRowUnavailable)
	tt.Clock.Advance(11 * time.Second)
	if r := tt.firefox(a); r.Status != http.StatusOK {
		t.Errorf("after FxA came back: %d %s", r.Status, r.Body)
	}
	if n := tt.FxA.Hits(fxatest.PathDiscovery); n != 2 {
		t.Errorf("discovery asked %d times, want 2", n)
	}
}

func TestTokenOpaqueAccessToken(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	jwtUID := wantToken(t, tt.firefox(a)).UID
	r := tt.getToken(tt.FxA.OpaqueToken(a.UID), "X-KeyID", a.KeyID())
	if got := wantToken(t, r).UID; got != jwtUID {
		t.Errorf("opaque token: uid %d, want %d as with a JWT", got, jwtUID)
	}
	// FxA's 400 errno 108 rejects the token: the user must sign in again.
	tt.FxA.Fail(fxatest.PathVerify, http.StatusBadRequest, 108)
	wantTokenError(t, tt.getToken(tt.FxA.OpaqueToken(a.UID), "X-KeyID", a.KeyID()), unauthorizedAs("invalid-credentials"))
}

func TestTokenStaticJWKSOffline(t *testing.T) {
	var tt *tokenTest
	tt = newTokenTest(t, func(c *fxa.Config) {
		c.IdentityProvider = ""
		c.OAuthURL = "http://fxa.invalid"
		c.Issuer = "api.accounts.firefox.com"
	})
	// The verifier above was built before the stand-in's keys could be
	// read; build one with them.
	v, err := fxa.New(fxa.Config{JWKS: tt.FxA.JWKS(), OAuthURL: "http://fxa.invalid", Issuer: "api.accounts.firefox.com", Now: tt.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tt.token.opts.Verifier = fxaAdapter{v}
	tt.FxA.Close() // nothing to ask: the keys are configured
	a := fxatest.NewAccount("offline@example.com")
	a.Generation, a.KeysChangedAt = 1000, 1000
	tt.FxA.SetAccount(a)
	wantToken(t, tt.firefox(a))
}
