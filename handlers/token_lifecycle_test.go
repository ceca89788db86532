package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

// newLifecycleTest is a multi-node token server whose own node takes
// nobody, with nodes A and B of capacity 10.
func newLifecycleTest(t *testing.T) (*tokenTest, db.Admin) {
	t.Helper()
	tt := newTokenTest(t, nil, func(o *Options) { o.Token.MultiNode = true })
	nodesSetup(t, tt, 0, nodeCap{testNodeA.String(), 10}, nodeCap{testNodeB.String(), 10})
	return tt, tt.Store.(db.Admin)
}

// TestTokenNodeDown: when a node is downed and its accounts unassigned
// (syncserver nodes down), its accounts get a new uid on a live node at
// their next token request; accounts elsewhere keep theirs.
func TestTokenNodeDown(t *testing.T) {
	tt, admin := newLifecycleTest(t)
	ctx := context.Background()
	a, b := tt.account(), tt.account()
	ta := wantToken(t, tt.firefox(a))
	tb := wantToken(t, tt.firefox(b))
	if !strings.HasPrefix(ta.APIEndpoint, testNodeA.String()) || !strings.HasPrefix(tb.APIEndpoint, testNodeB.String()) {
		t.Fatalf("endpoints %s, %s", ta.APIEndpoint, tb.APIEndpoint)
	}
	// A second request of an existing account, the kind a cache of user
	// records could answer: the move below must still happen at the very
	// next request, not some seconds later.
	if again := wantToken(t, tt.firefox(a)); again.UID != ta.UID {
		t.Fatalf("second request: uid %d, want %d", again.UID, ta.UID)
	}
	if err := admin.SetNodeDowned(ctx, db.Service, testNodeA.String(), true); err != nil {
		t.Fatal(err)
	}
	if n, err := admin.UnassignNode(ctx, db.Service, testNodeA.String()); err != nil || n != 1 {
		t.Fatalf("UnassignNode = %d, %v", n, err)
	}
	moved := wantToken(t, tt.firefox(a))
	if moved.UID == ta.UID || !strings.HasPrefix(moved.APIEndpoint, testNodeB.String()+"/storage/1.5/") {
		t.Errorf("after down: uid %d at %s; want a new uid on node B (was %d)", moved.UID, moved.APIEndpoint, ta.UID)
	}
	// It stays there, and b never moved.
	if again := wantToken(t, tt.firefox(a)); again.UID != moved.UID {
		t.Errorf("second request after the move: uid %d, want %d", again.UID, moved.UID)
	}
	if again := wantToken(t, tt.firefox(b)); again.UID != tb.UID || again.APIEndpoint != tb.APIEndpoint {
		t.Errorf("account on the live node moved: %d %s", again.UID, again.APIEndpoint)
	}
	if hasLine(tt.Logs.String(), "account moved to a live node") != 1 {
		t.Errorf("want one log line of the move:\n%s", tt.Logs)
	}
	// The downed node, now without accounts, can be removed.
	if err := admin.RemoveNode(ctx, db.Service, testNodeA.String()); err != nil {
		t.Fatal(err)
	}
}

// TestTokenNodeRemoved: an account whose node row is gone gets a new
// record on a live node at its next token request.
func TestTokenNodeRemoved(t *testing.T) {
	tt, admin := newLifecycleTest(t)
	ctx := context.Background()
	a := tt.account()
	ta := wantToken(t, tt.firefox(a))
	// Unassign without downing: A may take newcomers again, but the
	// account moves by the rule of a replaced record; then remove A.
	if _, err := admin.UnassignNode(ctx, db.Service, testNodeA.String()); err != nil {
		t.Fatal(err)
	}
	if err := admin.RemoveNode(ctx, db.Service, testNodeA.String()); err != nil {
		t.Fatal(err)
	}
	moved := wantToken(t, tt.firefox(a))
	if moved.UID == ta.UID || !strings.HasPrefix(moved.APIEndpoint, testNodeB.String()+"/") {
		t.Errorf("uid %d at %s; want a new uid on node B", moved.UID, moved.APIEndpoint)
	}
}

// TestTokenDrainAndNoRoom: a drained node takes no newcomers but keeps
// its accounts; with every node drained or backing off, a newcomer gets
// 503 with Retry-After and existing accounts keep their tokens.
func TestTokenDrainAndNoRoom(t *testing.T) {
	tt, admin := newLifecycleTest(t)
	ctx := context.Background()
	a := tt.account()
	ta := wantToken(t, tt.firefox(a)) // on A
	if err := admin.SetNodeDowned(ctx, db.Service, testNodeA.String(), true); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if b := wantToken(t, tt.firefox(tt.account())); !strings.HasPrefix(b.APIEndpoint, testNodeB.String()+"/") {
			t.Errorf("newcomer at %s while A is drained", b.APIEndpoint)
		}
	}
	if again := wantToken(t, tt.firefox(a)); again.UID != ta.UID {
		t.Errorf("account on the drained node: uid %d, want %d", again.UID, ta.UID)
	}
	if err := admin.SetNodeBackoff(ctx, db.Service, testNodeB.String(), 60); err != nil {
		t.Fatal(err)
	}
	wantTokenError(t, tt.firefox(tt.account()), errRowUnavailable)
	if again := wantToken(t, tt.firefox(a)); again.UID != ta.UID {
		t.Errorf("existing account with no room for newcomers: uid %d", again.UID)
	}
	if err := admin.SetNodeDowned(ctx, db.Service, testNodeA.String(), false); err != nil {
		t.Fatal(err)
	}
	if b := wantToken(t, tt.firefox(tt.account())); !strings.HasPrefix(b.APIEndpoint, testNodeA.String()+"/") {
		t.Errorf("newcomer at %s after undrain, want node A", b.APIEndpoint)
	}
}

