package accounts

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
	"syncserver/db/sqldb"
	"syncserver/handlers"
	"syncserver/hawk"
	"syncserver/internal/testdb"
	"syncserver/token"
)

const (
	testOrigin      = "https://accounts.example.org"
	testTokenServer = "https://sync.example.org/token"
	desktopClient   = "5882386c6d801776"
	fenixClient     = "a2270f727f45f648"
)

var testEpoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is the service on an in-memory store with a test clock, and on
// demand the tokenserver and storage of handlers behind it.
type harness struct {
	t     testing.TB
	svc   *Service
	store db.AccountsStore
	clock *testClock
	logs  *strings.Builder
	ts    *handlers.Server
	db    *sqldb.Store
	// remote is the client address of requests.
	remote string
}

func newHarness(t testing.TB, edit ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, clock: &testClock{now: testEpoch}, logs: &strings.Builder{}, remote: "192.0.2.1:5555"}
	// The accounts live in the database the storage uses, as in
	// production: sqlite in a temporary directory (or the backend
	// SYNCSERVER_TEST_BACKEND names).
	h.db = testdb.Open(t, testdb.Backend(t), testdb.Options{Now: h.clock.Now})
	h.store = h.db
	o := Options{
		Store:          h.store,
		Origin:         testOrigin,
		TokenServerURL: testTokenServer,
		Secret:         []byte("fake salt secret"),
		Now:            h.clock.Now,
		Logger:         slog.New(slog.NewTextHandler(&lockedWriter{w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, e := range edit {
		e(&o)
	}
	h.store = o.Store
	svc, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// request builds a request to the accounts origin. body is a string sent
// as is, or a value sent as JSON; nil sends none.
func (h *harness) request(method, uri string, body any, hdr ...string) *handlers.Request {
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			h.t.Fatal(err)
		}
	}
	r := &handlers.Request{Method: method, Scheme: "https", Host: "accounts.example.org", RequestURI: uri,
		Header: make(http.Header), RemoteAddr: h.remote, ContentLength: int64(len(b)), Body: strings.NewReader(string(b))}
	if b != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

// serve sends r to the service, which must claim it.
func (h *harness) serve(r *handlers.Request) *handlers.Response {
	h.t.Helper()
	resp, ok := h.svc.Serve(context.Background(), r)
	if !ok {
		h.t.Fatalf("%s %s: not an accounts route", r.Method, r.RequestURI)
	}
	return resp
}

func (h *harness) do(method, uri string, body any, hdr ...string) *handlers.Response {
	h.t.Helper()
	return h.serve(h.request(method, uri, body, hdr...))
}

// hawkSigned signs r with Hawk as Firefox does (hawk-client): MAC over the
// accounts origin's host and 443, payload hash of the JSON body.
func (h *harness) hawkSigned(r *handlers.Request, tokenHex, kind string) *handlers.Request {
	h.t.Helper()
	raw, err := hex.DecodeString(tokenHex)
	if err != nil {
		h.t.Fatal(err)
	}
	tk := onepw.DeriveToken(raw, kind)
	body, _ := io.ReadAll(r.Body)
	r.Body = strings.NewReader(string(body))
	a := hawk.Auth{ID: tk.ID, TS: h.clock.Now().Unix(), Nonce: randomHex(6)}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	if len(body) == 0 {
		a.Hash = hawk.PayloadHash("text/plain", []byte("{}"))
	} else {
		a.Hash = hawk.PayloadHash(ct, body)
	}
	a.MAC = hawk.Sign(tk.HMACKey, a, hawk.Request{Method: r.Method, Host: "accounts.example.org", Port: 443, Resource: r.RequestURI})
	r.Header.Set("Authorization", a.Header())
	return r
}

func (h *harness) session(method, uri string, body any, sessionToken string) *handlers.Response {
	h.t.Helper()
	return h.serve(h.hawkSigned(h.request(method, uri, body), sessionToken, onepw.KindSession))
}

// decodeJSON decodes a response body, failing the test on a non-JSON one.
func decodeJSON(t testing.TB, r *handlers.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("status %d, body %q is not a JSON object: %v", r.Status, r.Body, err)
	}
	return m
}

// wantOK fails unless r is 200 with a JSON object, which it returns.
func wantOK(t testing.TB, r *handlers.Response) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
	wantCommonHeaders(t, r)
	return decodeJSON(t, r)
}

// wantErrno fails unless r is the error envelope with status and errno.
func wantErrno(t testing.TB, r *handlers.Response, status, errno int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	m := decodeJSON(t, r)
	if m["code"] != float64(status) || m["errno"] != float64(errno) || m["error"] == "" || m["message"] == nil {
		t.Fatalf("envelope %s, want code %d errno %d", r.Body, status, errno)
	}
	wantCommonHeaders(t, r)
}

// wantCommonHeaders checks what every answer carries (spec §3.1), and
// that none says Retry-After to Firefox.
func wantCommonHeaders(t testing.TB, r *handlers.Response) {
	t.Helper()
	for k, v := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if _, err := http.ParseTime(r.Header.Get("Date")); err != nil {
		t.Errorf("Date header %q: %v", r.Header.Get("Date"), err)
	}
	if r.Header.Get("Retry-After") != "" {
		t.Errorf("Retry-After sent: %q", r.Header.Get("Retry-After"))
	}
}

// --- the page's side -------------------------------------------------------

// pageClient does what the sign-in page does, in Go.
type pageClient struct {
	h        *harness
	email    string
	password string
}

// stretchCache keeps the 650 000-iteration stretch per (password, salt):
// it is the page's cost, not the server's, and the tests repeat it.
var stretchCache sync.Map

func stretch(password, salt string) []byte {
	k := password + "\x00" + salt
	if v, ok := stretchCache.Load(k); ok {
		return v.([]byte)
	}
	qs := onepw.QuickStretchV2(password, salt)
	stretchCache.Store(k, qs)
	return qs
}

func (p *pageClient) salt() string {
	p.h.t.Helper()
	m := wantOK(p.h.t, p.h.do("POST", "/v1/account/credentials/status", map[string]string{"email": p.email}))
	return m["clientSalt"].(string)
}

// login is credentials/status, the stretch and account/login?keys=true.
func (p *pageClient) login() (*handlers.Response, []byte) {
	p.h.t.Helper()
	qs := stretch(p.password, p.salt())
	r := p.h.do("POST", "/v1/account/login?keys=true", map[string]string{"email": p.email, "authPW": hex.EncodeToString(onepw.AuthPW(qs))})
	return r, onepw.UnwrapBKey(qs)
}

// signIn is the whole page flow up to the code; it returns the session,
// kB and the code answer.
type signedIn struct {
	uid, session string
	kB           []byte
	kid, k       string
}

func (p *pageClient) signIn() signedIn {
	t := p.h.t
	t.Helper()
	r, unwrapBKey := p.login()
	m := wantOK(t, r)
	si := signedIn{uid: m["uid"].(string), session: m["sessionToken"].(string)}
	kft := m["keyFetchToken"].(string)
	rk := p.h.serve(p.h.hawkSigned(p.h.request("GET", "/v1/account/keys", nil), kft, onepw.KindKeyFetch))
	bundle := wantOK(t, rk)["bundle"].(string)
	raw, _ := hex.DecodeString(kft)
	_, wrapKb, err := onepw.OpenKeysBundle(onepw.DeriveToken(raw, onepw.KindKeyFetch).KeyRequestKey, bundle)
	if err != nil {
		t.Fatal(err)
	}
	si.kB = onepw.XOR(wrapKb, unwrapBKey)
	skd := wantOK(t, p.h.session("POST", "/v1/account/scoped-key-data", map[string]string{"client_id": desktopClient, "scope": onepw.ScopeOldSync + " profile"}, si.session))
	entry := skd[onepw.ScopeOldSync].(map[string]any)
	ts := int64(entry["keyRotationTimestamp"].(float64))
	si.k, si.kid = onepw.OldSyncKey(si.kB, ts)
	return si
}

// --- Firefox's side --------------------------------------------------------

// firefoxFlow is what beginOAuthFlow keeps in memory: state, the PKCE
// verifier and the ephemeral key.
type firefoxFlow struct {
	state, verifier, keysJWK string
	priv                     *ecdsa.PrivateKey
}

func newFirefoxFlow(t testing.TB) firefoxFlow {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	_ = ecdh.P256
	jwk, _ := json.Marshal(map[string]any{"crv": "P-256", "ext": true, "key_ops": []string{}, "kty": "EC",
		"x": base64.RawURLEncoding.EncodeToString(raw[1:33]), "y": base64.RawURLEncoding.EncodeToString(raw[33:])})
	return firefoxFlow{state: randomHex(16), verifier: base64.RawURLEncoding.EncodeToString([]byte(randomHex(24))),
		keysJWK: base64.RawURLEncoding.EncodeToString(jwk), priv: priv}
}

// authorize is the page's last step: seal the oldsync key to keys_jwk and
// ask for a code.
func (p *pageClient) authorize(si signedIn, ff firefoxFlow) string {
	t := p.h.t
	t.Helper()
	plain, _ := json.Marshal(map[string]any{onepw.ScopeOldSync: map[string]string{"scope": onepw.ScopeOldSync, "kty": "oct", "k": si.k, "kid": si.kid}})
	jwe, err := onepw.SealKeysJWE(ff.keysJWK, plain)
	if err != nil {
		t.Fatal(err)
	}
	m := wantOK(t, p.h.session("POST", "/v1/oauth/authorization", map[string]string{
		"client_id": desktopClient, "state": ff.state, "scope": onepw.ScopeOldSync + " profile",
		"response_type": "code", "access_type": "offline", "code_challenge": onepw.PKCEChallenge(ff.verifier),
		"code_challenge_method": "S256", "keys_jwe": jwe}, si.session))
	if m["state"] != ff.state || m["redirect"] != webChannelRedirect || !isHex(fmt.Sprint(m["code"]), 32) {
		t.Fatalf("authorization answer %v", m)
	}
	return m["code"].(string)
}

// redeem is Firefox's code exchange signed with Hawk(session).
func (h *harness) redeem(session, code, verifier string) *handlers.Response {
	h.t.Helper()
	return h.session("POST", "/v1/oauth/token", map[string]string{"client_id": desktopClient, "grant_type": "authorization_code",
		"code": code, "code_verifier": verifier}, session)
}

// syncToken is Firefox's fxa-credentials grant for oldsync.
func (h *harness) syncToken(session string) string {
	h.t.Helper()
	m := wantOK(h.t, h.session("POST", "/v1/oauth/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials",
		"scope": onepw.ScopeOldSync, "ttl": 21600}, session))
	return m["access_token"].(string)
}

