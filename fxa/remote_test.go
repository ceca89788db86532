package fxa

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// opaqueToken looks like FxA's opaque access tokens: 64 hex digits.
const opaqueToken = "8d3c2b1a0f9e8d7c6b5a49382716051423324150f6e7d8c9bacbdcedfe0f1a2b"

func answer(status int, body string) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, tok string) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

func TestVerifyOpaque(t *testing.T) {
	okBody := `{"user":"` + testUID + `","client_id":"5882386c6d801776","scope":["profile","` + OldSyncScope + `"],"generation":1700000000123,"profile_changed_at":1}`
	tests := []struct {
		name   string
		verify func(http.ResponseWriter, string)
		stall  time.Duration
		want   error
	}{
		{"ok", answer(200, okBody), 0, nil},
		{"ok without generation", answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"]}`), 0, nil},
		{"ok with a scope string", answer(200, `{"user":"`+testUID+`","client_id":"c","scope":"profile,`+OldSyncScope+`"}`), 0, nil},
		{"invalid token, errno 108", answer(400, `{"code":400,"errno":108,"error":"Bad Request","message":"Invalid token"}`), 0, ErrRejected},
		{"expired token, errno 115", answer(400, `{"code":400,"errno":115,"error":"Bad Request","message":"Expired token"}`), 0, ErrRejected},
		{"401", answer(401, `{}`), 0, ErrRejected},
		{"404 without JSON", answer(404, `not found`), 0, ErrRejected},
		{"wrong scope", answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["profile"]}`), 0, ErrRejected},
		{"fragment scope", answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`#read"]}`), 0, ErrRejected},
		{"generation not an integer", answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"],"generation":"x"}`), 0, ErrInvalidGeneration},
		{"500", answer(500, `{"code":500,"errno":999}`), 0, ErrUnavailable},
		{"502 from a proxy", answer(502, `<html>Bad Gateway</html>`), 0, ErrUnavailable},
		{"503", answer(503, ``), 0, ErrUnavailable},
		{"429 throttled", answer(429, `{"code":429,"errno":114}`), 0, ErrUnavailable},
		{"malformed JSON", answer(200, `{"user":`), 0, ErrUnavailable},
		{"HTML with 200", answer(200, `<html>captive portal</html>`), 0, ErrUnavailable},
		{"no user", answer(200, `{"client_id":"c","scope":["`+OldSyncScope+`"]}`), 0, ErrUnavailable},
		{"no scope", answer(200, `{"user":"`+testUID+`","client_id":"c"}`), 0, ErrUnavailable},
		{"timeout", answer(200, okBody), 3 * time.Second, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFxA(t)
			var mu sync.Mutex
			var gotToken string
			f.set(func(f *fakeFxA) {
				f.stall = tt.stall
				f.verify = func(w http.ResponseWriter, tok string) {
					mu.Lock()
					gotToken = tok
					mu.Unlock()
					tt.verify(w, tok)
				}
			})
			// The timeout is far below the stalled answer's delay and far
			// above a prompt answer's time on a loaded machine (with the
			// race detector), so neither case depends on the machine.
			v := newVerifier(t, f, newClock(), func(c *Config) { c.Timeout = time.Second })
			got, err := v.Verify(context.Background(), opaqueToken)
			wantKind(t, err, tt.want)
			if containsToken(err, opaqueToken) {
				t.Errorf("error text contains the token: %v", err)
			}
			mu.Lock()
			got1 := gotToken
			mu.Unlock()
			if tt.stall == 0 && got1 != opaqueToken {
				t.Errorf("/v1/verify got token %q", got1)
			}
			if n := f.hitCount("GET /v1/jwks"); n != 0 {
				t.Errorf("jwks fetched %d times for an opaque token", n)
			}
			if err == nil && (got.UID != testUID || !slices.Contains(got.Scope, OldSyncScope) || got.Issuer != "accounts.example.com") {
				t.Errorf("Verify = %+v", got)
			}
		})
	}
}

func TestVerifyOpaqueFields(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.verify = answer(200, `{"user":"`+testUID+`","client_id":"5882386c6d801776","scope":["`+OldSyncScope+`"],"generation":42}`)
	})
	v := newVerifier(t, f, newClock(), nil)
	got, err := v.Verify(context.Background(), opaqueToken)
	wantKind(t, err, nil)
	if got.UID != testUID || got.ClientID != "5882386c6d801776" || got.Generation != 42 || !got.Expires.IsZero() {
		t.Errorf("Verify = %+v", got)
	}
}

func TestVerifyEmptyToken(t *testing.T) {
	v := newVerifier(t, nil, newClock(), func(c *Config) { c.HTTPClient = &http.Client{Transport: noNetwork{t}} })
	_, err := v.Verify(context.Background(), "")
	wantKind(t, err, ErrRejected)
}

func TestMalformedJWTGoesToVerify(t *testing.T) {
	// Three segments but no JSON header: not a JWT, so FxA decides.
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) { f.verify = answer(400, `{"errno":108}`) })
	v := newVerifier(t, f, newClock(), nil)
	_, err := v.Verify(context.Background(), "abc.def.ghi")
	wantKind(t, err, ErrRejected)
	if n := f.hitCount("POST /v1/verify"); n != 1 {
		t.Errorf("/v1/verify called %d times, want 1", n)
	}
}
