package fxa

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerifyJWT(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k := newTestKey(t, "key-1")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k) })
	v := newVerifier(t, f, c, nil)

	tok := mintJWT(t, jwtSpec{key: k, claims: map[string]any{"scope": "profile " + OldSyncScope}})
	got, err := v.Verify(context.Background(), tok)
	wantKind(t, err, nil)
	want := Token{
		UID:        testUID,
		ClientID:   "5882386c6d801776",
		Scope:      []string{"profile", OldSyncScope},
		Generation: 1700000000123,
		Issuer:     "accounts.example.com",
		Expires:    t0.Add(time.Hour),
	}
	if got.UID != want.UID || got.ClientID != want.ClientID || !slices.Equal(got.Scope, want.Scope) ||
		got.Generation != want.Generation || got.Issuer != want.Issuer || !got.Expires.Equal(want.Expires) {
		t.Errorf("Verify = %+v, want %+v", got, want)
	}
	if n := f.hitCount("GET /v1/jwks"); n != 1 {
		t.Errorf("jwks fetched %d times, want 1", n)
	}
	if n := f.hitCount("POST /v1/verify"); n != 0 {
		t.Errorf("a JWT was sent to /v1/verify %d times", n)
	}
}

func TestVerifyJWTRejected(t *testing.T) {
	k := newTestKey(t, "key-1")
	other := newTestKey(t, "key-1") // same kid, different key
	good := jwtSpec{key: k}
	tests := []struct {
		name string
		spec jwtSpec
		want error
		// fetches is how often the keys may be fetched: 0 for checks that
		// must happen before any key is looked at.
		fetches int
	}{
		{"good", good, nil, 1},
		{"expired", jwtSpec{key: k, claims: map[string]any{"exp": t0.Add(-time.Second).Unix()}}, ErrRejected, 1},
		{"exp now is still valid", jwtSpec{key: k, claims: map[string]any{"exp": t0.Unix()}}, nil, 1},
		{"fractional exp", jwtSpec{key: k, claims: map[string]any{"exp": float64(t0.Unix()) + 0.5}}, nil, 1},
		{"no exp", jwtSpec{key: k, claims: map[string]any{"exp": nil}}, ErrRejected, 1},
		{"exp as string", jwtSpec{key: k, claims: map[string]any{"exp": "9999999999"}}, ErrRejected, 1},
		{"nbf in the future", jwtSpec{key: k, claims: map[string]any{"nbf": t0.Add(time.Minute).Unix()}}, ErrRejected, 1},
		{"nbf in the past", jwtSpec{key: k, claims: map[string]any{"nbf": t0.Add(-time.Minute).Unix()}}, nil, 1},
		{"nbf not a number", jwtSpec{key: k, claims: map[string]any{"nbf": "soon"}}, ErrRejected, 1},
		{"alg HS256 with the public key", jwtSpec{key: k, header: map[string]any{"alg": "HS256"}, sign: hs256(k)}, ErrRejected, 0},
		{"alg none", jwtSpec{key: k, header: map[string]any{"alg": "none"}, sign: func(string) []byte { return nil }}, ErrRejected, 0},
		{"alg RS512", jwtSpec{key: k, header: map[string]any{"alg": "RS512"}}, ErrRejected, 0},
		{"alg lower case", jwtSpec{key: k, header: map[string]any{"alg": "rs256"}}, ErrRejected, 0},
		{"critical extension", jwtSpec{key: k, header: map[string]any{"crit": []string{"exp"}}}, ErrRejected, 0},
		{"critical b64 extension", jwtSpec{key: k, header: map[string]any{"crit": []string{"b64"}, "b64": false}}, ErrRejected, 0},
		{"typ JWT", jwtSpec{key: k, header: map[string]any{"typ": "JWT"}}, ErrRejected, 0},
		{"typ missing", jwtSpec{key: k, header: map[string]any{"typ": nil}}, ErrRejected, 0},
		{"typ at+jwt", jwtSpec{key: k, header: map[string]any{"typ": "at+jwt"}}, nil, 1},
		{"typ application/at+JWT", jwtSpec{key: k, header: map[string]any{"typ": "application/at+JWT"}}, nil, 1},
		{"typ text/at+jwt", jwtSpec{key: k, header: map[string]any{"typ": "text/at+jwt"}}, ErrRejected, 0},
		{"signed by another key", jwtSpec{key: other}, ErrRejected, 1},
		{"no sub", jwtSpec{key: k, claims: map[string]any{"sub": nil}}, ErrRejected, 1},
		{"no scope", jwtSpec{key: k, claims: map[string]any{"scope": nil}}, ErrRejected, 1},
		{"wrong scope", jwtSpec{key: k, claims: map[string]any{"scope": "profile"}}, ErrRejected, 1},
		{"sibling scope", jwtSpec{key: k, claims: map[string]any{"scope": OldSyncScope + "x"}}, ErrRejected, 1},
		{"fragment scope", jwtSpec{key: k, claims: map[string]any{"scope": OldSyncScope + "#read"}}, ErrRejected, 1},
		{"parent scope", jwtSpec{key: k, claims: map[string]any{"scope": "https://identity.mozilla.com/apps"}}, nil, 1},
		{"space-separated scopes", jwtSpec{key: k, claims: map[string]any{"scope": "profile " + OldSyncScope}}, nil, 1},
		{"comma-separated scopes", jwtSpec{key: k, claims: map[string]any{"scope": "profile," + OldSyncScope}}, nil, 1},
		{"scope array", jwtSpec{key: k, claims: map[string]any{"scope": []string{"profile", OldSyncScope}}}, nil, 1},
		{"scope not a string", jwtSpec{key: k, claims: map[string]any{"scope": 42}}, ErrRejected, 1},
		{"generation absent", jwtSpec{key: k, claims: map[string]any{"fxa-generation": nil}}, nil, 1},
		{"generation not an integer", jwtSpec{key: k, claims: map[string]any{"fxa-generation": 1.5}}, ErrInvalidGeneration, 1},
		{"generation as string", jwtSpec{key: k, claims: map[string]any{"fxa-generation": "123"}}, ErrInvalidGeneration, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFxA(t)
			f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k) })
			v := newVerifier(t, f, newClock(), nil)
			tok := mintJWT(t, tt.spec)
			_, err := v.Verify(context.Background(), tok)
			wantKind(t, err, tt.want)
			if containsToken(err, tok) {
				t.Errorf("error text contains the token: %v", err)
			}
			if n := f.hitCount("GET /v1/jwks"); n != tt.fetches {
				t.Errorf("jwks fetched %d times, want %d", n, tt.fetches)
			}
			if n := f.hitCount("POST /v1/verify"); n != 0 {
				t.Errorf("a JWT was sent to /v1/verify %d times", n)
			}
		})
	}
}

