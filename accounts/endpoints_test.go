package accounts

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/handlers"
	"syncserver/hawk"
)

func TestDiscoveryDocuments(t *testing.T) {
	h := newHarness(t)
	m := wantOK(t, h.do("GET", "/.well-known/fxa-client-configuration", nil))
	want := map[string]any{
		"auth_server_base_url":      testOrigin,
		"oauth_server_base_url":     testOrigin,
		"profile_server_base_url":   testOrigin + "/profile",
		"sync_tokenserver_base_url": testTokenServer,
		"pairing_server_base_uri":   nil,
	}
	if len(m) != len(want) {
		t.Fatalf("client configuration %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	o := wantOK(t, h.do("GET", "/.well-known/openid-configuration", nil))
	for k, v := range map[string]string{
		"issuer":                 testOrigin,
		"authorization_endpoint": testOrigin + "/authorization",
		"token_endpoint":         testOrigin + "/v1/token",
		"userinfo_endpoint":      testOrigin + "/profile/v1/profile",
		"introspection_endpoint": testOrigin + "/v1/introspect",
		"revocation_endpoint":    testOrigin + "/v1/destroy",
		"jwks_uri":               testOrigin + "/v1/jwks",
	} {
		if o[k] != v {
			t.Errorf("openid %s = %v, want %v", k, o[k], v)
		}
	}
	if got := o["code_challenge_methods_supported"].([]any); len(got) != 1 || got[0] != "S256" {
		t.Errorf("code_challenge_methods_supported %v", got)
	}
	// Not ours: handed on.
	for _, p := range []string{"/1.5/1/info/collections", "/token/1.0/sync/1.5", "/__heartbeat__", "/v2/account/login"} {
		if _, ok := h.svc.Serve(context.Background(), h.request("GET", p, nil)); ok {
			t.Errorf("%s claimed by the accounts service", p)
		}
	}
	wantErrno(t, h.do("POST", "/.well-known/fxa-client-configuration", nil), http.StatusMethodNotAllowed, errnoInvalidParameter)
}

func TestPageHeaders(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/", "/authorization", "/oauth/force_auth", "/signin", "/oauth/signin", "/settings", "/settings/clients"} {
		r := h.do("GET", p+"?context=oauth_webchannel_v1&state=abc", nil)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "<form") {
			t.Fatalf("%s: %d %.80s", p, r.Status, r.Body)
		}
		for k, v := range map[string]string{
			"Content-Security-Policy":   "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
			"X-Frame-Options":           "DENY",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"Cache-Control":             "no-store",
			"Strict-Transport-Security": "max-age=31536000",
			"Content-Type":              "text/html; charset=utf-8",
		} {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s %s: %q, want %q", p, k, got, v)
			}
		}
	}
	r := h.do("GET", "/avatar/default.png", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(r.Body), "\x89PNG") {
		t.Fatalf("avatar: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	r = h.do("POST", "/", "x")
	if r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %d", r.Status)
	}
	// Plain http (loopback tests): no HSTS.
	hh := newHarness(t, func(o *Options) { o.Origin = "http://127.0.0.1:5000" })
	if r := hh.do("GET", "/", nil); r.Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS on plain http")
	}
}

