package onepw

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testKeys holds two signing keys, made once: RSA key generation is slow.
var testKeys = sync.OnceValues(func() ([2][]byte, error) {
	var keys [2][]byte
	for i := range keys {
		k, err := NewSigningKey()
		if err != nil {
			return keys, err
		}
		keys[i] = k
	}
	return keys, nil
})

func mustKeys(t *testing.T) [2][]byte {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func mustSigner(t *testing.T, keys ...[]byte) *Signer {
	t.Helper()
	s, err := NewSigner(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testNow = time.Unix(1_800_000_000, 0)

func testClaims() AccessClaims {
	return AccessClaims{
		Sub: "0123456789abcdef0123456789abcdef", Scope: ScopeOldSync + " " + ScopeProfile,
		ClientID: "5882386c6d801776", Iss: "https://accounts.example.org",
		Aud: "https://sync.example.org/token", JTI: "jti-1",
		Iat: testNow.Unix(), Exp: testNow.Unix() + 3600, Generation: 1_700_000_000_123,
	}
}

// segment decodes one part of a compact JWT into a map.
func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	b, err := b64.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSignerMintVerify(t *testing.T) {
	keys := mustKeys(t)
	s := mustSigner(t, keys[0])
	tok, err := s.Mint(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	hdr := segment(t, tok, 0)
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(s.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	if hdr["alg"] != "RS256" || hdr["typ"] != "at+JWT" || hdr["kid"] != jwks.Keys[0].KeyID {
		t.Errorf("header %v, want RS256, at+JWT and kid %s", hdr, jwks.Keys[0].KeyID)
	}
	claims := segment(t, tok, 1)
	if claims["fxa-generation"] != float64(1_700_000_000_123) || claims["client_id"] != "5882386c6d801776" ||
		claims["sub"] == nil || claims["aud"] == nil || claims["jti"] == nil {
		t.Errorf("claims %v", claims)
	}
	got, err := s.Verify(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got != testClaims() {
		t.Errorf("claims = %+v, want %+v", got, testClaims())
	}
	// aud is left out when not set (scopes without oldsync).
	c := testClaims()
	c.Aud = ""
	tok, _ = s.Mint(c)
	if _, ok := segment(t, tok, 1)["aud"]; ok {
		t.Error("empty aud is in the token")
	}
}

func TestSignerJWKS(t *testing.T) {
	keys := mustKeys(t)
	s := mustSigner(t, keys[0], keys[1])
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys, want current + previous", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" || k["n"] == nil || k["e"] == nil {
			t.Errorf("key %v", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS publishes private field %s", private)
			}
		}
	}
	if set.Keys[0]["kid"] == set.Keys[1]["kid"] {
		t.Error("two keys share a kid")
	}
}

// TestSignerPreviousKey: after a rotation, tokens of the previous key still
// verify and new ones are signed with the new key, which the old signer
// does not know.
func TestSignerPreviousKey(t *testing.T) {
	keys := mustKeys(t)
	before := mustSigner(t, keys[0])
	after := mustSigner(t, keys[1], keys[0])
	old, _ := before.Mint(testClaims())
	if _, err := after.Verify(old, testNow); err != nil {
		t.Errorf("token of the previous key refused: %v", err)
	}
	fresh, _ := after.Mint(testClaims())
	if segment(t, fresh, 0)["kid"] == segment(t, old, 0)["kid"] {
		t.Error("the new signer signs with the previous key")
	}
	if _, err := before.Verify(fresh, testNow); !errors.Is(err, ErrToken) {
		t.Errorf("unknown kid: err = %v, want ErrToken", err)
	}
}

func TestSignerVerifyRefuses(t *testing.T) {
	keys := mustKeys(t)
	s := mustSigner(t, keys[0])
	tok, _ := s.Mint(testClaims())
	parts := strings.Split(tok, ".")

	c := testClaims()
	c.Sub = "ffffffffffffffffffffffffffffffff"
	forged, _ := json.Marshal(c)
	noExp := testClaims()
	noExp.Exp = 0
	noExpTok, _ := s.Mint(noExp)

	// HS256 keyed with the public key's bytes: the classic alg confusion.
	var jwks jose.JSONWebKeySet
	json.Unmarshal(s.JWKS(), &jwks)
	pubJSON, _ := jwks.Keys[0].MarshalJSON()
	hsHdr := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"at+JWT","kid":"` + jwks.Keys[0].KeyID + `"}`))
	m := hmac.New(sha256.New, pubJSON)
	m.Write([]byte(hsHdr + "." + parts[1]))
	hs := hsHdr + "." + parts[1] + "." + b64.EncodeToString(m.Sum(nil))

	none := b64.EncodeToString([]byte(`{"alg":"none","typ":"at+JWT","kid":"`+jwks.Keys[0].KeyID+`"}`)) + "." + parts[1] + "."

	// A token signed by a key we do not hold, under our kid.
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	strangerSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256,
		Key: jose.JSONWebKey{Key: stranger, KeyID: jwks.Keys[0].KeyID}}, nil)
	strangerObj, _ := strangerSigner.Sign([]byte(parts[1]))
	strangerTok, _ := strangerObj.CompactSerialize()

	tests := map[string]struct {
		tok string
		now time.Time
	}{
		"expired":          {tok, time.Unix(testClaims().Exp, 0)},
		"long expired":     {tok, testNow.Add(24 * time.Hour)},
		"no exp":           {noExpTok, testNow},
		"tampered payload": {parts[0] + "." + b64.EncodeToString(forged) + "." + parts[2], testNow},
		"tampered sig":     {parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 256)), testNow},
		"alg none":         {none, testNow},
		"alg HS256":        {hs, testNow},
		"foreign key":      {strangerTok, testNow},
		"two parts":        {parts[0] + "." + parts[1], testNow},
		"garbage":          {"not a jwt", testNow},
		"empty":            {"", testNow},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Verify(tc.tok, tc.now); !errors.Is(err, ErrToken) {
				t.Errorf("err = %v, want ErrToken", err)
			}
		})
	}
	// The clock edge: one second before exp still verifies.
	if _, err := s.Verify(tok, time.Unix(testClaims().Exp-1, 0)); err != nil {
		t.Errorf("one second before exp: %v", err)
	}
}

func TestNewSignerRefuses(t *testing.T) {
	keys := mustKeys(t)
	var jwks jose.JSONWebKeySet
	json.Unmarshal(mustSigner(t, keys[0]).JWKS(), &jwks)
	public, _ := jwks.Keys[0].MarshalJSON()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallJSON, _ := (&jose.JSONWebKey{Key: small}).MarshalJSON()
	for name, in := range map[string][][]byte{
		"none":         nil,
		"garbage":      {[]byte("{")},
		"public only":  {public},
		"1024 bits":    {smallJSON},
		"bad previous": {keys[0], []byte("x")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSigner(in...); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestSigningKeyStable: a stored key loads to the same kid every time, so
// tokens survive a restart.
func TestSigningKeyStable(t *testing.T) {
	keys := mustKeys(t)
	a, b := mustSigner(t, keys[0]), mustSigner(t, keys[0])
	if string(a.JWKS()) != string(b.JWKS()) {
		t.Error("the same key gives two JWKS")
	}
	tok, _ := a.Mint(testClaims())
	if _, err := b.Verify(tok, testNow); err != nil {
		t.Error(err)
	}
}

// TestSignerConcurrent mints and verifies from many goroutines: one Signer
// serves every request of the service (run with -race).
func TestSignerConcurrent(t *testing.T) {
	keys := mustKeys(t)
	s := mustSigner(t, keys[0], keys[1])
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for range 4 {
				tok, err := s.Mint(testClaims())
				if err == nil {
					_, err = s.Verify(tok, testNow)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
