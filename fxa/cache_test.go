package fxa

import (
	"context"
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