func TestLoginErrors(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LoginsPerAccount = 3 })
	h.addAccount("me@example.org", "pw")
	pw := hex.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name   string
		body   any
		status int
		errno  int
	}{
		{"bad json", "{", 400, errnoInvalidJSON},
		{"missing email", map[string]string{"authPW": pw}, 400, errnoMissingParameter},
		{"missing authPW", map[string]string{"email": "me@example.org"}, 400, errnoMissingParameter},
		{"short authPW", map[string]string{"email": "me@example.org", "authPW": "abcd"}, 400, errnoInvalidParameter},
		{"not hex", map[string]string{"email": "me@example.org", "authPW": strings.Repeat("zz", 32)}, 400, errnoInvalidParameter},
		{"unknown email", map[string]string{"email": "x@example.org", "authPW": pw}, 400, errnoIncorrectPW},
		{"wrong password", map[string]string{"email": "me@example.org", "authPW": pw}, 400, errnoIncorrectPW},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErrno(t, h.do("POST", "/v1/account/login?keys=true", tc.body), tc.status, tc.errno)
		})
	}
	// The account has had 1 try; two more, then 429/114, even with the
	// right password, with retryAfter in the body and no header.
	body := map[string]string{"email": "ME@example.org", "authPW": pw}
	wantErrno(t, h.do("POST", "/v1/account/login", body), 400, errnoIncorrectPW)
	wantErrno(t, h.do("POST", "/v1/account/login", body), 400, errnoIncorrectPW)
	r := h.do("POST", "/v1/account/login", body)
	wantErrno(t, r, http.StatusTooManyRequests, errnoTooManyRequests)
	if m := decodeJSON(t, r); m["retryAfter"] == nil {
		t.Fatalf("no retryAfter on a page-only route: %s", r.Body)
	}
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	r, _ = page.login()
	wantErrno(t, r, http.StatusTooManyRequests, errnoTooManyRequests)
	// The window passes.
	h.clock.Add(rateWindow)
	r, _ = page.login()
	wantOK(t, r)
	// authPWVersion2 wins over authPW.
	qs := stretch("pw", page.salt())
	r = h.do("POST", "/v1/account/login", map[string]string{"email": "me@example.org", "authPW": pw, "authPWVersion2": hex.EncodeToString(onepw.AuthPW(qs))})
	if m := wantOK(t, r); m["keyFetchToken"] != nil || m["verified"] != true || m["sessionVerified"] != true || m["emailVerified"] != true {
		t.Fatalf("login without keys: %v", m)
	}
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.LoginsPerAddress = 2 })
	for i := 0; i < 2; i++ {
		wantOK(t, h.do("POST", "/v1/account/credentials/status", map[string]string{"email": "a@example.org"}))
	}
	wantErrno(t, h.do("POST", "/v1/account/credentials/status", map[string]string{"email": "b@example.org"}), http.StatusTooManyRequests, errnoTooManyRequests)
	h.remote = "192.0.2.99:1"
	wantOK(t, h.do("POST", "/v1/account/credentials/status", map[string]string{"email": "b@example.org"}))
}

