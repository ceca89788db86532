package fxatest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/fxa"
)

func TestAccountKeys(t *testing.T) {
	// Firefox's key-derivation test vector and the onepw
	// protocol's sessionToken vector; SyncKey computed independently.
	kB, _ := hex.DecodeString("eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9")
	a := Account{
		KB:            kB,
		KeysChangedAt: 1510726317123,
		SessionToken:  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
	}
	if got, want := a.KeyID(), "1510726317123-IqQv4onc7VcVE1kTQkyyOw"; got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	if got, want := a.ClientState(), "22a42fe289dced5715135913424cb23b"; got != want {
		t.Errorf("ClientState = %q, want %q", got, want)
	}
	if got, want := hex.EncodeToString(a.SyncKey()), "0d6fe59791b05fa489e463ea25502e3143f6b7a903aa152e95cd9c6eddbac5b4dc68a19097ef65dbd147010ee45222444e66b8b3d7c8a441ebb7dd3dce015a9e"; got != want {
		t.Errorf("SyncKey = %s, want %s", got, want)
	}
	if got, want := a.SessionTokenID(), "c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab"; got != want {
		t.Errorf("SessionTokenID = %s, want %s", got, want)
	}
	data := a.SignInData()
	sk := data["scopedKeys"].(map[string]any)[OldSyncScope].(map[string]any)
	if sk["kid"] != a.KeyID() || sk["kty"] != "oct" {
		t.Errorf("SignInData scoped key = %v", sk)
	}
}

func TestNewAccount(t *testing.T) {
	a, b := NewAccount("a@example.com"), NewAccount("b@example.com")
	if len(a.UID) != 32 || len(a.KB) != 32 || len(a.SessionToken) != 64 || a.UID == b.UID {
		t.Errorf("NewAccount = %+v", a)
	}
	if a.Generation == 0 || a.KeysChangedAt != a.Generation {
		t.Errorf("generation %d, keys changed at %d", a.Generation, a.KeysChangedAt)
	}
}

