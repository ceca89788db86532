package accounts

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/handlers"
)

// addAccount creates an account as `syncserver accounts add` does: the
// stretch in the client, CreateAccount with what the page would send.
func (h *harness) addAccount(email, password string) string {
	h.t.Helper()
	salt := onepw.NewClientSalt()
	a, err := CreateAccount(context.Background(), h.store, email, salt, onepw.AuthPW(stretch(password, salt)), h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return a.UID
}

// openKeys is what Firefox does with keys_jwe: decrypt with its ephemeral
// key and read the oldsync key.
func openKeys(t testing.TB, ff firefoxFlow, jwe string) (k, kid string) {
	t.Helper()
	if strings.Contains(jwe, "=") {
		t.Fatalf("keys_jwe has padding: %s", jwe)
	}
	plain, err := onepw.OpenKeysJWE(ff.priv, jwe)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]struct{ Scope, Kty, K, Kid string }
	if err := json.Unmarshal(plain, &keys); err != nil {
		t.Fatal(err)
	}
	e := keys[onepw.ScopeOldSync]
	if e.Scope != onepw.ScopeOldSync || e.Kty != "oct" {
		t.Fatalf("keys %s", plain)
	}
	return e.K, e.Kid
}

// TestScriptedFirefoxSignIn follows the page and Firefox end to end:
// credentials/status → stretch → login → keys → bundle → kB → oldsync key
// → keys_jwe sealed to Firefox's ephemeral key → authorization → code
// exchange with PKCE → destroy of the refresh token → fxa-credentials →
// tokenserver with X-KeyID → storage write and read; then a second device
// derives the same key and reads the record.
func TestScriptedFirefoxSignIn(t *testing.T) {
	h := newHarness(t)
	uid := h.addAccount("Me@Example.org", "correct horse battery staple")
	ts := h.tokenServer(h.svc.Verifier())
	page := &pageClient{h: h, email: "me@example.org", password: "correct horse battery staple"}

	si := page.signIn()
	if si.uid != uid {
		t.Fatalf("login uid %s, created %s", si.uid, uid)
	}
	if !strings.HasPrefix(si.kid, "1796126400000-") {
		t.Fatalf("kid %s does not start with keysChangedAt in ms", si.kid)
	}
	ff := newFirefoxFlow(t)
	code := page.authorize(si, ff)
	m := wantOK(t, h.redeem(si.session, code, ff.verifier))
	for _, f := range []string{"access_token", "token_type", "scope", "expires_in", "auth_at", "refresh_token", "keys_jwe"} {
		if _, ok := m[f]; !ok {
			t.Fatalf("code answer lacks %s: %v", f, m)
		}
	}
	if !strings.Contains(m["scope"].(string), onepw.ScopeOldSync) || m["expires_in"] != float64(21600) {
		t.Fatalf("code answer %v", m)
	}
	k, kid := openKeys(t, ff, m["keys_jwe"].(string))
	if k != si.k || kid != si.kid {
		t.Fatalf("Firefox got %s %s, the page sealed %s %s", k, kid, si.k, si.kid)
	}
	// Firefox destroys the refresh token it does not need.
	wantOK(t, h.do("POST", "/v1/oauth/destroy", map[string]string{"client_id": desktopClient, "token": m["refresh_token"].(string)}))
	wantOK(t, h.do("POST", "/v1/introspect", map[string]string{"token": m["refresh_token"].(string)}))
	if r := decodeJSON(t, h.do("POST", "/v1/introspect", map[string]string{"token": m["refresh_token"].(string)})); r["active"] != false {
		t.Fatalf("destroyed refresh token still active: %v", r)
	}

	// Sync: fxa-credentials, then the tokenserver, then storage.
	at := h.syncToken(si.session)
	resp, st := getSyncToken(t, ts, at, kid)
	if resp.Status != http.StatusOK {
		t.Fatalf("tokenserver: %d %s", resp.Status, resp.Body)
	}
	if r := storageDo(t, ts, h.clock.Now(), st, "PUT", "/storage/bookmarks/abcdef", `{"payload":"sealed bookmark"}`); r.Status != http.StatusOK {
		t.Fatalf("storage write: %d %s", r.Status, r.Body)
	}

	// A second device signs in with the same password: same kB, same key,
	// same storage user, and it reads the first device's record.
	h.clock.Add(time.Minute)
	si2 := page.signIn()
	if si2.kid != si.kid || si2.k != si.k || hex.EncodeToString(si2.kB) != hex.EncodeToString(si.kB) {
		t.Fatalf("second sign-in derived kid %s k %s, first %s %s", si2.kid, si2.k, si.kid, si.k)
	}
	ff2 := newFirefoxFlow(t)
	m2 := wantOK(t, h.redeem(si2.session, page.authorize(si2, ff2), ff2.verifier))
	if k2, kid2 := openKeys(t, ff2, m2["keys_jwe"].(string)); k2 != k || kid2 != kid {
		t.Fatal("second device got another key")
	}
	resp, st2 := getSyncToken(t, ts, h.syncToken(si2.session), kid)
	if resp.Status != http.StatusOK || st2.UID != st.UID {
		t.Fatalf("second device: %d %s, storage uid %d want %d", resp.Status, resp.Body, st2.UID, st.UID)
	}
	r := storageDo(t, ts, h.clock.Now(), st2, "GET", "/storage/bookmarks/abcdef", "")
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "sealed bookmark") {
		t.Fatalf("second device read: %d %s", r.Status, r.Body)
	}

	// Sign-out of the first device revokes its session: its next calls
	// are 401/110, the other device is untouched.
	wantOK(t, h.session("POST", "/v1/session/destroy", map[string]string{}, si.session))
	wantErrno(t, h.session("GET", "/v1/session/status", nil, si.session), http.StatusUnauthorized, errnoInvalidToken)
	wantErrno(t, h.session("POST", "/v1/oauth/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": onepw.ScopeOldSync}, si.session), http.StatusUnauthorized, errnoInvalidToken)
	wantOK(t, h.session("GET", "/v1/session/status", nil, si2.session))

	// Disabling the account refuses sign-in and the next token request.
	if err := h.store.SetAccountDisabled(context.Background(), uid, true); err != nil {
		t.Fatal(err)
	}
	r, _ = page.login()
	wantErrno(t, r, http.StatusBadRequest, errnoRequestBlocked)
	resp, _ = getSyncToken(t, ts, at, kid)
	if resp.Status != http.StatusUnauthorized {
		t.Fatalf("tokenserver for a disabled account: %d %s", resp.Status, resp.Body)
	}
	wantErrno(t, h.session("GET", "/v1/session/status", nil, si2.session), http.StatusUnauthorized, errnoInvalidToken)
}

