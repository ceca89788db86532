package handlers

// Shared helpers of the storage and tokenserver tests: a Server over a real
// store (sqlite in a temp dir, or MySQL or PostgreSQL: see newTestServer)
// with a fixed secret and a settable clock, and a client that mints tokens
// and signs Hawk requests as Firefox does.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/hawk"
	"syncserver/internal/testdb"
	"syncserver/token"
)

// testSecret is the master secret of the token vector (token package's
// tests, checked against Mozilla's tokenlib 2.0.0).
const testSecret = "db8a203aed5fe3e4594d4b75990acb76242efd35"

// testPublicURL is the public_url of the token and Hawk vectors; its path prefix
// makes every test exercise prefix handling.
var testPublicURL = PublicURL{Scheme: "https", Host: "sync.example.com", Port: 443, Prefix: "/ff-sync"}

// testEpoch is the clock of the Hawk vector (hawk package's tests): ts 1700000000.
var testEpoch = time.Unix(1700000000, 0)

// testClock is a settable clock shared by the server and the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

// Now returns the current fake time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testServer is a Server over a fresh store.
type testServer struct {
	*Server
	TB      testing.TB
	Store   db.Store
	Clock   *testClock
	Secrets *token.Secrets
	Logs    *logBuffer
	nonce   atomic.Uint64
}