// verifier checks tokens against the stand-in as the tokenserver would.
func verifier(t *testing.T, s *Server, edit func(*fxa.Config)) *fxa.Verifier {
	t.Helper()
	cfg := fxa.Config{IdentityProvider: s.IdentityProvider(), Timeout: 2 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	v, err := fxa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTokensVerify(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	v := verifier(t, s, nil)
	ctx := context.Background()
	for name, tok := range map[string]string{"JWT": s.JWT(a.UID), "opaque": s.OpaqueToken(a.UID)} {
		got, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.UID != a.UID || got.Generation != a.Generation || got.Issuer != s.Issuer() || got.ClientID != DefaultClientID {
			t.Errorf("%s: Verify = %+v", name, got)
		}
	}
	if s.Hits(PathDiscovery) != 1 || s.Hits(PathJWKS) != 1 || s.Hits(PathVerify) != 1 {
		t.Errorf("hits: discovery %d, jwks %d, verify %d; want 1 each", s.Hits(PathDiscovery), s.Hits(PathJWKS), s.Hits(PathVerify))
	}
	// Offline: the published key set configured statically.
	off := verifier(t, s, func(c *fxa.Config) {
		c.IdentityProvider, c.OAuthURL, c.Issuer, c.JWKS = "", "http://fxa.invalid", "example.com", s.JWKS()
	})
	if _, err := off.Verify(ctx, s.JWT(a.UID)); err != nil {
		t.Errorf("static JWKS: %v", err)
	}
}

func TestTokenOptions(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	v := verifier(t, s, nil)
	ctx := context.Background()
	tests := []struct {
		name string
		o    TokenOptions
		want error
	}{
		{"profile scope", TokenOptions{Scope: "profile"}, fxa.ErrRejected},
		{"wrong typ", TokenOptions{Header: map[string]any{"typ": "JWT"}}, fxa.ErrRejected},
		{"expired", TokenOptions{TTL: -time.Minute}, fxa.ErrRejected},
		{"expired opaque", TokenOptions{TTL: -time.Minute, Opaque: true}, fxa.ErrRejected},
		{"odd generation", TokenOptions{Claims: map[string]any{"fxa-generation": "x"}}, fxa.ErrInvalidGeneration},
		{"two scopes", TokenOptions{Scope: "profile " + OldSyncScope}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(ctx, s.AccessToken(a.UID, tt.o))
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Verify err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRotateKey(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	// The stand-in uses a new key the moment it publishes it; the verifier
	// fetched the keys a moment ago, so it asks /v1/verify, which knows
	// the token.
	v := verifier(t, s, nil)
	ctx := context.Background()
	old := s.JWT(a.UID)
	oldKID := s.KID()
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	newKID := s.RotateKey()
	if newKID == oldKID || s.KID() != newKID {
		t.Fatalf("RotateKey = %q, KID = %q, old %q", newKID, s.KID(), oldKID)
	}
	if _, err := v.Verify(ctx, s.JWT(a.UID)); err != nil {
		t.Errorf("token signed with the new key: %v", err)
	}
	var set struct{ Keys []map[string]any }
	json.Unmarshal([]byte(s.JWKS()), &set)
	if len(set.Keys) != 2 {
		t.Errorf("%d keys published after a rotation, want 2", len(set.Keys))
	}
	s.RetireOldKeys()
	json.Unmarshal([]byte(s.JWKS()), &set)
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != newKID {
		t.Errorf("after RetireOldKeys: %v", set.Keys)
	}
}

func TestStageKey(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	published := s.KID()
	staged := s.StageKey()
	tok := s.JWT(a.UID)
	if s.KID() != staged || staged == published {
		t.Fatalf("KID = %q after StageKey = %q (published %q)", s.KID(), staged, published)
	}
	if strings.Contains(s.JWKS(), staged) {
		t.Errorf("staged kid %q published before PublishKeys", staged)
	}
	if status, out := call(t, http.MethodPost, s.URL+PathVerify, `{"token":"`+tok+`"}`, nil); status != 200 || out["user"] != a.UID {
		t.Errorf("/v1/verify of a token signed with the staged key: %d %v", status, out)
	}
	s.PublishKeys()
	if !strings.Contains(s.JWKS(), staged) || !strings.Contains(s.JWKS(), published) {
		t.Errorf("after PublishKeys: %s", s.JWKS())
	}
}

func TestForgedToken(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	for name, o := range map[string]TokenOptions{
		"unknown kid":   {Forge: true},
		"published kid": {Forge: true, Header: map[string]any{"kid": s.KID()}},
	} {
		t.Run(name, func(t *testing.T) {
			tok := s.AccessToken(a.UID, o)
			if status, out := call(t, http.MethodPost, s.URL+PathVerify, `{"token":"`+tok+`"}`, nil); status != 400 || out["errno"] != float64(108) {
				t.Errorf("/v1/verify of a forged token: %d %v", status, out)
			}
			_, err := verifier(t, s, nil).Verify(context.Background(), tok)
			if !errors.Is(err, fxa.ErrRejected) {
				t.Errorf("Verify of a forged token: %v, want rejected", err)
			}
		})
	}
}

func TestVerifyEndpoint(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	tok := s.OpaqueToken(a.UID)
	revoked := s.OpaqueToken(a.UID)
	s.Revoke(revoked)
	tests := []struct {
		name, body string
		status     int
		errno      float64
	}{
		{"ok", `{"token":"` + tok + `"}`, 200, 0},
		{"unknown", `{"token":"00"}`, 400, 108},
		{"revoked", `{"token":"` + revoked + `"}`, 400, 108},
		{"no token", `{}`, 400, 109},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := call(t, http.MethodPost, s.URL+PathVerify, tt.body, nil)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%v)", status, tt.status, out)
			}
			if tt.errno != 0 && out["errno"] != tt.errno {
				t.Errorf("errno %v, want %v", out["errno"], tt.errno)
			}
			if status == 200 && (out["user"] != a.UID || out["client_id"] != DefaultClientID || out["generation"] != float64(a.Generation)) {
				t.Errorf("answer %v", out)
			}
		})
	}
}

func TestOAuthTokenGrant(t *testing.T) {
	s := New(t)
	a, b := NewAccount("a@example.com"), NewAccount("b@example.com")
	s.SetAccount(a)
	s.SetAccount(b)
	hawk := map[string]string{"Authorization": `Hawk id="` + b.SessionTokenID() + `", ts="1", nonce="x", hash="y", mac="z"`}
	body := `{"client_id":"5882386c6d801776","grant_type":"fxa-credentials","scope":"` + OldSyncScope + `","ttl":21600}`
	status, out := call(t, http.MethodPost, s.URL+PathOAuthToken, body, hawk)
	if status != 200 {
		t.Fatalf("status %d: %v", status, out)
	}
	if out["token_type"] != "bearer" || out["scope"] != OldSyncScope || out["expires_in"] != float64(21600) || out["auth_at"] == nil {
		t.Errorf("answer %v", out)
	}
	got, err := verifier(t, s, nil).Verify(context.Background(), out["access_token"].(string))
	if err != nil || got.UID != b.UID {
		t.Errorf("access token for %q (%v), want %q", got.UID, err, b.UID)
	}
	// Two accounts and no known session: refused.
	status, _ = call(t, http.MethodPost, s.URL+PathOAuthToken, body, nil)
	if status != 401 {
		t.Errorf("unknown session: status %d, want 401", status)
	}
	status, _ = call(t, http.MethodPost, s.URL+PathOAuthToken, `{"grant_type":"password"}`, hawk)
	if status != 400 {
		t.Errorf("bad grant: status %d, want 400", status)
	}
}

func TestQuietEndpoints(t *testing.T) {
	s := New(t)
	a := NewAccount("a@example.com")
	s.SetAccount(a)
	hawk := map[string]string{"Authorization": `Hawk id="` + a.SessionTokenID() + `", ts="1", nonce="x", mac="z"`}
	status, dev := call(t, http.MethodPost, s.URL+PathDevice, `{"name":"Firefox","type":"desktop","availableCommands":{}}`, hawk)
	if status != 200 || dev["id"] == "" || dev["name"] != "Firefox" || dev["createdAt"] == nil {
		t.Errorf("register device: %d %v", status, dev)
	}
	resp := raw(t, http.MethodGet, s.URL+PathDevices+"?filterIdleDevicesTimestamp=1", "", hawk)
	var devices []map[string]any
	json.Unmarshal(resp, &devices)
	if len(devices) != 1 || devices[0]["id"] != dev["id"] || devices[0]["isCurrentDevice"] != true {
		t.Errorf("devices: %s", resp)
	}
	status, cmds := call(t, http.MethodGet, s.URL+PathDeviceCommands+"?index=0&limit=200", "", hawk)
	if status != 200 || cmds["last"] != true {
		t.Errorf("commands: %d %v", status, cmds)
	}
	status, _ = call(t, http.MethodPost, s.URL+PathDevicesNotify, `{"to":"all"}`, hawk)
	if status != 200 {
		t.Errorf("notify: %d", status)
	}
	if got := string(raw(t, http.MethodGet, s.URL+PathAttachedClients, "", hawk)); got != "[]" {
		t.Errorf("attached clients: %s", got)
	}
	for _, p := range []string{PathOAuthDestroy, PathSessionDestroy + "?service=sync"} {
		if status, _ := call(t, http.MethodPost, s.URL+p, `{}`, hawk); status != 200 {
			t.Errorf("%s: %d", p, status)
		}
	}
	bearer := map[string]string{"Authorization": "Bearer " + s.AccessToken(a.UID, TokenOptions{Scope: "profile"})}
	status, prof := call(t, http.MethodGet, s.URL+PathProfile, "", bearer)
	if status != 200 || prof["uid"] != a.UID || prof["email"] != a.Email {
		t.Errorf("profile: %d %v", status, prof)
	}
}

func TestDiscoveryDocument(t *testing.T) {
	s := New(t)
	s.SetTokenServerURL("http://127.0.0.1:5000/token")
	d, err := fxa.Discover(context.Background(), nil, s.IdentityProvider())
	if err != nil {
		t.Fatal(err)
	}
	if d.Issuer != s.Issuer() || d.TokenServerURL != "http://127.0.0.1:5000/token" {
		t.Errorf("Discover = %+v", d)
	}
}

func TestFailAndStall(t *testing.T) {
	s := New(t)
	s.Fail(PathJWKS, 503, 0)
	status, out := call(t, http.MethodGet, s.URL+PathJWKS, "", nil)
	if status != 503 || out["errno"] != float64(201) {
		t.Errorf("failed jwks: %d %v", status, out)
	}
	s.Fail(PathJWKS, 0, 0)
	if status, _ := call(t, http.MethodGet, s.URL+PathJWKS, "", nil); status != 200 {
		t.Errorf("cleared failure: %d", status)
	}
	s.Stall(PathJWKS, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+PathJWKS, nil)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("stalled request answered")
	}
	if time.Since(start) > 10*time.Second {
		t.Error("stall did not end with the client")
	}
	if n := s.Hits(PathJWKS); n != 3 {
		t.Errorf("Hits = %d, want 3", n)
	}
}

func raw(t *testing.T, method, url, body string, header map[string]string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func call(t *testing.T, method, url, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