func TestHawkRefusals(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	si := (&pageClient{h: h, email: "me@example.org", password: "pw"}).signIn()
	raw, _ := hex.DecodeString(si.session)
	tk := onepw.DeriveToken(raw, onepw.KindSession)
	sign := func(a hawk.Auth, method, uri string, key []byte) *handlers.Request {
		r := h.request(method, uri, nil)
		if a.Nonce == "" {
			a.Nonce = randomHex(4)
		}
		a.MAC = hawk.Sign(key, a, hawk.Request{Method: method, Host: "accounts.example.org", Port: 443, Resource: uri})
		r.Header.Set("Authorization", a.Header())
		return r
	}
	now := h.clock.Now().Unix()
	replayed := sign(hawk.Auth{ID: tk.ID, TS: now, Nonce: "same"}, "GET", "/v1/session/status", tk.HMACKey)
	wantOK(t, h.serve(replayed))
	for _, tc := range []struct {
		name  string
		req   *handlers.Request
		errno int
	}{
		{"no credentials", h.request("GET", "/v1/session/status", nil), errnoInvalidToken},
		{"unknown token", sign(hawk.Auth{ID: strings.Repeat("ab", 32), TS: now}, "GET", "/v1/session/status", tk.HMACKey), errnoInvalidToken},
		{"wrong key", sign(hawk.Auth{ID: tk.ID, TS: now}, "GET", "/v1/session/status", []byte("wrong")), errnoInvalidSignature},
		{"other path signed", func() *handlers.Request {
			r := sign(hawk.Auth{ID: tk.ID, TS: now}, "GET", "/v1/account/devices", tk.HMACKey)
			r.RequestURI = "/v1/session/status"
			return r
		}(), errnoInvalidSignature},
		{"clock 601 s behind", sign(hawk.Auth{ID: tk.ID, TS: now - 601}, "GET", "/v1/session/status", tk.HMACKey), errnoInvalidTimestamp},
		{"clock 601 s ahead", sign(hawk.Auth{ID: tk.ID, TS: now + 601}, "GET", "/v1/session/status", tk.HMACKey), errnoInvalidTimestamp},
		{"replayed nonce", replayed, errnoInvalidNonce},
		{"malformed header", func() *handlers.Request {
			r := h.request("GET", "/v1/session/status", nil)
			r.Header.Set("Authorization", `Hawk id="x", ts="notanumber"`)
			return r
		}(), errnoInvalidSignature},
		{"fxs_ of an unknown token", h.request("GET", "/v1/session/status", nil, "Authorization", "Bearer fxs_"+strings.Repeat("cd", 32)), errnoInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req == replayed {
				tc.req.Body = strings.NewReader("")
			}
			wantErrno(t, h.serve(tc.req), http.StatusUnauthorized, tc.errno)
		})
	}
	// Within ±600 s is fine.
	wantOK(t, h.serve(sign(hawk.Auth{ID: tk.ID, TS: now - 599}, "GET", "/v1/session/status", tk.HMACKey)))
	// A body that does not match the signed payload hash.
	r := h.hawkSigned(h.request("POST", "/v1/account/devices/notify", map[string]any{"to": "all", "payload": map[string]any{}}), si.session, onepw.KindSession)
	r.Body = strings.NewReader(`{"to":"other"}`)
	wantErrno(t, h.serve(r), http.StatusUnauthorized, errnoInvalidSignature)
	// Bearer fxs_<tokenId> is a session credential too.
	m := wantOK(t, h.do("GET", "/v1/session/status", nil, "Authorization", "Bearer fxs_"+tk.ID))
	if m["uid"] != si.uid || m["state"] != "verified" {
		t.Fatalf("session/status %v", m)
	}
}

func TestKeysSingleUseAndShortLived(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	r, _ := page.login()
	kft := wantOK(t, r)["keyFetchToken"].(string)
	keys := func(tok string) *handlers.Response {
		return h.serve(h.hawkSigned(h.request("GET", "/v1/account/keys", nil), tok, onepw.KindKeyFetch))
	}
	if b := wantOK(t, keys(kft))["bundle"].(string); !isHex(b, 96) {
		t.Fatalf("bundle %q", b)
	}
	wantErrno(t, keys(kft), http.StatusUnauthorized, errnoInvalidToken)

	r, _ = page.login()
	m := wantOK(t, r)
	h.clock.Add(keyFetchTTL + time.Second)
	wantErrno(t, keys(m["keyFetchToken"].(string)), http.StatusUnauthorized, errnoInvalidToken)
	// A session token is no keyFetch token, nor the other way round.
	wantErrno(t, keys(m["sessionToken"].(string)), http.StatusUnauthorized, errnoInvalidToken)
}

