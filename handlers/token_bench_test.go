package handlers

import (
	"net/http"
	"testing"
	"time"

	"syncserver/fxa"
)

// BenchmarkTokenIssueLocalJWT is a token request of an existing user whose
// JWT access token is verified locally (static JWKS, no network): RSA
// verification, the user lookup in the store (SYNCSERVER_TEST_BACKEND)
// and the token minting. "cached" presents the same access token again,
// as a client refreshing its storage token within the verification
// cache's lifetime does. "record" variants also answer from the user
// record cache (a user seen in the last UserCacheTTL); the others read
// the record from the store every time. The "parallel" variants send
// from 8 goroutines per CPU, as many clients at once do: their ns/op is
// the inverse of the throughput, in which a database server's round
// trips overlap.
func BenchmarkTokenIssueLocalJWT(b *testing.B) {
	for _, bc := range []struct {
		name     string
		cacheTTL time.Duration
		parallel bool
		record   bool
	}{
		{"verify", -1, false, false}, {"cached", time.Minute, false, false},
		{"verify-parallel", -1, true, false}, {"cached-parallel", time.Minute, true, false},
		{"cached-record", time.Minute, false, true}, {"cached-record-parallel", time.Minute, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tt := newTokenTest(b, nil)
			v, err := fxa.New(fxa.Config{JWKS: tt.FxA.JWKS(), OAuthURL: "http://fxa.invalid", Issuer: "api.accounts.firefox.com",
				Now: tt.Clock.Now, CacheTTL: bc.cacheTTL})
			if err != nil {
				b.Fatal(err)
			}
			tt.token.opts.Verifier = fxaAdapter{v}
			if !bc.record {
				tt.token.users = nil
			}
			a := tt.account()
			req := func() *Request {
				return newRequest(http.MethodGet, tokenPath, "", "Authorization", "Bearer "+tt.FxA.JWT(a.UID), "X-KeyID", a.KeyID())
			}
			wantToken(b, tt.serve(req())) // the user exists from now on
			b.ReportAllocs()
			if bc.parallel {
				b.SetParallelism(8)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					r := req()
					authz := r.Header.Get("Authorization")
					for pb.Next() {
						r.Header.Set("Authorization", authz)
						if resp := tt.serve(r); resp.Status != http.StatusOK {
							b.Errorf("%d %s", resp.Status, resp.Body)
							return
						}
					}
				})
				return
			}
			r := req()
			authz := r.Header.Get("Authorization")
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
