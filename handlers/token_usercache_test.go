package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/sqldb"
	"syncserver/internal/fxatest"
	"syncserver/internal/testdb"
)

// lookupCountingStore counts the user lookups that reach the database.
type lookupCountingStore struct {
	db.Store
	gets *atomic.Int64
}

func (c lookupCountingStore) Users() db.Users { return lookupCountingUsers{c.Store.Users(), c.gets} }

type lookupCountingUsers struct {
	db.Users
	gets *atomic.Int64
}

func (c lookupCountingUsers) GetUser(ctx context.Context, service, email string) (db.User, error) {
	c.gets.Add(1)
	return c.Users.GetUser(ctx, service, email)
}

// userCacheTest is a tokenserver on one store of a database, and a
// second store of the same database standing for another process
// (another token server, or an operator's command).
type userCacheTest struct {
	*tokenTest
	other *sqldb.Store
	gets  *atomic.Int64
}

func newUserCacheTest(t *testing.T, edit ...func(*Options)) *userCacheTest {
	t.Helper()
	stores := testdb.OpenShared(t, testdb.Backend(t), 2, testdb.Options{})
	gets := new(atomic.Int64)
	edit = append([]func(*Options){func(o *Options) { o.Store = lookupCountingStore{stores[0], gets} }}, edit...)
	return &userCacheTest{tokenTest: newTokenTest(t, nil, edit...), other: stores[1], gets: gets}
}

// creds are what Firefox presents for account a: its current JWT and
// X-KeyID.
type creds struct{ jwt, kid string }

func (ct *userCacheTest) creds(a fxatest.Account) creds {
	return creds{ct.FxA.JWT(a.UID), a.KeyID()}
}

// request asks for a token with c and returns the status and the uid
// of a success. (The clock may have moved: X-Timestamp is not checked.)
func (ct *userCacheTest) request(t *testing.T, c creds) (int, int64) {
	t.Helper()
	r := ct.getToken(c.jwt, "X-KeyID", c.kid)
	if r.Status != http.StatusOK {
		return r.Status, 0
	}
	var b tokenBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("token answer %s: %v", r.Body, err)
	}
	return r.Status, b.UID
}

// wantUID fails the test unless c gets a token for uid, and reports
// whether the database was read for it.
func (ct *userCacheTest) wantUID(t *testing.T, c creds, uid int64) (readDB bool) {
	t.Helper()
	before := ct.gets.Load()
	status, got := ct.request(t, c)
	if status != http.StatusOK || got != uid {
		t.Fatalf("got %d uid %d, want a token for uid %d", status, got, uid)
	}
	return ct.gets.Load() != before
}

// wantRefused fails the test unless c gets 401 (from the database).
func (ct *userCacheTest) wantRefused(t *testing.T, c creds) {
	t.Helper()
	before := ct.gets.Load()
	if status, uid := ct.request(t, c); status != http.StatusUnauthorized {
		t.Fatalf("got %d uid %d, want 401", status, uid)
	}
	if ct.gets.Load() == before {
		t.Fatal("refused without reading the database")
	}
}

// cached makes a's record cached: its first request creates it, the
// second reads and keeps it, the third is answered from the cache.
func (ct *userCacheTest) cached(t *testing.T, a fxatest.Account) (creds, int64) {
	t.Helper()
	c := ct.creds(a)
	status, uid := ct.request(t, c)
	if status != http.StatusOK {
		t.Fatalf("first request: %d", status)
	}
	if !ct.wantUID(t, c, uid) {
		t.Fatal("second request: the record was not read")
	}
	if ct.wantUID(t, c, uid) {
		t.Fatal("third request: the database was read; want the cached record")
	}
	return c, uid
}

func (ct *userCacheTest) email(a fxatest.Account) string { return a.UID + "@" + ct.FxA.Issuer() }

// TestTokenUserCacheHit: an unchanged user's requests read the database
// once per UserCacheTTL.
func TestTokenUserCacheHit(t *testing.T) {
	ct := newUserCacheTest(t)
	c, uid := ct.cached(t, ct.account())
	ct.Clock.Advance(UserCacheTTL - time.Millisecond)
	if ct.wantUID(t, c, uid) {
		t.Error("read the database within UserCacheTTL")
	}
	ct.Clock.Advance(time.Millisecond)
	if !ct.wantUID(t, c, uid) {
		t.Error("UserCacheTTL after the read: want the database read again")
	}
	if ct.wantUID(t, c, uid) {
		t.Error("the record read again was not kept")
	}
}

