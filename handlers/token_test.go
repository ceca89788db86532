package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/token"
)

func TestTokenSuccess(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	r := tt.firefox(a)
	b := wantToken(t, r)
	if b.UID <= 0 {
		t.Fatalf("uid %d", b.UID)
	}
	if want := testPublicURL.String() + "/storage/1.5/" + strconv.FormatInt(b.UID, 10); b.APIEndpoint != want {
		t.Errorf("api_endpoint %q, want %q", b.APIEndpoint, want)
	}
	if b.Duration != 3600 || b.HashAlg != "sha256" || b.NodeType != nil {
		t.Errorf("duration %d, hashalg %q, node_type %v", b.Duration, b.HashAlg, b.NodeType)
	}
	if want := token.MetricsHash(testMetricsKey, a.UID); b.HashedFxAUID != want {
		t.Errorf("hashed_fxa_uid %q, want %q", b.HashedFxAUID, want)
	}
	// The body has exactly the legacy keys, in the legacy order, with
	// node_type null.
	for i, k := range []string{`{"id":`, `,"key":`, `,"uid":`, `,"api_endpoint":`, `,"duration":`, `,"hashalg":`, `,"hashed_fxa_uid":`, `,"node_type":null}`} {
		if !strings.Contains(string(r.Body), k) {
			t.Errorf("key %d %s missing from %s", i, k, r.Body)
		}
	}

	// The storage token is tokenlib's, signed with the shared secret.
	p, key, err := tt.Secrets.Parse(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if key != b.Key {
		t.Errorf("key %q, want the derived secret %q", b.Key, key)
	}
	kid, _ := token.FxAKID(a.KeysChangedAt, a.ClientState())
	want := token.Payload{
		UID:            b.UID,
		Node:           testPublicURL.String(),
		Expires:        testEpoch.Unix() + 3600,
		FxAUID:         a.UID,
		FxAKID:         kid,
		HashedFxAUID:   b.HashedFxAUID,
		HashedDeviceID: token.HashedDeviceID(testMetricsKey, b.HashedFxAUID, ""),
		Salt:           p.Salt,
	}
	if p != want {
		t.Errorf("payload %+v, want %+v", p, want)
	}
	if len(p.Salt) != 6 {
		t.Errorf("salt %q", p.Salt)
	}

	// The same user gets the same uid again, by either route, whether or
	// not the web server strips public_url's prefix.
	for _, target := range []string{"/token/1.0/sync/1.5", "/1.0/sync/1.5", "/token/1.0/sync/1.5/"} {
		for _, strip := range []bool{false, true} {
			req := newRequest(http.MethodGet, target, "", "Authorization", "Bearer "+tt.FxA.JWT(a.UID), "X-KeyID", a.KeyID())
			if strip {
				req.RequestURI = target
			}
			if got := wantToken(t, tt.serve(req)); got.UID != b.UID {
				t.Errorf("%s (stripped %v): uid %d, want %d", target, strip, got.UID, b.UID)
			}
		}
	}
}

func TestTokenSchemeIsCaseInsensitive(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	for _, authz := range []string{"bearer ", "BEARER ", "Bearer  \t", "  Bearer "} {
		r := tt.serve(newRequest(http.MethodGet, tokenPath, "", "Authorization", authz+tt.FxA.JWT(a.UID), "X-KeyID", a.KeyID()))
		wantToken(t, r)
	}
}

func TestTokenWithoutKeyIDUsesClientStateHeader(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	b := wantToken(t, tt.getToken(tt.FxA.JWT(a.UID), "X-Client-State", a.ClientState()))
	p, _, err := tt.Secrets.Parse(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	// No X-KeyID: keys_changed_at 0, so fxa_kid carries the generation.
	if kid, _ := token.FxAKID(a.Generation, a.ClientState()); p.FxAKID != kid {
		t.Errorf("fxa_kid %q, want %q", p.FxAKID, kid)
	}
}

func TestTokenDuration(t *testing.T) {
	tests := []struct {
		query string
		base  time.Duration
		want  int64
	}{
		{"", 0, 3600},
		{"?duration=60", 0, 60},
		{"?duration=3599", 0, 3599},
		{"?duration=3600", 0, 3600},
		{"?duration=7200", 0, 3600},
		{"?duration=0", 0, 3600},
		{"?duration=-5", 0, 3600},
		{"?duration=abc", 0, 3600},
		{"?duration=1.5", 0, 3600},
		{"?duration=100&duration=30", 0, 30},
		{"", 300 * time.Second, 300},
		{"?duration=60", 300 * time.Second, 60},
		{"?duration=600", 300 * time.Second, 300},
	}
	for _, tc := range tests {
		t.Run(tc.query+"/"+tc.base.String(), func(t *testing.T) {
			tt := newTokenTest(t, nil, func(o *Options) { o.Token.Duration = tc.base })
			a := tt.account()
			req := newRequest(http.MethodGet, tokenPath+tc.query, "", "Authorization", "Bearer "+tt.FxA.JWT(a.UID), "X-KeyID", a.KeyID())
			b := wantToken(t, tt.serve(req))
			if b.Duration != tc.want {
				t.Errorf("duration %d, want %d", b.Duration, tc.want)
			}
			p, _, err := tt.Secrets.Parse(b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if p.Expires != testEpoch.Unix()+tc.want {
				t.Errorf("expires %d, want now + %d", p.Expires, tc.want)
			}
		})
	}
}

func TestTokenEndpointPatternAndNode(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) {
		o.Token.EndpointPattern = "{node}/1.5/{uid}?s={service}"
		o.Token.NodeURL = "https://node1.example.com/"
	})
	a := tt.account()
	b := wantToken(t, tt.firefox(a))
	if want := "https://node1.example.com/1.5/" + strconv.FormatInt(b.UID, 10) + "?s=sync-1.5"; b.APIEndpoint != want {
		t.Errorf("api_endpoint %q, want %q", b.APIEndpoint, want)
	}
	p, _, _ := tt.Secrets.Parse(b.ID)
	if p.Node != "https://node1.example.com" {
		t.Errorf("node %q", p.Node)
	}
}

func TestTokenBadEndpointPatternFailsAtStart(t *testing.T) {
	_, err := New(Options{
		PublicURL: testPublicURL,
		Store:     pingStore{ping: okPing},
		Token:     TokenOptions{EndpointPattern: "{node}/storage/1.5/{user}"},
	})
	if err == nil || !strings.Contains(err.Error(), "{user}") {
		t.Errorf("New err = %v, want one naming {user}", err)
	}
}

func TestTokenMetricsKeyVector(t *testing.T) {
	// The token vector: the metrics key "metricskey" and this FxA uid.
	tt := newTokenTest(t, nil)
	a := tt.account()
	a.UID = "aeaa1725c7a24ff983c6295725d5fc9b"
	tt.FxA.SetAccount(a)
	b := wantToken(t, tt.firefox(a))
	if b.HashedFxAUID != "02d6d30647651d781a1e8f2314b6d6f7" {
		t.Errorf("hashed_fxa_uid %q", b.HashedFxAUID)
	}
	p, _, _ := tt.Secrets.Parse(b.ID)
	if p.HashedDeviceID != "cac3c58399e18585bbf9ee070ee2477d" {
		t.Errorf("hashed_device_id %q", p.HashedDeviceID)
	}
}

func TestTokenEmailIsUIDAtIssuer(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	wantToken(t, tt.firefox(a))
	u, err := tt.Store.Users().GetUser(context.Background(), "sync-1.5", a.UID+"@"+tt.FxA.Issuer())
	if err != nil {
		t.Fatalf("user not stored as <uid>@<issuer>: %v", err)
	}
	if u.ClientState != a.ClientState() || u.KeysChangedAt != a.KeysChangedAt || u.Generation != a.Generation {
		t.Errorf("stored %+v", u)
	}
}

func TestTokenIssuerFromOptionsWhenVerifierHasNone(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) {
		o.Token.Verifier = stubVerifier{tok: VerifiedToken{UID: "0123456789abcdef0123456789abcdef"}}
		o.Token.Issuer = "api.accounts.example.com"
	})
	wantToken(t, tt.getToken("opaque", "X-Client-State", "aabb"))
	if _, err := tt.Store.Users().GetUser(context.Background(), "sync-1.5", "0123456789abcdef0123456789abcdef@api.accounts.example.com"); err != nil {
		t.Errorf("user not stored with the configured issuer: %v", err)
	}
}

// stubVerifier answers every token the same way.
type stubVerifier struct {
	tok VerifiedToken
	err error
}

func (v stubVerifier) Verify(ctx context.Context, accessToken string) (VerifiedToken, error) {
	return v.tok, v.err
}