func TestOAuthParameterErrors(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	si := (&pageClient{h: h, email: "me@example.org", password: "pw"}).signIn()
	ch := onepw.PKCEChallenge("verifier")
	authz := func(edit func(map[string]string)) *handlers.Response {
		b := map[string]string{"client_id": desktopClient, "state": "s", "scope": onepw.ScopeOldSync, "response_type": "code",
			"code_challenge": ch, "code_challenge_method": "S256", "keys_jwe": "x..y.z.w"}
		edit(b)
		return h.session("POST", "/v1/oauth/authorization", b, si.session)
	}
	for _, tc := range []struct {
		name  string
		edit  func(map[string]string)
		errno int
	}{
		{"unknown client", func(b map[string]string) { b["client_id"] = "0000000000000000" }, oauthUnknownClient},
		{"unknown scope", func(b map[string]string) { b["scope"] = "https://identity.mozilla.com/apps/send" }, oauthInvalidScopes},
		{"no PKCE", func(b map[string]string) { delete(b, "code_challenge"); delete(b, "code_challenge_method") }, oauthPKCEMissing},
		{"plain PKCE", func(b map[string]string) { b["code_challenge_method"] = "plain" }, oauthInvalidParameter},
		{"no state", func(b map[string]string) { delete(b, "state") }, oauthInvalidParameter},
		{"token response", func(b map[string]string) { b["response_type"] = "token" }, oauthInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErrno(t, authz(tc.edit), http.StatusBadRequest, tc.errno) })
	}
	wantErrno(t, h.do("POST", "/v1/oauth/authorization", map[string]string{}), http.StatusUnauthorized, errnoInvalidToken)

	// scoped-key-data: key-bearing scopes only.
	m := wantOK(t, h.session("POST", "/v1/account/scoped-key-data", map[string]string{"client_id": desktopClient, "scope": "profile"}, si.session))
	if len(m) != 0 {
		t.Fatalf("profile has no key: %v", m)
	}
	m = wantOK(t, h.session("POST", "/v1/account/scoped-key-data", map[string]string{"client_id": fenixClient, "scope": onepw.ScopeOldSync}, si.session))
	e := m[onepw.ScopeOldSync].(map[string]any)
	if e["identifier"] != onepw.ScopeOldSync || e["keyRotationSecret"] != strings.Repeat("0", 64) || e["keyRotationTimestamp"] != float64(testEpoch.UnixMilli()) {
		t.Fatalf("scoped key data %v", e)
	}
	wantErrno(t, h.session("POST", "/v1/account/scoped-key-data", map[string]string{"client_id": "x", "scope": onepw.ScopeOldSync}, si.session), 400, oauthUnknownClient)

	// Token endpoint.
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		errno  int
	}{
		{"unknown grant", map[string]any{"client_id": desktopClient, "grant_type": "password"}, 400, oauthInvalidParameter},
		{"unknown client", map[string]any{"client_id": "nope", "grant_type": "fxa-credentials"}, 400, oauthUnknownClient},
		{"fxa-credentials without session", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": onepw.ScopeOldSync}, 401, errnoInvalidToken},
		{"dead refresh token", map[string]any{"client_id": desktopClient, "grant_type": "refresh_token", "refresh_token": strings.Repeat("a", 64)}, 401, errnoInvalidToken},
		{"unknown code", map[string]any{"client_id": desktopClient, "grant_type": "authorization_code", "code": strings.Repeat("a", 64), "code_verifier": "v"}, 400, oauthUnknownCode},
		{"bad ttl", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "ttl": -5}, 400, oauthInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErrno(t, h.do("POST", "/v1/oauth/token", tc.body), tc.status, tc.errno) })
	}
	// ttl is capped at 6 h and may shorten; the alias /v1/token works.
	m = wantOK(t, h.session("POST", "/v1/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": onepw.ScopeOldSync, "ttl": 999999}, si.session))
	if m["expires_in"] != float64(21600) || m["token_type"] != "bearer" || m["scope"] != onepw.ScopeOldSync || m["auth_at"] == nil {
		t.Fatalf("fxa-credentials answer %v", m)
	}
	m = wantOK(t, h.session("POST", "/v1/oauth/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": "profile", "ttl": 60}, si.session))
	if m["expires_in"] != float64(60) {
		t.Fatalf("ttl 60 gave %v", m["expires_in"])
	}
	wantErrno(t, h.session("POST", "/v1/oauth/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": "openid"}, si.session), 400, oauthInvalidScopes)
}

