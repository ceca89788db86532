package fxa

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNormalizeOAuthURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://oauth.accounts.firefox.com", DefaultOAuthURL},
		{"https://oauth.accounts.firefox.com/", DefaultOAuthURL},
		{"https://oauth.accounts.firefox.com/v1", DefaultOAuthURL},
		{"https://oauth.accounts.firefox.com/v1/", DefaultOAuthURL},
		{"http://127.0.0.1:9010/oauth", "http://127.0.0.1:9010/oauth/v1"},
		{"ftp://x", ""},
		{"oauth.accounts.firefox.com", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeOAuthURL(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeOAuthURL(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeOAuthURL(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDiscover(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.discovery = map[string]string{
			"auth_server_base_url":      "https://API.accounts.example.com",
			"oauth_server_base_url":     "https://oauth.accounts.example.com",
			"profile_server_base_url":   "https://profile.accounts.example.com",
			"sync_tokenserver_base_url": "https://token.example.com",
		}
	})
	// A path in identity_provider is ignored, as urljoin did.
	d, err := Discover(context.Background(), nil, f.srv.URL+"/some/path")
	wantKind(t, err, nil)
	want := Discovery{
		AuthServerURL:    "https://API.accounts.example.com",
		OAuthServerURL:   "https://oauth.accounts.example.com",
		ProfileServerURL: "https://profile.accounts.example.com",
		TokenServerURL:   "https://token.example.com",
		Issuer:           "api.accounts.example.com",
	}
	if d != want {
		t.Errorf("Discover = %+v, want %+v", d, want)
	}
}

func TestDiscoverFailures(t *testing.T) {
	tests := []struct {
		name string
		doc  map[string]string
	}{
		{"404", nil},
		{"no auth server", map[string]string{"oauth_server_base_url": "https://oauth.example.com"}},
		{"no oauth server", map[string]string{"auth_server_base_url": "https://api.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFxA(t)
			f.set(func(f *fakeFxA) { f.discovery = tt.doc })
			_, err := Discover(context.Background(), nil, f.srv.URL)
			wantKind(t, err, ErrUnavailable)
		})
	}
	_, err := Discover(context.Background(), nil, "not a url")
	wantKind(t, err, ErrUnavailable)
}

func TestVerifierDiscoversLazily(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t)
	k := newTestKey(t, "k1")
	f.set(func(f *fakeFxA) {
		f.jwks = jwksJSON(k)
		f.discovery = map[string]string{
			"auth_server_base_url":  "https://api.accounts.example.com",
			"oauth_server_base_url": f.srv.URL, // /v1 is appended
		}
	})
	v, err := New(Config{IdentityProvider: f.srv.URL, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.hitCount("GET /.well-known/fxa-client-configuration"); n != 0 {
		t.Errorf("New made %d discovery requests; it must make none", n)
	}
	for range 2 {
		got, err := v.Verify(context.Background(), mintJWT(t, jwtSpec{key: k}))
		wantKind(t, err, nil)
		if got.Issuer != "api.accounts.example.com" {
			t.Errorf("Issuer = %q", got.Issuer)
		}
	}
	if n := f.hitCount("GET /.well-known/fxa-client-configuration"); n != 1 {
		t.Errorf("discovery made %d times, want 1", n)
	}
	ep, err := v.Resolve(context.Background())
	wantKind(t, err, nil)
	if ep.OAuthURL != f.srv.URL+"/v1" {
		t.Errorf("OAuthURL = %q", ep.OAuthURL)
	}
}

func TestVerifierRetriesDiscovery(t *testing.T) {
	c := newClock()
	f := newFakeFxA(t) // serves no discovery document yet: 404
	v, err := New(Config{IdentityProvider: f.srv.URL, Now: c.Now, RetryInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = v.Verify(ctx, opaqueToken)
	wantKind(t, err, ErrUnavailable)
	_, err = v.Resolve(ctx)
	wantKind(t, err, ErrUnavailable)
	if n := f.hitCount("GET /.well-known/fxa-client-configuration"); n != 1 {
		t.Errorf("discovery made %d times, want 1 (no retry before RetryInterval)", n)
	}
	f.set(func(f *fakeFxA) {
		f.discovery = map[string]string{"auth_server_base_url": "https://api.example.com", "oauth_server_base_url": f.srv.URL}
		f.verify = answer(200, `{"user":"`+testUID+`","client_id":"c","scope":["`+OldSyncScope+`"]}`)
	})
	c.Add(31 * time.Second)
	got, err := v.Verify(ctx, opaqueToken)
	wantKind(t, err, nil)
	if got.Issuer != "api.example.com" {
		t.Errorf("Issuer = %q", got.Issuer)
	}
}

func TestEndpointResolution(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) {
		f.discovery = map[string]string{"auth_server_base_url": "http://auth.example.com:9000", "oauth_server_base_url": "http://oauth.example.com/"}
		f.config = `{"browserid":{"issuer":"Issuer.Example.com"}}`
	})
	tests := []struct {
		name    string
		cfg     Config
		network bool
		want    Endpoints
	}{
		{"defaults", Config{}, false, Endpoints{DefaultOAuthURL, DefaultIssuer}},
		{"Mozilla's identity provider", Config{IdentityProvider: "https://accounts.firefox.com/"}, false, Endpoints{DefaultOAuthURL, DefaultIssuer}},
		{"Mozilla's IdP with oauth_verifier", Config{IdentityProvider: "https://accounts.firefox.com", OAuthURL: "https://oauth.example.com"}, false, Endpoints{"https://oauth.example.com/v1", DefaultIssuer}},
		{"Mozilla's OAuth server", Config{OAuthURL: "https://oauth.accounts.firefox.com/"}, false, Endpoints{DefaultOAuthURL, DefaultIssuer}},
		{"everything configured", Config{OAuthURL: "https://oauth.example.com", Issuer: "api.example.com"}, false, Endpoints{"https://oauth.example.com/v1", "api.example.com"}},
		{"self-hosted identity provider", Config{IdentityProvider: f.srv.URL}, true, Endpoints{"http://oauth.example.com/v1", "auth.example.com:9000"}},
		{"self-hosted IdP with oauth_verifier", Config{IdentityProvider: f.srv.URL, OAuthURL: "https://verifier.example.com/v1/"}, true, Endpoints{"https://verifier.example.com/v1", "auth.example.com:9000"}},
		{"only a self-hosted oauth_verifier", Config{OAuthURL: f.srv.URL}, true, Endpoints{f.srv.URL + "/v1", "issuer.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if !tt.network {
				cfg.HTTPClient = &http.Client{Transport: noNetwork{t}}
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Resolve(context.Background())
			wantKind(t, err, nil)
			if got != tt.want {
				t.Errorf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigIssuerMissing(t *testing.T) {
	f := newFakeFxA(t)
	f.set(func(f *fakeFxA) { f.config = `{}` })
	v, err := New(Config{OAuthURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Resolve(context.Background())
	wantKind(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "default_issuer") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{IdentityProvider: "accounts.example.com"},
		{OAuthURL: "oauth.example.com"},
		{JWKS: `{"keys":[]}`},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