// TestTokenUserCacheOff: UserCacheBytes < 0 reads every time.
func TestTokenUserCacheOff(t *testing.T) {
	ct := newUserCacheTest(t, func(o *Options) { o.Token.UserCacheBytes = -1 })
	a := ct.account()
	c := ct.creds(a)
	_, uid := ct.request(t, c)
	for range 3 {
		if !ct.wantUID(t, c, uid) {
			t.Fatal("answered without the database")
		}
	}
}

// TestTokenUserCacheOwnWrites: every change this process makes to a
// record is seen by its next request, whatever it had cached: the old
// credentials are refused at once after a password change or a key
// change presented here.
func TestTokenUserCacheOwnWrites(t *testing.T) {
	t.Run("generation", func(t *testing.T) {
		ct := newUserCacheTest(t)
		a := ct.account()
		old, uid := ct.cached(t, a)
		a.Generation += 1000 // a password change
		ct.FxA.SetAccount(a)
		ct.wantUID(t, ct.creds(a), uid)
		ct.wantRefused(t, old)
	})
	t.Run("key change", func(t *testing.T) {
		ct := newUserCacheTest(t)
		a := ct.account()
		old, uid := ct.cached(t, a)
		b := keyChanged(a)
		ct.FxA.SetAccount(b)
		status, nuid := ct.request(t, ct.creds(b))
		if status != http.StatusOK || nuid == uid {
			t.Fatalf("key change: %d uid %d (was %d), want a new uid", status, nuid, uid)
		}
		ct.wantRefused(t, old)
		ct.wantUID(t, ct.creds(b), nuid)
	})
}

// TestTokenUserCacheOtherProcess: a change made through another store of
// the database takes effect within UserCacheTTL; and a request
// presenting a key change made elsewhere is never answered with the
// cached, replaced record.
func TestTokenUserCacheOtherProcess(t *testing.T) {
	ctx := context.Background()
	ct := newUserCacheTest(t)

	// Another token server records a key change of a.
	a := ct.account()
	oldA, _ := ct.cached(t, a)
	b := keyChanged(a)
	u, err := ct.other.Users().GetUser(ctx, db.Service, ct.email(a))
	if err != nil {
		t.Fatal(err)
	}
	nu, err := ct.other.Users().ReplaceUser(ctx, u, b.Generation, b.KeysChangedAt, b.ClientState())
	if err != nil {
		t.Fatal(err)
	}
	ct.FxA.SetAccount(b)
	if !ct.wantUID(t, ct.creds(b), int64(nu.UID)) {
		t.Error("the new key was answered from the cache")
	}

	// An operator retires c, and another server replaces d's record.
	c, d := ct.account(), ct.account()
	oldC, uidC := ct.cached(t, c)
	oldD, uidD := ct.cached(t, d)
	if err := ct.other.RetireUser(ctx, db.UID(uidC)); err != nil {
		t.Fatal(err)
	}
	ud, err := ct.other.Users().GetUser(ctx, db.Service, ct.email(d))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.other.Users().ReplaceUser(ctx, ud, d.Generation+1000, d.KeysChangedAt+1000, strings.Repeat("0", 32)); err != nil {
		t.Fatal(err)
	}
	// Within the bound, this server may still answer from what it
	// read (it does, here: nothing expired yet) ...
	ct.Clock.Advance(UserCacheTTL - time.Second)
	if ct.wantUID(t, oldC, uidC) || ct.wantUID(t, oldD, uidD) {
		t.Fatal("read the database within UserCacheTTL: the test does not exercise the cache")
	}
	// ... and past it, never.
	ct.Clock.Advance(time.Second)
	ct.wantRefused(t, oldC)
	ct.wantRefused(t, oldD)
	ct.wantRefused(t, oldA)
}

// TestUserCacheReadOverlappingWrite: a record read while this process
// wrote a user record is not kept: it may predate the write.
func TestUserCacheReadOverlappingWrite(t *testing.T) {
	c := newUserCache(0)
	now := time.Unix(1e9, 0)
	u := db.User{UID: 1, ClientState: "aa"}
	epoch := c.begin()
	c.invalidate("other@example.com")
	c.put("x@example.com", u, epoch, now, now)
	if _, ok := c.get("x@example.com", now); ok {
		t.Fatal("kept a record read before a write")
	}
	c.put("x@example.com", u, c.begin(), now, now)
	if got, ok := c.get("x@example.com", now); !ok || got.UID != 1 {
		t.Fatal("did not keep a record read after the last write")
	}
	c.invalidate("x@example.com")
	if _, ok := c.get("x@example.com", now); ok {
		t.Fatal("invalidate kept the record")
	}
	// A read that started UserCacheTTL ago is too old to keep.
	c.put("x@example.com", u, c.begin(), now.Add(-UserCacheTTL), now)
	if _, ok := c.get("x@example.com", now); ok {
		t.Fatal("kept a record read UserCacheTTL ago")
	}
}