func TestVerifyJWTTampered(t *testing.T) {
	k := newTestKey(t, "key-1")
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k) })
	v := newVerifier(t, f, newClock(), nil)
	tok := mintJWT(t, jwtSpec{key: k})
	evil := mintJWT(t, jwtSpec{key: k, claims: map[string]any{"sub": "0000000000000000000000000000000f"}})
	parts, evilParts := strings.Split(tok, "."), strings.Split(evil, ".")
	forged := parts[0] + "." + evilParts[1] + "." + parts[2]
	_, err := v.Verify(context.Background(), forged)
	wantKind(t, err, ErrRejected)
}

func TestJWKSRefetchOnUnknownKid(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k1) })
	v := newVerifier(t, f, c, nil)
	ctx := context.Background()

	_, err := v.Verify(ctx, mintJWT(t, jwtSpec{key: k1}))
	wantKind(t, err, nil)
	// FxA rotates: the new key is published and used at once.
	c.Add(time.Minute)
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k1, k2) })
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: k2}))
	wantKind(t, err, nil)
	if n := f.hitCount("GET /v1/jwks"); n != 2 {
		t.Errorf("jwks fetched %d times, want 2 (once more for the new kid)", n)
	}
	// The old key keeps working without a fetch.
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: k1, claims: map[string]any{"jti": "other"}}))
	wantKind(t, err, nil)
	if n := f.hitCount("GET /v1/jwks"); n != 2 {
		t.Errorf("jwks fetched %d times, want 2", n)
	}
	if n := f.hitCount("POST /v1/verify"); n != 0 {
		t.Errorf("/v1/verify asked %d times, want 0: every kid was found in fetched keys", n)
	}
}