// TestMobileFlow follows the mobile library: a code exchange without Hawk
// (form-encoded) that asks for tokens/session, the refresh grant, Bearer
// device routes, introspect, and sign-out with destroy {refresh_token}.
func TestMobileFlow(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	si := page.signIn()
	ff := newFirefoxFlow(t)
	code := wantOK(t, h.session("POST", "/v1/oauth/authorization", map[string]string{
		"client_id": fenixClient, "state": ff.state, "scope": onepw.ScopeOldSync + " profile " + onepw.ScopeSession,
		"code_challenge": onepw.PKCEChallenge(ff.verifier), "code_challenge_method": "S256", "keys_jwe": "a..b.c.d"}, si.session))["code"].(string)
	form := "client_id=" + fenixClient + "&grant_type=authorization_code&code=" + code + "&code_verifier=" + ff.verifier
	m := wantOK(t, h.do("POST", "/v1/oauth/token", form, "Content-Type", "application/x-www-form-urlencoded"))
	refresh := m["refresh_token"].(string)
	st, _ := m["session_token"].(string)
	if !isHex(st, 32) || m["keys_jwe"] != "a..b.c.d" {
		t.Fatalf("code answer %v", m)
	}
	// The new session token works with Bearer fxs_ and Hawk.
	raw, _ := hex.DecodeString(st)
	var attached []map[string]any
	decodeInto(t, h.do("GET", "/v1/account/attached_clients", nil, "Authorization", "Bearer fxs_"+onepw.DeriveToken(raw, onepw.KindSession).ID), &attached)
	for _, a := range attached {
		if _, ok := a["userAgent"].(string); !ok {
			t.Fatalf("attached client without a string userAgent: %v", a)
		}
		if a["clientId"] == fenixClient && a["deviceType"] != "mobile" {
			t.Fatalf("Fenix's refresh token listed as %v", a["deviceType"])
		}
	}
	if len(attached) != 2 {
		t.Fatalf("attached clients %v: want Fenix's refresh token and the current session", attached)
	}
	wantOK(t, h.session("GET", "/v1/recovery_email/status", nil, st))

	// Refresh grant: narrowing is fine, widening is not.
	m = wantOK(t, h.do("POST", "/v1/oauth/token", map[string]string{"client_id": fenixClient, "grant_type": "refresh_token", "refresh_token": refresh, "scope": "profile"}))
	if m["scope"] != "profile" || m["access_token"] == nil || m["expires_in"] == nil {
		t.Fatalf("refresh answer %v", m)
	}
	profileToken := m["access_token"].(string)
	wantOK(t, h.do("GET", "/profile/v1/profile", nil, "Authorization", "Bearer "+profileToken))
	wantErrno(t, h.do("POST", "/v1/oauth/token", map[string]string{"client_id": desktopClient, "grant_type": "refresh_token", "refresh_token": refresh}), 401, errnoInvalidToken)

	// Bearer <refresh token> on the device routes.
	rb := []string{"Authorization", "Bearer " + refresh}
	dev := wantOK(t, h.do("POST", "/v1/account/device", map[string]any{"name": "Phone", "type": "mobile", "availableCommands": map[string]string{"https://identity.mozilla.com/cmd/open-uri": "k"}}, rb...))
	for _, f := range []string{"id", "name", "type", "createdAt", "availableCommands", "pushEndpointExpired"} {
		if _, ok := dev[f]; !ok {
			t.Fatalf("device answer lacks %s: %v", f, dev)
		}
	}
	var list []map[string]any
	r := h.do("GET", "/v1/account/devices", nil, rb...)
	decodeInto(t, r, &list)
	if len(list) != 1 || list[0]["isCurrentDevice"] != true || list[0]["location"] == nil || list[0]["pushEndpointExpired"] != false {
		t.Fatalf("devices %s", r.Body)
	}
	m = wantOK(t, h.do("POST", "/v1/introspect", map[string]string{"token": refresh, "token_type_hint": "refresh_token"}))
	if m["active"] != true || m["token_type"] != "refresh_token" {
		t.Fatalf("introspect %v", m)
	}
	// Sign-out: destroying its device revokes the refresh token.
	wantOK(t, h.do("POST", "/v1/account/device/destroy", map[string]string{"id": dev["id"].(string)}, rb...))
	if m := wantOK(t, h.do("POST", "/v1/introspect", map[string]string{"token": refresh})); m["active"] != false {
		t.Fatalf("refresh token alive after its device was destroyed: %v", m)
	}
	wantErrno(t, h.do("GET", "/v1/account/devices", nil, rb...), 401, errnoInvalidToken)
}