// --- tokenserver and storage ----------------------------------------------

const syncPublicURL = "https://sync.example.org/"

func (h *harness) tokenServer(verifier handlers.TokenVerifier) *handlers.Server {
	t := h.t
	t.Helper()
	store := h.db
	secrets, err := token.NewSecrets([]string{"tokenserver test secret"})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := handlers.New(handlers.Options{
		PublicURL: handlers.PublicURL{Scheme: "https", Host: "sync.example.org", Port: 443},
		Store:     store,
		Limits:    handlers.DefaultLimits,
		Now:       h.clock.Now,
		Logger:    slog.New(slog.DiscardHandler),
		Storage:   handlers.StorageOptions{Tokens: token.NewCache(secrets, 100)},
		Token:     handlers.TokenOptions{Secrets: secrets, Verifier: verifier, AllowNewUsers: true, MetricsKey: "k"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

type storageToken struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	UID         int64  `json:"uid"`
	APIEndpoint string `json:"api_endpoint"`
}

// getSyncToken is Firefox's GET <tokenserver>/1.0/sync/1.5.
func getSyncToken(t testing.TB, ts *handlers.Server, accessToken, kid string) (*handlers.Response, storageToken) {
	t.Helper()
	r := &handlers.Request{Method: "GET", Scheme: "https", Host: "sync.example.org", RequestURI: "/token/1.0/sync/1.5",
		Header:     http.Header{"Authorization": {"Bearer " + accessToken}, "X-Keyid": {kid}, "Accept": {"application/json"}},
		RemoteAddr: "192.0.2.1:1", ContentLength: 0, Body: http.NoBody}
	resp := ts.Serve(context.Background(), r)
	var st storageToken
	if resp.Status == http.StatusOK {
		if err := json.Unmarshal(resp.Body, &st); err != nil {
			t.Fatal(err)
		}
	}
	return resp, st
}

// storageDo sends a Hawk-signed storage request with a storage token.
func storageDo(t testing.TB, ts *handlers.Server, now time.Time, st storageToken, method, rel, body string) *handlers.Response {
	t.Helper()
	u, err := url.Parse(st.APIEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Path + rel
	a := hawk.Auth{ID: st.ID, TS: now.Unix(), Nonce: randomHex(6)}
	a.MAC = hawk.Sign([]byte(st.Key), a, hawk.Request{Method: method, Host: "sync.example.org", Port: 443, Resource: target})
	r := &handlers.Request{Method: method, Scheme: "https", Host: "sync.example.org", RequestURI: target,
		Header: http.Header{"Authorization": {a.Header()}, "Content-Type": {"application/json"}}, RemoteAddr: "192.0.2.1:1",
		ContentLength: int64(len(body)), Body: strings.NewReader(body)}
	return ts.Serve(context.Background(), r)
}

var _ = strconv.Itoa

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