// TestJWKSUnknownKidsAreRateLimited: tokens naming kids we do not have
// make us fetch the keys at most once per KeysFetchInterval, whatever
// clients send; the others are asked of FxA's /v1/verify, whose "no" is a
// rejection (never "come back later").
func TestJWKSUnknownKidsAreRateLimited(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k := newTestKey(t, "k1")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k); rejectAll(f) })
	v := newVerifier(t, f, c, nil)
	ctx := context.Background()
	bogus := func(i int) string {
		return mintJWT(t, jwtSpec{key: testKey{kid: fmt.Sprintf("bogus-%d", i), priv: k.priv}})
	}
	for i := range 50 {
		_, err := v.Verify(ctx, bogus(i))
		wantKind(t, err, ErrRejected)
		c.Add(10 * time.Millisecond) // 50 requests within 0.5 s
	}
	if n := f.hitCount("GET /v1/jwks"); n != 1 {
		t.Errorf("jwks fetched %d times for 50 bogus kids within 0.5 s, want 1", n)
	}
	if n := f.hitCount("POST /v1/verify"); n != 50 {
		t.Errorf("/v1/verify asked %d times, want 50", n)
	}
	c.Add(DefaultKeysFetchInterval)
	_, err := v.Verify(ctx, bogus(50))
	wantKind(t, err, ErrRejected)
	if n := f.hitCount("GET /v1/jwks"); n != 2 {
		t.Errorf("jwks fetched %d times, want 2 once the interval passed", n)
	}
}

func TestJWKSConcurrentUnknownKidFetchesOnce(t *testing.T) {
	f := newFakeFxA(t)
	k := newTestKey(t, "k1")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k); f.stall = 200 * time.Millisecond; rejectAll(f) })
	// The real clock: the requests come within the stall.
	v := newVerifier(t, f, newClock(), nil)
	v.keys.mono = time.Now
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		tok := mintJWT(t, jwtSpec{key: testKey{kid: fmt.Sprint("bogus-", i), priv: k.priv}})
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tok) })
	}
	wg.Wait()
	for _, err := range errs {
		wantKind(t, err, ErrRejected)
	}
	if n := f.hitCount("GET /v1/jwks"); n != 1 {
		t.Errorf("jwks fetched %d times by 20 concurrent requests, want 1", n)
	}
}