func TestDestroyAlwaysSucceeds(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		body any
		hdr  []string
	}{
		{"unknown token", map[string]string{"client_id": desktopClient, "token": strings.Repeat("a", 64)}, nil},
		{"refresh_token", map[string]string{"refresh_token": "nope"}, nil},
		{"access token", map[string]string{"access_token": "a.b.c"}, nil},
		{"empty", "", nil},
		{"not json", "{{{", nil},
		{"form", "token=abc&client_id=x", []string{"Content-Type", "application/x-www-form-urlencoded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{"/v1/oauth/destroy", "/v1/destroy"} {
				r := h.do("POST", p, tc.body, tc.hdr...)
				if r.Status != http.StatusOK || string(r.Body) != "{}" {
					t.Fatalf("%s: %d %s", p, r.Status, r.Body)
				}
			}
		})
	}
}

func TestTokenVerificationRoutes(t *testing.T) {
	h := newHarness(t)
	uid := h.addAccount("me@example.org", "pw")
	si := (&pageClient{h: h, email: "me@example.org", password: "pw"}).signIn()
	at := h.syncToken(si.session)

	r := h.do("GET", "/v1/jwks", nil)
	jw := wantOK(t, r)
	keys := jw["keys"].([]any)
	k := keys[0].(map[string]any)
	if len(keys) != 1 || k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" || k["d"] != nil {
		t.Fatalf("jwks %s", r.Body)
	}
	m := wantOK(t, h.do("POST", "/v1/verify", map[string]string{"token": at}))
	if m["user"] != uid || m["client_id"] != desktopClient || m["generation"] != float64(testEpoch.UnixMilli()) {
		t.Fatalf("verify %v", m)
	}
	wantErrno(t, h.do("POST", "/v1/verify", map[string]string{"token": at + "x"}), 400, oauthInvalidToken)
	m = wantOK(t, h.do("POST", "/v1/introspect", map[string]string{"token": at}))
	if m["active"] != true || m["sub"] != uid || m["token_type"] != "access_token" {
		t.Fatalf("introspect %v", m)
	}

	v := h.svc.Verifier()
	vt, err := v.Verify(context.Background(), at)
	if err != nil || vt.UID != uid || vt.Issuer != "accounts.example.org" || vt.Generation != testEpoch.UnixMilli() {
		t.Fatalf("verifier: %+v %v", vt, err)
	}
	// A profile token is no Sync token; an expired one is refused.
	pt := wantOK(t, h.session("POST", "/v1/oauth/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": "profile"}, si.session))["access_token"].(string)
	if _, err := v.Verify(context.Background(), pt); !errors.Is(err, handlers.ErrTokenRejected) {
		t.Fatalf("profile token at the tokenserver: %v", err)
	}
	h.clock.Add(7 * time.Hour)
	if _, err := v.Verify(context.Background(), at); !errors.Is(err, handlers.ErrTokenRejected) {
		t.Fatalf("expired token: %v", err)
	}
	// Another service's token (another origin, same keys) is refused.
	other := newHarness(t, func(o *Options) { o.Origin = "https://elsewhere.example.org" })
	if _, err := other.svc.Verifier().Verify(context.Background(), at); !errors.Is(err, handlers.ErrTokenRejected) {
		t.Fatalf("a token of another origin: %v", err)
	}
}