// TestUserCacheBytes: the cache stays within its bound and its count of
// bytes matches its entries.
func TestUserCacheBytes(t *testing.T) {
	const bound = 8 << 10
	c := newUserCache(bound)
	now := time.Unix(1e9, 0)
	for i := range 1000 {
		email := fmt.Sprintf("%032x@api.accounts.firefox.com", i)
		u := db.User{UID: db.UID(i), Email: email, ClientState: strings.Repeat("a", 32), Node: "https://example.com",
			OldClientStates: []string{strings.Repeat("b", 32)}}
		c.put(email, u, c.begin(), now, now)
		if c.bytes > bound {
			t.Fatalf("after %d entries: %d bytes, bound %d", i+1, c.bytes, bound)
		}
	}
	var sum int64
	for email, e := range c.m {
		sum += userSize(email, e.u)
	}
	if sum != c.bytes || len(c.m) == 0 {
		t.Fatalf("%d entries of %d bytes, counted %d", len(c.m), sum, c.bytes)
	}
}

// TestReadOnlyToken: the requests answered from a cached record are
// exactly those presenting its state unchanged.
func TestReadOnlyToken(t *testing.T) {
	u := db.User{UID: 7, Generation: 100, KeysChangedAt: 90, ClientState: "aa", Node: "https://n"}
	st := &tokenState{}
	multi := &tokenState{opts: TokenOptions{MultiNode: true}}
	retired := u
	retired.Generation = db.RetiredGeneration
	replaced := u
	replaced.ReplacedAt = 5
	for _, tc := range []struct {
		name string
		st   *tokenState
		u    db.User
		gen  int64
		kca  int64
		cs   string
		want bool
	}{
		{"same state", st, u, 100, 90, "aa", true},
		{"no generation", st, u, 0, 90, "aa", true},
		{"newer generation", st, u, 101, 90, "aa", false},
		{"older generation", st, u, 99, 90, "aa", false},
		{"newer kca", st, u, 100, 95, "aa", false},
		{"older kca", st, u, 100, 80, "aa", false},
		{"no kca", st, u, 100, 0, "aa", false},
		{"other client state", st, u, 100, 90, "bb", false},
		{"no client state", st, u, 100, 90, "", false},
		{"retired", st, retired, db.RetiredGeneration, 90, "aa", false},
		{"replaced, one node", st, replaced, 100, 90, "aa", true},
		{"replaced, multi-node", multi, replaced, 100, 90, "aa", false},
		{"no node, multi-node", multi, db.User{UID: 7, Generation: 100, KeysChangedAt: 90, ClientState: "aa"}, 100, 90, "aa", false},
		{"multi-node", multi, u, 100, 90, "aa", true},
	} {
		if got := tc.st.readOnlyToken(tc.u, tc.gen, tc.kca, tc.cs); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTokenOneRoundTrip: with the record cache off, a token for an
// existing, unchanged user costs exactly one round trip to a database
// server (one statement, no transaction, no connection opened).
func TestTokenOneRoundTrip(t *testing.T) {
	backend := testdb.Backend(t)
	if backend == "sqlite" {
		t.Skip("sqlite has no round trips; SYNCSERVER_TEST_BACKEND=mysql or postgres runs this test")
	}
	proxy, uri := testdb.NewProxy(t, testdb.NewURI(t, backend), true)
	store := testdb.OpenURI(t, uri, testdb.Options{})
	tt := newTokenTest(t, nil, func(o *Options) {
		o.Store = store
		o.Token.UserCacheBytes = -1
	})
	a := tt.account()
	for range 3 { // the newcomer, then the statement prepared where it is
		wantToken(t, tt.firefox(a))
	}
	before := proxy.Sends()
	wantToken(t, tt.firefox(a))
	if n := proxy.Sends() - before; n != 1 {
		t.Errorf("%d round trips to the database for one token, want 1", n)
	}
}
