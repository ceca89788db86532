package fxa

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func TestVerifyCache(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.verify = answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"]}`)
	})
	v := newVerifier(t, f, c, func(cfg *Config) { cfg.CacheTTL = time.Minute })
	ctx := context.Background()
	for range 3 {
		_, err := v.Verify(ctx, opaqueToken)
		wantKind(t, err, nil)
	}
	if n := f.hitCount("POST /v1/verify"); n != 1 {
		t.Errorf("/v1/verify called %d times, want 1 (cached)", n)
	}
	c.Add(61 * time.Second)
	_, err := v.Verify(ctx, opaqueToken)
	wantKind(t, err, nil)
	if n := f.hitCount("POST /v1/verify"); n != 2 {
		t.Errorf("/v1/verify called %d times, want 2 after the TTL", n)
	}
}

func TestVerifyCacheKeepsNoFailures(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) { f.verify = answer(400, `{"errno":108}`) })
	v := newVerifier(t, f, newClock(), nil)
	for range 2 {
		_, err := v.Verify(context.Background(), opaqueToken)
		wantKind(t, err, ErrRejected)
	}
	if n := f.hitCount("POST /v1/verify"); n != 2 {
		t.Errorf("/v1/verify called %d times, want 2", n)
	}
}

func TestVerifyCacheStopsAtExpiry(t *testing.T) {
	c := newClock()
	k := newTestKey(t, "k1")
	v := newVerifier(t, nil, c, func(cfg *Config) {
		cfg.JWKS = jwksJSON(k)
		cfg.OAuthURL = "http://fxa.invalid"
		cfg.CacheTTL = time.Hour
	})
	tok := mintJWT(t, jwtSpec{key: k, claims: map[string]any{"exp": t0.Add(10 * time.Second).Unix()}})
	_, err := v.Verify(context.Background(), tok)
	wantKind(t, err, nil)
	c.Add(11 * time.Second)
	_, err = v.Verify(context.Background(), tok)
	wantKind(t, err, ErrRejected)
}

func TestVerifyCacheIsBounded(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.verify = answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"]}`)
	})
	v := newVerifier(t, f, newClock(), func(cfg *Config) { cfg.CacheSize = 20 })
	for i := range 100 {
		_, err := v.Verify(context.Background(), fmt.Sprintf("token-%d", i))
		wantKind(t, err, nil)
		if n := v.cache.len(); n > 20 {
			t.Fatalf("cache holds %d entries, bound is 20", n)
		}
	}
}

func TestVerifyCacheReturnsCopies(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.verify = answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"]}`)
	})
	v := newVerifier(t, f, newClock(), nil)
	a, _ := v.Verify(context.Background(), opaqueToken)
	a.Scope[0] = "changed"
	b, err := v.Verify(context.Background(), opaqueToken)
	wantKind(t, err, nil)
	if b.Scope[0] != OldSyncScope {
		t.Errorf("cached scope changed by a caller: %v", b.Scope)
	}
}

// A JWT is remembered past CacheTTL, up to its exp (within JWTCacheTTL),
// since Firefox presents the same access token for every storage token of
// its lifetime; a token verified by the OAuth server still is not.
func TestVerifyCacheKeepsJWTUntilExpiry(t *testing.T) {
	c := newClock()
	k := newTestKey(t, "k1")
	v := newVerifier(t, nil, c, func(cfg *Config) {
		cfg.JWKS = jwksJSON(k)
		cfg.OAuthURL = "http://fxa.invalid"
	})
	if v.cfg.CacheTTL != DefaultCacheTTL || v.cfg.JWTCacheTTL != DefaultJWTCacheTTL {
		t.Fatalf("TTLs %v and %v, want the defaults", v.cfg.CacheTTL, v.cfg.JWTCacheTTL)
	}
	tok := mintJWT(t, jwtSpec{key: k, claims: map[string]any{"exp": t0.Add(30 * time.Minute).Unix()}})
	key := sha256.Sum256([]byte(tok))
	_, err := v.Verify(context.Background(), tok)
	wantKind(t, err, nil)
	c.Add(20 * time.Minute)
	if _, ok := v.cache.get(key, c.Now()); !ok {
		t.Fatal("JWT no longer cached 20 minutes later, before its exp")
	}
	_, err = v.Verify(context.Background(), tok)
	wantKind(t, err, nil)
	c.Add(11 * time.Minute)
	if _, ok := v.cache.get(key, c.Now()); ok {
		t.Error("JWT still cached after its exp")
	}
	_, err = v.Verify(context.Background(), tok)
	wantKind(t, err, ErrRejected)

	// JWTCacheTTL bounds a long-lived token.
	long := mintJWT(t, jwtSpec{key: k, claims: map[string]any{"exp": c.Now().Add(48 * time.Hour).Unix()}})
	_, err = v.Verify(context.Background(), long)
	wantKind(t, err, nil)
	c.Add(DefaultJWTCacheTTL)
	if _, ok := v.cache.get(sha256.Sum256([]byte(long)), c.Now()); ok {
		t.Error("JWT cached longer than JWTCacheTTL")
	}
}

func TestVerifyCacheIsBoundedByBytes(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.verify = answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"]}`)
	})
	const bound = 4000
	v := newVerifier(t, f, newClock(), func(cfg *Config) { cfg.CacheBytes = bound })
	for i := range 100 {
		_, err := v.Verify(context.Background(), fmt.Sprintf("token-%d", i))
		wantKind(t, err, nil)
		if n := v.cache.size(); n > bound {
			t.Fatalf("cache holds %d bytes, bound is %d", n, bound)
		}
		if n := v.cache.len(); n*entryOverhead > bound {
			t.Fatalf("cache holds %d entries, more than %d bytes hold", n, bound)
		}
	}
	if n := v.cache.len(); n < 2 {
		t.Errorf("cache holds %d entries: the bound should leave room for several", n)
	}
	// The last token is among those kept.
	_, err := v.Verify(context.Background(), "token-99")
	wantKind(t, err, nil)
	if n := f.hitCount("POST /v1/verify"); n != 100 {
		t.Errorf("/v1/verify called %d times, want 100 (token-99 cached)", n)
	}
}