// TestWrongPasswordSameWork: a wrong password and an unknown email are the
// same 400/103, each after exactly one scrypt, and an unknown email gets
// the same fake salt twice.
func TestWrongPasswordSameWork(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "right")
	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", "me@example.org", "wrong"},
		{"unknown email", "nobody@example.org", "wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pageClient{h: h, email: tc.email, password: tc.password}
			before := scryptRuns.Load()
			r, _ := p.login()
			wantErrno(t, r, http.StatusBadRequest, errnoIncorrectPW)
			if n := scryptRuns.Load() - before; n != 1 {
				t.Fatalf("%d scrypt runs, want 1", n)
			}
		})
	}
	p := &pageClient{h: h, email: "Nobody@example.org "}
	s1, s2 := p.salt(), p.salt()
	if s1 != s2 || !validClientSalt(s1) {
		t.Fatalf("fake salts %q %q", s1, s2)
	}
	other := (&pageClient{h: h, email: "other@example.org"}).salt()
	if other == s1 {
		t.Fatal("two unknown emails got one salt")
	}
}

// TestCodeRefusals: a replayed code, an expired code, a PKCE mismatch, a
// missing verifier and a code of another client are all refused, and none
// hands out keys.
func TestCodeRefusals(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	si := page.signIn()

	ff := newFirefoxFlow(t)
	code := page.authorize(si, ff)
	wantOK(t, h.redeem(si.session, code, ff.verifier))
	wantErrno(t, h.redeem(si.session, code, ff.verifier), http.StatusBadRequest, oauthUnknownCode)

	code = page.authorize(si, ff)
	wantErrno(t, h.redeem(si.session, code, "not-the-verifier-not-the-verifier-0123456789"), http.StatusBadRequest, oauthPKCEMismatch)
	// The code went with the failed attempt: no guessing at verifiers.
	wantErrno(t, h.redeem(si.session, code, ff.verifier), http.StatusBadRequest, oauthUnknownCode)

	code = page.authorize(si, ff)
	h.clock.Add(codeTTL + time.Second)
	wantErrno(t, h.redeem(si.session, code, ff.verifier), http.StatusBadRequest, oauthExpiredCode)

	code = page.authorize(si, ff)
	wantErrno(t, h.redeem(si.session, code, ""), http.StatusBadRequest, oauthPKCEMissing)

	code = page.authorize(si, ff)
	r := h.do("POST", "/v1/oauth/token", map[string]string{"client_id": fenixClient, "grant_type": "authorization_code", "code": code, "code_verifier": ff.verifier})
	wantErrno(t, r, http.StatusBadRequest, oauthMismatchedCode)
}

