package fxa

import (
	"context"
	"net/http"
	"testing"
)

// thunderbirdScope is the scope Thunderbird's Sync access tokens grant.
const thunderbirdScope = "https://identity.thunderbird.net/apps/sync"

func TestVerifyAcceptedScopes(t *testing.T) {
	k := newTestKey(t, "key-1")
	for _, tc := range []struct {
		name   string
		scopes []string
		scope  string // of the token
		want   error
	}{
		{"default takes oldsync", nil, OldSyncScope, nil},
		{"default refuses Thunderbird", nil, thunderbirdScope, ErrRejected},
		{"default refuses profile", nil, "profile", ErrRejected},
		{"listed Thunderbird", []string{OldSyncScope, thunderbirdScope}, thunderbirdScope, nil},
		{"listed, oldsync still", []string{OldSyncScope, thunderbirdScope}, OldSyncScope, nil},
		{"listed, parent scope implies", []string{OldSyncScope, thunderbirdScope}, "https://identity.thunderbird.net/apps", nil},
		{"listed, another scope refused", []string{OldSyncScope, thunderbirdScope}, "profile https://identity.thunderbird.net/apps/other", ErrRejected},
		{"Thunderbird only refuses Firefox", []string{thunderbirdScope}, OldSyncScope, ErrRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeFxA(t)
			f.set(func(f *fakeFxA) { f.jwks = jwksJSON(k) })
			v := newVerifier(t, f, newClock(), func(c *Config) { c.Scopes = tc.scopes })
			_, err := v.Verify(context.Background(), mintJWT(t, jwtSpec{key: k, claims: map[string]any{"scope": tc.scope}}))
			wantKind(t, err, tc.want)
		})
	}
}

// TestDefaultClientHonoursProxyVariables: the client FxA is reached with
// takes its proxy from HTTPS_PROXY/NO_PROXY. (cmd/syncserver's
// TestEnvironmentOnlyThroughProxy runs the binary through a real proxy.)
func TestDefaultClientHonoursProxyVariables(t *testing.T) {
	v, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := v.cfg.HTTPClient.Transport.(*http.Transport)
	if !ok || tr.Proxy == nil {
		t.Fatalf("transport %T has no proxy function", v.cfg.HTTPClient.Transport)
	}
}