// TestJWKSThrottledGenuineKid: a token signed with a key FxA started using
// right after our last fetch is accepted on its first request, through
// /v1/verify, and its key is fetched as soon as the rate bound allows, so
// that later tokens are checked locally even while FxA is down.
func TestJWKSThrottledGenuineKid(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k1) })
	v := newVerifier(t, f, c, func(cfg *Config) { cfg.CacheTTL = -1 })
	v.keys.mono = time.Now // the refresh waits on the real clock
	ctx := context.Background()
	_, err := v.Verify(ctx, mintJWT(t, jwtSpec{key: k1}))
	wantKind(t, err, nil)

	fresh := mintJWT(t, jwtSpec{key: k2})
	f.set(func(f *fakeFxA) {
		f.jwks = jwksJSON(k1, k2)
		f.verify = func(w http.ResponseWriter, tok string) {
			if tok != fresh {
				answer(http.StatusBadRequest, `{"code":400,"errno":108}`)(w, tok)
				return
			}
			w.Write([]byte(`{"user":"` + testUID + `","client_id":"5882386c6d801776","scope":["` + OldSyncScope + `"],"generation":1700000000123}`))
		}
	})
	got, err := v.Verify(ctx, fresh)
	wantKind(t, err, nil)
	if got.UID != testUID || got.Generation != 1700000000123 || !got.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("Verify = %+v", got)
	}
	if n := f.hitCount("POST /v1/verify"); n != 1 {
		t.Errorf("/v1/verify asked %d times, want 1", n)
	}
	deadline := time.Now().Add(5 * DefaultKeysFetchInterval)
	for f.hitCount("GET /v1/jwks") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := f.hitCount("GET /v1/jwks"); n != 2 {
		t.Fatalf("jwks fetched %d times, want 2: the new key is fetched once the interval passed", n)
	}
	// FxA goes down; tokens signed with the new key are still accepted.
	f.set(func(f *fakeFxA) { f.jwksStatus = 503; f.verify = nil })
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: k2, claims: map[string]any{"jti": "later"}}))
	wantKind(t, err, nil)
}

// TestJWKSUnknownKidFxADown: with FxA unreachable an unknown kid is
// unavailable (the key may be new), and a /v1/verify that answers decides
// even when the keys cannot be fetched.
func TestJWKSUnknownKidFxADown(t *testing.T) {
	k := newTestKey(t, "k1")
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) { f.jwksStatus = 503 })
	v := newVerifier(t, f, newClock(), nil)
	tok := mintJWT(t, jwtSpec{key: k})
	_, err := v.Verify(context.Background(), tok)
	wantKind(t, err, ErrUnavailable)
	f.set(rejectAll)
	_, err = v.Verify(context.Background(), tok)
	wantKind(t, err, ErrRejected)
}

func TestJWKSRotationDropsWithdrawnKeys(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k1); rejectAll(f) })
	v := newVerifier(t, f, c, func(cfg *Config) { cfg.KeysMaxAge = time.Hour; cfg.CacheTTL = -1 })
	ctx := context.Background()
	old := mintJWT(t, jwtSpec{key: k1, claims: map[string]any{"exp": t0.Add(3 * time.Hour).Unix()}})
	_, err := v.Verify(ctx, old)
	wantKind(t, err, nil)

	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k2) }) // k1 withdrawn
	c.Add(30 * time.Minute)
	_, err = v.Verify(ctx, old)
	wantKind(t, err, nil) // keys are not refetched before KeysMaxAge
	c.Add(31 * time.Minute)
	// The withdrawn kid is unknown now, and FxA says no.
	_, err = v.Verify(ctx, old)
	wantKind(t, err, ErrRejected)
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: k2, claims: map[string]any{"exp": t0.Add(3 * time.Hour).Unix()}}))
	wantKind(t, err, nil)
	if n := f.hitCount("GET /v1/jwks"); n != 2 {
		t.Errorf("jwks fetched %d times, want 2", n)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := newTestKey(t, "k1")
	tests := []struct {
		name string
		edit func(f *fakeFxA)
	}{
		{"500", func(f *fakeFxA) { f.jwksStatus = 500 }},
		{"404", func(f *fakeFxA) { f.jwksStatus = 404 }},
		{"not JSON", func(f *fakeFxA) { f.jwks = "<html>proxy error</html>" }},
		{"no usable key", func(f *fakeFxA) { f.jwks = `{"keys":[{"kty":"EC","kid":"k1"}]}` }},
		{"timeout", func(f *fakeFxA) { f.stall = time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFxA(t)
			f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k); tt.edit(f) })
			v := newVerifier(t, f, newClock(), func(c *Config) { c.Timeout = 100 * time.Millisecond })
			_, err := v.Verify(context.Background(), mintJWT(t, jwtSpec{key: k}))
			wantKind(t, err, ErrUnavailable)
		})
	}
	t.Run("closed server", func(t *testing.T) {
		f := newFakeFxA(t)
		f.srv.Close()
		v := newVerifier(t, f, newClock(), nil)
		_, err := v.Verify(context.Background(), mintJWT(t, jwtSpec{key: k}))
		wantKind(t, err, ErrUnavailable)
	})
}