// TestMixedModeIdentities: the same uid from our accounts and from FxA is
// two tokenserver users (<uid>@<issuer>), so neither reads the other's data.
func TestMixedModeIdentities(t *testing.T) {
	h := newHarness(t)
	uid := h.addAccount("me@example.org", "pw")
	fxa := &fakeFxA{uid: uid}
	ts := h.tokenServer(MixedVerifier(h.svc.Verifier(), fxa, h.svc.Origin()))
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	si := page.signIn()

	r, ours := getSyncToken(t, ts, h.syncToken(si.session), si.kid)
	if r.Status != http.StatusOK {
		t.Fatalf("our token: %d %s", r.Status, r.Body)
	}
	r, theirs := getSyncToken(t, ts, "opaque-fxa-token", si.kid)
	if r.Status != http.StatusOK {
		t.Fatalf("FxA token: %d %s", r.Status, r.Body)
	}
	if fxa.calls != 1 {
		t.Fatalf("FxA verifier called %d times, want once (our token must not reach it)", fxa.calls)
	}
	if ours.UID == theirs.UID {
		t.Fatalf("uid %s from two issuers became one storage user %d", uid, ours.UID)
	}
	storageDo(t, ts, h.clock.Now(), ours, "PUT", "/storage/bookmarks/x", `{"payload":"ours"}`)
	if r := storageDo(t, ts, h.clock.Now(), theirs, "GET", "/storage/bookmarks/x", ""); r.Status != http.StatusNotFound {
		t.Fatalf("FxA user reads our user's record: %d %s", r.Status, r.Body)
	}
	// A token that claims our issuer but is not signed by us never
	// reaches FxA and is refused.
	forged := forgeJWT(`{"iss":"` + testOrigin + `","sub":"` + uid + `"}`)
	if r, _ := getSyncToken(t, ts, forged, si.kid); r.Status != http.StatusUnauthorized || fxa.calls != 1 {
		t.Fatalf("forged token: %d %s (FxA calls %d)", r.Status, r.Body, fxa.calls)
	}
}

// fakeFxA stands for the FxA verifier: every token is uid's, FxA's
// default issuer.
type fakeFxA struct {
	uid   string
	calls int
}

func (f *fakeFxA) Verify(context.Context, string) (handlers.VerifiedToken, error) {
	f.calls++
	return handlers.VerifiedToken{UID: f.uid, Generation: 1, Scope: []string{onepw.ScopeOldSync}, ClientID: desktopClient}, nil
}

func forgeJWT(claims string) string {
	enc := func(s string) string { return strings.TrimRight(b64url(s), "=") }
	return enc(`{"alg":"RS256","typ":"at+JWT"}`) + "." + enc(claims) + "." + enc("sig")
}