// TestStorageBackoff: a storage node reads its backoff from the nodes
// table, at most every NodeBackoffTTL, and sends it as X-Backoff on the
// responses to its clients.
func TestStorageBackoff(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	node := testPublicURL.String()
	if err := ts.Store.Users().EnsureNode(ctx, db.Service, node, 100); err != nil {
		t.Fatal(err)
	}
	admin := ts.Store.(db.Admin)
	u := ts.user(1)
	if r := u.mustDo(200, http.MethodGet, "/info/collections", ""); r.Header.Get("X-Backoff") != "" {
		t.Fatalf("X-Backoff %q without a backoff", r.Header.Get("X-Backoff"))
	}
	if err := admin.SetNodeBackoff(ctx, db.Service, node, 120); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the node still uses what it read.
	if r := u.mustDo(200, http.MethodGet, "/info/collections", ""); r.Header.Get("X-Backoff") != "" {
		t.Errorf("X-Backoff %q within the TTL of the last read", r.Header.Get("X-Backoff"))
	}
	ts.Clock.Advance(NodeBackoffTTL + time.Second)
	r := u.mustDo(200, http.MethodGet, "/info/collections", "")
	wantHeader(t, r, "X-Backoff", "120")
	r = u.do(http.MethodPut, "/storage/bookmarks/a", `{"payload":"x"}`)
	wantHeader(t, r, "X-Backoff", "120")
	// Unauthenticated requests are not told (nor cost a read).
	if r := ts.serve(newRequest(http.MethodGet, "/storage/1.5/1/info/collections", "")); r.Status != 401 || r.Header.Get("X-Backoff") != "" {
		t.Errorf("unauthenticated: %d, X-Backoff %q", r.Status, r.Header.Get("X-Backoff"))
	}
	if err := admin.SetNodeBackoff(ctx, db.Service, node, 0); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Advance(NodeBackoffTTL + time.Second)
	if r := u.mustDo(200, http.MethodGet, "/info/collections", ""); r.Header.Get("X-Backoff") != "" {
		t.Errorf("X-Backoff %q after the backoff ended", r.Header.Get("X-Backoff"))
	}
}

// TestStorageMovedOffDownedNode: a downed node turns away (401) the
// clients of the uids syncserver nodes down unassigned, so that Firefox
// asks for its new node at once; other accounts, and every account of a
// node that is only drained, are served.
func TestStorageMovedOffDownedNode(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	node := testPublicURL.String()
	users := ts.Store.Users()
	admin := ts.Store.(db.Admin)
	if err := users.EnsureNode(ctx, db.Service, node, 100); err != nil {
		t.Fatal(err)
	}
	alloc := func(email string) *testUser {
		t.Helper()
		u, err := users.AllocateUser(ctx, db.Service, email, 1, 0, "aaaa", node)
		if err != nil {
			t.Fatal(err)
		}
		return ts.user(u.UID)
	}
	moved, kept := alloc("moved@api.accounts.firefox.com"), alloc("kept@api.accounts.firefox.com")
	moved.mustDo(200, http.MethodGet, "/info/collections", "")
	// Drained: everybody is served.
	if err := admin.SetNodeDowned(ctx, db.Service, node, true); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Advance(NodeBackoffTTL + time.Second)
	moved.mustDo(200, http.MethodGet, "/info/collections", "")
	// Down: the unassigned account is turned away, one allocated after
	// (a fixed node) is not.
	if _, err := admin.UnassignNode(ctx, db.Service, node); err != nil {
		t.Fatal(err)
	}
	late := alloc("late@api.accounts.firefox.com")
	want401(t, moved.do(http.MethodGet, "/info/collections", ""))
	want401(t, kept.do(http.MethodPut, "/storage/bookmarks/a", `{"payload":"x"}`))
	late.mustDo(200, http.MethodGet, "/info/collections", "")
	if !strings.Contains(ts.Logs.String(), "has moved off this downed node") {
		t.Errorf("no log of the refusal:\n%s", ts.Logs)
	}
	// Up again: served (its next token gives it a new uid anyway).
	if err := admin.SetNodeDowned(ctx, db.Service, node, false); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Advance(NodeBackoffTTL + time.Second)
	moved.mustDo(200, http.MethodGet, "/info/collections", "")
}