func TestJWKSOutageKeepsKnownKeys(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k := newTestKey(t, "k1")
	f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k) })
	v := newVerifier(t, f, c, func(cfg *Config) { cfg.CacheTTL = -1 })
	ctx := context.Background()
	tok := mintJWT(t, jwtSpec{key: k, claims: map[string]any{"exp": t0.Add(5 * time.Hour).Unix()}})
	_, err := v.Verify(ctx, tok)
	wantKind(t, err, nil)

	f.set(func(f *fakeFxA) { f.jwksStatus = 503 })
	c.Add(2 * time.Hour) // keys are stale; the refresh fails
	_, err = v.Verify(ctx, tok)
	wantKind(t, err, nil)
	_, err = v.Verify(ctx, tok)
	wantKind(t, err, nil)
	if n := f.hitCount("GET /v1/jwks"); n != 2 {
		t.Errorf("jwks fetched %d times, want 2 (no retry within KeysFetchInterval)", n)
	}
	// An unknown kid during the outage is unavailable, not rejected: the
	// key may be new, and /v1/verify cannot answer either.
	c.Add(time.Minute)
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: testKey{kid: "k2", priv: k.priv}}))
	wantKind(t, err, ErrUnavailable)
}

func TestStaticJWKSOffline(t *testing.T) {
	k := newTestKey(t, "k1")
	v := newVerifier(t, nil, newClock(), func(c *Config) {
		c.JWKS = jwksJSON(k)
		c.OAuthURL = "http://fxa.invalid"
		c.HTTPClient = &http.Client{Transport: noNetwork{t}}
	})
	ctx := context.Background()
	got, err := v.Verify(ctx, mintJWT(t, jwtSpec{key: k}))
	wantKind(t, err, nil)
	if got.UID != testUID {
		t.Errorf("UID = %q", got.UID)
	}
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: testKey{kid: "k2", priv: k.priv}}))
	wantKind(t, err, ErrRejected)
	_, err = v.Verify(ctx, mintJWT(t, jwtSpec{key: k, claims: map[string]any{"exp": t0.Add(-time.Minute).Unix()}}))
	wantKind(t, err, ErrRejected)
}

func TestStaticJWKSForms(t *testing.T) {
	k := newTestKey(t, "k1")
	single := k.jwk()
	tests := []struct {
		name, jwks string
		ok         bool
	}{
		{"key set", jwksJSON(k), true},
		{"single key", mustJSON(single), true},
		{"not JSON", "keys", false},
		{"empty set", `{"keys":[]}`, false},
		{"EC only", `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`, false},
		{"wrong alg", strings.Replace(jwksJSON(k), `"RS256"`, `"RS512"`, 1), false},
		{"small key", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, false},
		// A key the parser cannot read does not spoil the usable ones.
		{"unreadable key beside a good one", strings.Replace(jwksJSON(k), `"keys":[`, `"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"},{"kty":"OKP"},`, 1), true},
		{"even exponent", strings.Replace(jwksJSON(k), `"e":"AQAB"`, `"e":"AQAA"`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{JWKS: tt.jwks})
			if (err == nil) != tt.ok {
				t.Errorf("New err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestTokenWithoutKidTriesEveryKey(t *testing.T) {
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	v := newVerifier(t, nil, newClock(), func(c *Config) { c.JWKS = jwksJSON(k1, k2); c.OAuthURL = "http://fxa.invalid" })
	_, err := v.Verify(context.Background(), mintJWT(t, jwtSpec{key: k2, header: map[string]any{"kid": nil}}))
	wantKind(t, err, nil)
}