func decodeInto(t testing.TB, r *handlers.Response, v any) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	if err := jsonUnmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: %v", r.Body, err)
	}
}

// TestKeysOfAnotherProcess: two processes on one database that each made
// a signing key (a first start under FastCGI) verify each other's tokens:
// an unknown key makes the service read the keys again.
func TestKeysOfAnotherProcess(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	k, err := onepw.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutSigningKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	other, err := New(context.Background(), Options{Store: h.store, Origin: testOrigin, TokenServerURL: testTokenServer, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, svc: other, store: h.store, clock: h.clock, remote: h.remote}
	si := (&pageClient{h: h2, email: "me@example.org", password: "pw"}).signIn()
	at := h2.syncToken(si.session)
	if _, err := h.svc.Verifier().Verify(context.Background(), at); err != nil {
		t.Fatalf("a token of the other process: %v", err)
	}
	if _, err := other.Verifier().Verify(context.Background(), h.syncToken(si.session)); err != nil {
		t.Fatalf("and back: %v", err)
	}
}

func TestOriginAndIssuer(t *testing.T) {
	for _, tc := range []struct{ origin, wantOrigin, issuer string }{
		{"https://Accounts.Example.org", "https://accounts.example.org", "accounts.example.org"},
		{"https://accounts.example.org:443/", "https://accounts.example.org", "accounts.example.org"},
		{"https://accounts.example.org:8443", "https://accounts.example.org:8443", "accounts.example.org:8443"},
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000", "127.0.0.1:5000"},
		{"http://[::1]", "http://[::1]", "[::1]"},
		{"http://[::1]:5000", "http://[::1]:5000", "[::1]:5000"},
	} {
		h := newHarness(t, func(o *Options) { o.Origin = tc.origin })
		if h.svc.Origin() != tc.wantOrigin || h.svc.Issuer() != tc.issuer {
			t.Errorf("%s: origin %q issuer %q, want %q %q", tc.origin, h.svc.Origin(), h.svc.Issuer(), tc.wantOrigin, tc.issuer)
		}
	}
	for _, bad := range []string{"", "accounts.example.org", "ftp://x", "https://x/path", "https://x?q=1"} {
		if _, err := New(context.Background(), Options{Store: newMemStore(), Origin: bad}); err == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
}

// TestGarbageNeverCrashes sends malformed bodies and queries to every
// route, signed in and not: every answer is a JSON 4xx (or a success),
// never a 500 (which is what a recovered panic becomes).
func TestGarbageNeverCrashes(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	si := (&pageClient{h: h, email: "me@example.org", password: "pw"}).signIn()
	bodies := []string{"", "null", "[]", `"x"`, "12", "{", `{"email":123,"authPW":[],"client_id":{},"scope":7,"code":null,"ttl":"x"}`,
		`{"id":"` + strings.Repeat("a", 32) + `","availableCommands":[1],"payload":"x","target":5,"token":{}}`,
		`{"grant_type":"refresh_token","refresh_token":"` + strings.Repeat("\u00e9", 40) + `","client_id":"5882386c6d801776"}`,
		strings.Repeat("[", 10000)}
	for path, rt := range routes {
		for _, b := range bodies {
			for _, signed := range []bool{false, true} {
				if signed && path == "/v1/session/destroy" {
					continue // would sign the session out for the routes after it
				}
				uri := path + "?index=x&limit=-1&uid=%zz&filterIdleDevicesTimestamp=abc&keys=true"
				r := h.request(rt.method, uri, b)
				if signed {
					r = h.hawkSigned(r, si.session, onepw.KindSession)
				}
				resp := h.serve(r)
				if resp.Status >= 500 || (resp.Status != http.StatusNotModified && !json.Valid(resp.Body)) {
					t.Errorf("%s %s signed=%v body %.40q: %d %s", rt.method, path, signed, b, resp.Status, resp.Body)
				}
			}
		}
	}
}