// newTestServer builds a Server with public_url testPublicURL over a fresh
// store (sqlite in tb.TempDir(), or the backend SYNCSERVER_TEST_BACKEND
// names), verifying tokens signed with testSecret, its clock
// at testEpoch, debug logs collected in Logs. edit may change the options
// before the Server is built.
func newTestServer(tb testing.TB, edit ...func(*Options)) *testServer {
	tb.Helper()
	clock := newTestClock(testEpoch)
	// The store shares the clock, so TTLs and batch lifetimes follow it.
	// It is a fresh database of the backend SYNCSERVER_TEST_BACKEND names:
	// sqlite in tb.TempDir() (synchronous OFF: a test database need not
	// survive a crash) unless it says mysql or postgres.
	store := testdb.Open(tb, testdb.Backend(tb), testdb.Options{Now: clock.Now})
	secrets, err := token.NewSecrets([]string{testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logBuffer{}
	opts := Options{
		PublicURL:          testPublicURL,
		Store:              store,
		Limits:             DefaultLimits,
		BatchUploadEnabled: true,
		Logger:             slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:                clock.Now,
		Storage:            StorageOptions{Tokens: token.NewCache(secrets, 1000)},
	}
	for _, e := range edit {
		e(&opts)
	}
	s, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return &testServer{Server: s, TB: tb, Store: store, Clock: clock, Secrets: secrets, Logs: logs}
}

// testCreds are a storage token and its Hawk key.
type testCreds struct {
	UID db.UID
	ID  string // the token: Hawk id
	Key string // the derived secret: Hawk key
}

// mintToken mints a token for uid on this server's node, valid for an
// hour from the test clock.
func (ts *testServer) mintToken(uid db.UID) testCreds {
	return ts.mintTokenWith(token.Payload{UID: int64(uid), Expires: ts.Clock.Now().Add(time.Hour).Unix()})
}

// mintTokenWith mints a token with payload p; an empty Node is filled with
// public_url.
func (ts *testServer) mintTokenWith(p token.Payload) testCreds {
	ts.TB.Helper()
	if p.Node == "" {
		p.Node = testPublicURL.String()
	}
	id, key, err := ts.Secrets.Mint(p)
	if err != nil {
		ts.TB.Fatal(err)
	}
	return testCreds{UID: db.UID(p.UID), ID: id, Key: key}
}

// newRequest builds a request for target, the client-visible path and
// query without public_url's prefix ("/storage/1.5/1/info/collections"),
// as a web server that passes the prefix on forwards it (Host without a
// port, as Debian's nginx sends it). hdr are alternating header names and
// values; a non-empty body gets Content-Type application/json unless hdr
// sets one.
func newRequest(method, target, body string, hdr ...string) *Request {
	if len(hdr)%2 != 0 {
		panic("newRequest: odd number of header arguments")
	}
	r := &Request{
		Method:        method,
		Scheme:        "https",
		Host:          testPublicURL.Host,
		RequestURI:    testPublicURL.Prefix + target,
		Header:        make(http.Header),
		ContentLength: int64(len(body)),
		Body:          strings.NewReader(body),
		RemoteAddr:    "127.0.0.1:40000",
	}
	for i := 0; i < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	if body != "" && len(r.Header.Values("Content-Type")) == 0 {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// hawkAuth sets what signHawk would otherwise choose.
type hawkAuth struct {
	TS    int64  // 0: the test clock
	Nonce string // "": a fresh nonce
	// Hash signs a payload hash of body; HashValue, when set, is signed as
	// the hash instead (a wrong one, for tests).
	Hash      bool
	HashValue string
}

// signHawk signs r with cr as Firefox would: a MAC over the method, the
// server's public_url host and port, and resource, the client-visible request-target
// (with public_url's prefix).
func (ts *testServer) signHawk(r *Request, cr testCreds, resource, body string, a hawkAuth) {
	if a.TS == 0 {
		a.TS = ts.Clock.Now().Unix()
	}
	if a.Nonce == "" {
		a.Nonce = "n" + strconv.FormatUint(ts.nonce.Add(1), 36)
	}
	auth := hawk.Auth{ID: cr.ID, TS: a.TS, Nonce: a.Nonce, Hash: a.HashValue}
	if a.Hash && auth.Hash == "" {
		auth.Hash = hawk.PayloadHash(r.Header.Get("Content-Type"), []byte(body))
	}
	auth.MAC = hawk.Sign([]byte(cr.Key), auth, hawk.Request{
		Method:   r.Method,
		Host:     ts.opts.PublicURL.Host,
		Port:     ts.opts.PublicURL.Port,
		Resource: resource,
	})
	r.Header.Set("Authorization", auth.Header())
}

// hawkRequest is newRequest signed with cr.
func (ts *testServer) hawkRequest(cr testCreds, method, target, body string, hdr ...string) *Request {
	r := newRequest(method, target, body, hdr...)
	ts.signHawk(r, cr, ts.opts.PublicURL.Prefix+target, body, hawkAuth{})
	return r
}

// serve runs r through the server.
func (ts *testServer) serve(r *Request) *Response {
	return ts.Serve(context.Background(), r)
}

// testUser is a client of one user with a valid token.
type testUser struct {
	ts    *testServer
	creds testCreds
}

// user returns a client for uid with a fresh token.
func (ts *testServer) user(uid db.UID) *testUser {
	return &testUser{ts: ts, creds: ts.mintToken(uid)}
}

// path is the client-visible path of rel below the user's storage root:
// path("/info/collections") = "/storage/1.5/{uid}/info/collections".
func (u *testUser) path(rel string) string {
	return "/storage/1.5/" + strconv.FormatInt(int64(u.creds.UID), 10) + rel
}

// do sends a signed request for rel (below /storage/1.5/{uid}).
func (u *testUser) do(method, rel, body string, hdr ...string) *Response {
	u.ts.TB.Helper()
	return u.ts.serve(u.ts.hawkRequest(u.creds, method, u.path(rel), body, hdr...))
}

// mustDo is do that fails the test unless the status is want.
func (u *testUser) mustDo(want int, method, rel, body string, hdr ...string) *Response {
	u.ts.TB.Helper()
	r := u.do(method, rel, body, hdr...)
	if r.Status != want {
		u.ts.TB.Fatalf("%s %s: status %d, want %d; body %q", method, rel, r.Status, want, r.Body)
	}
	return r
}

// put uploads one record with PUT and returns its new timestamp.
func (u *testUser) put(coll, id, body string) db.Timestamp {
	u.ts.TB.Helper()
	r := u.mustDo(http.StatusOK, http.MethodPut, "/storage/"+coll+"/"+id, body)
	return mustTimestamp(u.ts.TB, string(r.Body))
}

// post uploads records with POST and returns the decoded result.
func (u *testUser) post(coll, body string, hdr ...string) postResult {
	u.ts.TB.Helper()
	r := u.mustDo(http.StatusOK, http.MethodPost, "/storage/"+coll, body, hdr...)
	return decodePostResult(u.ts.TB, r)
}

// postResult is the body of a POST answer.
type postResult struct {
	Modified json.Number       `json:"modified"`
	Batch    string            `json:"batch"`
	Success  []string          `json:"success"`
	Failed   map[string]string `json:"failed"`
}

func decodePostResult(tb testing.TB, r *Response) postResult {
	tb.Helper()
	var res postResult
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		tb.Fatalf("POST answer %q: %v", r.Body, err)
	}
	return res
}

func mustTimestamp(tb testing.TB, s string) db.Timestamp {
	tb.Helper()
	t, err := db.ParseTimestamp(s)
	if err != nil {
		tb.Fatalf("timestamp %q: %v", s, err)
	}
	return t
}

// wantResponse fails the test unless r has the status and, when body is
// not "-", exactly that body.
func wantResponse(tb testing.TB, r *Response, status int, body string) {
	tb.Helper()
	if r.Status != status || body != "-" && string(r.Body) != body {
		tb.Fatalf("got %d %q, want %d %q", r.Status, r.Body, status, body)
	}
}

// wantHeader fails the test unless header k of r is v.
func wantHeader(tb testing.TB, r *Response, k, v string) {
	tb.Helper()
	if got := r.Header.Get(k); got != v {
		tb.Fatalf("%s: got %q, want %q", k, got, v)
	}
}

// wantJSON fails the test unless r's body is JSON equal to want (which
// is compared after decoding both, so key order does not matter).
func wantJSON(tb testing.TB, r *Response, want string) {
	tb.Helper()
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		tb.Fatalf("body %q is not JSON: %v", r.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		tb.Fatalf("bad test: %v", err)
	}
	gb, _ := json.Marshal(got)
	eb, _ := json.Marshal(exp)
	if string(gb) != string(eb) {
		tb.Fatalf("body %s, want %s", r.Body, want)
	}
}

// want401 fails the test unless r is the Hawk challenge: 401, body 0,
// WWW-Authenticate: Hawk.
func want401(tb testing.TB, r *Response) {
	tb.Helper()
	wantResponse(tb, r, http.StatusUnauthorized, "0")
	wantHeader(tb, r, "WWW-Authenticate", "Hawk")
	wantHeader(tb, r, "Content-Type", "application/json")
}
