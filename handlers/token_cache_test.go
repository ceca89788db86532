package handlers

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/fxa"
	"syncserver/internal/fxatest"
)

// newCachingTokenTest is a tokenserver whose verifier remembers JWTs (the
// default) and would fetch FxA's keys again for any JWT it has to check:
// a request that leaves the stand-in's key count unchanged was answered
// from the verification cache.
func newCachingTokenTest(t *testing.T) *tokenTest {
	return newTokenTest(t, func(c *fxa.Config) {
		c.KeysMaxAge = time.Nanosecond
		c.KeysFetchInterval = time.Nanosecond
	})
}

// cachedRequest sends the request of a with the access token jwt a
// second later, and fails the test unless the verifier answered from its
// cache.
func (tt *tokenTest) cachedRequest(t *testing.T, a fxatest.Account, jwt string) *Response {
	t.Helper()
	tt.Clock.Advance(time.Second)
	before := tt.FxA.Hits(fxatest.PathJWKS)
	r := tt.getToken(jwt, "X-KeyID", a.KeyID())
	if after := tt.FxA.Hits(fxatest.PathJWKS); after != before {
		t.Fatalf("the keys were fetched (%d times): the JWT was verified again, not taken from the cache", after-before)
	}
	return r
}

// TestTokenCachedJWTStillChecked: a JWT the verifier remembers still goes
// through every rule of the tokenserver: its expiry, the user's
// generation, a retired account, the allowed users.
func TestTokenCachedJWTStillChecked(t *testing.T) {
	t.Run("uncached JWTs fetch the keys", func(t *testing.T) {
		// The premise of cachedRequest: without the cache, a request
		// shows as a key fetch.
		tt := newCachingTokenTest(t)
		a := tt.account()
		wantToken(t, tt.firefox(a))
		tt.Clock.Advance(time.Second)
		before := tt.FxA.Hits(fxatest.PathJWKS)
		wantTokenStatus(t, tt.firefox(a), http.StatusOK, "") // a new JWT
		if tt.FxA.Hits(fxatest.PathJWKS) == before {
			t.Fatal("a new JWT was verified without fetching the keys: cachedRequest proves nothing")
		}
	})
	t.Run("expiry", func(t *testing.T) {
		tt := newCachingTokenTest(t)
		a := tt.account()
		jwt := tt.FxA.AccessToken(a.UID, fxatest.TokenOptions{TTL: time.Hour})
		wantToken(t, tt.getToken(jwt, "X-KeyID", a.KeyID()))
		tt.Clock.Advance(58 * time.Minute)
		wantTokenStatus(t, tt.cachedRequest(t, a, jwt), http.StatusOK, "")
		tt.Clock.Advance(2 * time.Minute)
		wantTokenStatus(t, tt.getToken(jwt, "X-KeyID", a.KeyID()), http.StatusUnauthorized, "invalid-credentials")
	})
	t.Run("generation", func(t *testing.T) {
		tt := newCachingTokenTest(t)
		a := tt.account()
		old := tt.FxA.JWT(a.UID)
		wantToken(t, tt.getToken(old, "X-KeyID", a.KeyID()))
		// A password change: FxA's tokens carry a later generation, and
		// the first one seen raises the user's.
		a.Generation += 1000
		tt.FxA.SetAccount(a)
		wantToken(t, tt.firefox(a))
		wantTokenStatus(t, tt.cachedRequest(t, a, old), http.StatusUnauthorized, "invalid-generation")
	})
	t.Run("retired", func(t *testing.T) {
		tt := newCachingTokenTest(t)
		a := tt.account()
		jwt := tt.FxA.JWT(a.UID)
		tok := wantToken(t, tt.getToken(jwt, "X-KeyID", a.KeyID()))
		if err := tt.Store.(db.Admin).RetireUser(t.Context(), db.UID(tok.UID)); err != nil {
			t.Fatal(err)
		}
		wantTokenStatus(t, tt.cachedRequest(t, a, jwt), http.StatusUnauthorized, "invalid-generation")
	})
	t.Run("allowed users", func(t *testing.T) {
		tt := newCachingTokenTest(t)
		a := tt.account()
		jwt := tt.FxA.JWT(a.UID)
		wantToken(t, tt.getToken(jwt, "X-KeyID", a.KeyID()))
		tt.token.allowed = map[string]bool{"someone-else": true}
		wantTokenStatus(t, tt.cachedRequest(t, a, jwt), http.StatusUnauthorized, "new-users-disabled")
	})
}

// wantTokenStatus checks the status of a token answer and, for an error,
// the status it names; unlike wantToken and wantTokenError it takes any
// X-Timestamp, since these tests move the clock.
func wantTokenStatus(t *testing.T, r *Response, code int, status string) {
	t.Helper()
	if r.Status != code {
		t.Fatalf("got %d %s, want %d", r.Status, r.Body, code)
	}
	if code == http.StatusOK {
		return
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Status != status {
		t.Fatalf("got %s, want status %q", r.Body, status)
	}
}
