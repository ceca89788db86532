package handlers

import (
	"net/http"
	"testing"
	"time"

	"syncserver/fxa"
)

// BenchmarkTokenIssueLocalJWT is a token request of an existing user whose
// JWT access token is verified locally (static JWKS, no network): RSA
// verification, the user lookup in sqlite and the token minting. "cached"
// presents the same access token again, as a client refreshing its storage
// token within the verification cache's lifetime does.
func BenchmarkTokenIssueLocalJWT(b *testing.B) {
	for _, bc := range []struct {
		name     string
		cacheTTL time.Duration
	}{{"verify", -1}, {"cached", time.Minute}} {
		b.Run(bc.name, func(b *testing.B) {
			tt := newTokenTest(b, nil)
			v, err := fxa.New(fxa.Config{JWKS: tt.FxA.JWKS(), OAuthURL: "http://fxa.invalid", Issuer: "api.accounts.firefox.com",
				Now: tt.Clock.Now, CacheTTL: bc.cacheTTL})
			if err != nil {
				b.Fatal(err)
			}
			tt.token.opts.Verifier = fxaAdapter{v}
			a := tt.account()
			req := func() *Request {
				return newRequest(http.MethodGet, tokenPath, "", "Authorization", "Bearer "+tt.FxA.JWT(a.UID), "X-KeyID", a.KeyID())
			}
			wantToken(b, tt.serve(req())) // the user exists from now on
			r := req()
			authz := r.Header.Get("Authorization")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.Header.Set("Authorization", authz)
				if resp := tt.serve(r); resp.Status != http.StatusOK {
					b.Fatalf("%d %s", resp.Status, resp.Body)
				}
			}
		})
	}
}
