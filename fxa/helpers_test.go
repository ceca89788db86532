package fxa

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// testUID is an FxA uid as FxA makes them: 32 hex digits.
const testUID = "aeaa1725c7a24ff983c6295725d5fc9b"

// t0 is the tests' clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an adjustable clock safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testKey is an RSA signing key generated for the test.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func newTestKey(t testing.TB, kid string) testKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, priv: priv}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k testKey) jwk() map[string]any {
	return map[string]any{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.kid,
		"n":             b64(k.priv.N.Bytes()),
		"e":             b64(big.NewInt(int64(k.priv.E)).Bytes()),
		"fxa-createdAt": 1700000000,
	}
}

func jwksJSON(keys ...testKey) string {
	list := []any{}
	for _, k := range keys {
		list = append(list, k.jwk())
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return string(b)
}

// jwtSpec describes a JWT for a test; the zero value plus a key is a good
// FxA access token valid at t0.
type jwtSpec struct {
	key    testKey
	header map[string]any // merged over the default header; nil values delete
	claims map[string]any // merged over the default claims; nil values delete
	// sign, when set, replaces the RS256 signature.
	sign func(input string) []byte
}

func mintJWT(t testing.TB, s jwtSpec) string {
	t.Helper()
	header := map[string]any{"alg": "RS256", "typ": "at+JWT", "kid": s.key.kid}
	claims := map[string]any{
		"aud":            "http://localhost:5000/token",
		"client_id":      "5882386c6d801776",
		"exp":            t0.Add(time.Hour).Unix(),
		"iat":            t0.Unix(),
		"iss":            "https://accounts.example.com",
		"jti":            "e19ed6c5d4c1a04e1b2a",
		"scope":          OldSyncScope,
		"sub":            testUID,
		"fxa-generation": 1700000000123,
	}
	merge(header, s.header)
	merge(claims, s.claims)
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	var sig []byte
	if s.sign != nil {
		sig = s.sign(input)
	} else {
		sum := sha256.Sum256([]byte(input))
		var err error
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key.priv, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
	}
	return input + "." + b64(sig)
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// hs256 signs like the classic alg-confusion attack: HMAC keyed with the
// RSA public key's bytes.
func hs256(k testKey) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, k.priv.N.Bytes())
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// fakeFxA is a minimal OAuth server whose answers each test controls.
type fakeFxA struct {
	srv *httptest.Server

	mu         sync.Mutex
	jwks       string
	jwksStatus int
	hits       map[string]int
	// verify answers POST /v1/verify; nil answers 500.
	verify func(w http.ResponseWriter, token string)
	// stall delays every answer.
	stall time.Duration
	// discovery is served at /.well-known/fxa-client-configuration.
	discovery map[string]string
	// config is served at /config.
	config string
}

func newFakeFxA(t testing.TB) *fakeFxA {
	f := &fakeFxA{hits: make(map[string]int), jwksStatus: http.StatusOK}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFxA) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.Method+" "+r.URL.Path]++
	stall, jwks, jwksStatus, verify := f.stall, f.jwks, f.jwksStatus, f.verify
	discovery, config := f.discovery, f.config
	f.mu.Unlock()
	if stall > 0 {
		select {
		case <-time.After(stall):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.Method + " " + r.URL.Path {
	case "GET /v1/jwks":
		w.WriteHeader(jwksStatus)
		w.Write([]byte(jwks))
	case "POST /v1/verify":
		var body struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"code":400,"errno":109,"error":"Bad Request","message":"Invalid request parameter"}`))
			return
		}
		if verify == nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		verify(w, body.Token)
	case "GET /.well-known/fxa-client-configuration":
		if discovery == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(discovery)
	case "GET /config":
		w.Write([]byte(config))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeFxA) set(fn func(f *fakeFxA)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeFxA) hitCount(methodPath string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[methodPath]
}

// newVerifier builds a Verifier for the fake's OAuth server with an issuer,
// so no discovery happens unless the test asks for it.
func newVerifier(t testing.TB, f *fakeFxA, c *clock, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Now: c.Now, Timeout: 2 * time.Second, Issuer: "accounts.example.com"}
	if f != nil {
		cfg.OAuthURL = f.srv.URL
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The rate bound of key fetches follows the test's clock too.
	v.keys.mono = c.Now
	return v
}

// rejectAll makes the fake's /v1/verify answer as FxA does for a token it
// did not issue.
func rejectAll(f *fakeFxA) {
	f.verify = answer(http.StatusBadRequest, `{"code":400,"errno":108,"error":"Bad Request","message":"Invalid token"}`)
}

// noNetwork is an HTTP transport that fails the test when used.
type noNetwork struct{ t testing.TB }

func (n noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected request %s %s", r.Method, r.URL)
	return nil, errors.New("no network in this test")
}

// wantKind checks that err matches exactly the wanted sentinel (nil for
// success).
func wantKind(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want success", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	n := 0
	for _, k := range []error{ErrRejected, ErrUnavailable, ErrInvalidGeneration} {
		if errors.Is(err, k) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("err = %v matches %d error kinds, want exactly one", err, n)
	}
}

func containsToken(err error, tok string) bool {
	return err != nil && tok != "" && strings.Contains(err.Error(), tok)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
