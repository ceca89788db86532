package dbtest

import (
	"fmt"
	"testing"

	"syncserver/db"
)

// testNodeLifecycle: a drained (downed) node gets no newcomers and keeps
// its accounts; a key change on it moves to a live node; unassigning a
// node replaces its accounts' records, and ReassignUser gives each a new
// record on a live node, once; a node backing off gets no newcomers and
// reports its seconds; with nowhere to go, ErrUnavailable.
func testNodeLifecycle(t *testing.T, e *env) {
	a := e.admin()
	users := e.users()
	const nodeA, nodeB = "https://a.example.com", "https://b.example.com"
	if err := a.SetNodeCapacity(e.ctx, db.Service, testNode, 0); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{nodeA, nodeB} {
		if err := a.AddNode(e.ctx, db.Service, n, 10); err != nil {
			t.Fatal(err)
		}
	}
	alloc := func(i int) (db.User, error) {
		return users.AllocateUser(e.ctx, db.Service, fmt.Sprintf("life%d@api.accounts.firefox.com", i), 10, 0, "aaaa", db.AnyNode)
	}
	mustAlloc := func(i int, want string) db.User {
		t.Helper()
		u, err := alloc(i)
		if err != nil || u.Node != want {
			t.Fatalf("allocation %d: %+v, %v; want node %s", i, u, err, want)
		}
		return u
	}
	u1 := mustAlloc(1, nodeA)
	u2 := mustAlloc(2, nodeB)

	// Drain A: newcomers go to B, A's accounts stay.
	if err := a.SetNodeDowned(e.ctx, db.Service, nodeA, true); err != nil {
		t.Fatal(err)
	}
	u3 := mustAlloc(3, nodeB)
	mustAlloc(4, nodeB)
	if got := e.getUser(u1.Email); got.UID != u1.UID || got.Node != nodeA || !got.NodeDowned || got.ReplacedAt != 0 {
		t.Errorf("account on the drained node: %+v", got)
	}
	// A key change there starts an empty storage anyway: on a live node.
	nu, err := users.ReplaceUser(e.ctx, e.getUser(u1.Email), 20, 0, "bbbb")
	if err != nil || nu.Node != nodeB || nu.UID == u1.UID {
		t.Errorf("key change on a drained node: %+v, %v", nu, err)
	}

	// Down B: its five accounts are unassigned, A (undrained) takes them.
	if err := a.SetNodeDowned(e.ctx, db.Service, nodeA, false); err != nil {
		t.Fatal(err)
	}
	if err := a.SetNodeDowned(e.ctx, db.Service, nodeB, true); err != nil {
		t.Fatal(err)
	}
	n, err := a.UnassignNode(e.ctx, db.Service, nodeB)
	if err != nil || n != 4 {
		t.Fatalf("UnassignNode = %d, %v; want 4 (u2, u3, u4 and u1's new record)", n, err)
	}
	old := e.getUser(u2.Email)
	if old.UID != u2.UID || old.ReplacedAt == 0 {
		t.Fatalf("unassigned account: %+v", old)
	}
	moved, err := users.ReassignUser(e.ctx, old)
	if err != nil || moved.Node != nodeA || moved.UID == u2.UID || moved.ReplacedAt != 0 ||
		moved.Generation != u2.Generation || moved.ClientState != u2.ClientState {
		t.Fatalf("ReassignUser = %+v, %v", moved, err)
	}
	if got := e.getUser(u2.Email); got.UID != moved.UID || got.Node != nodeA {
		t.Errorf("after ReassignUser, GetUser = %+v", got)
	}
	// A second request that read the old record gets the same new one.
	if again, err := users.ReassignUser(e.ctx, old); err != nil || again.UID != moved.UID {
		t.Errorf("ReassignUser again = %+v, %v; want uid %d", again, err, moved.UID)
	}
	// A key change keeps the old client states refused after a move.
	if got := e.getUser(u1.Email); len(got.OldClientStates) != 1 || got.OldClientStates[0] != "aaaa" {
		t.Errorf("old client states of the key-changed account: %+v", got)
	}
	nodes, err := a.Nodes(e.ctx, db.Service)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if nd.URL == nodeB && (nd.Users != 0 || !nd.Downed) {
			t.Errorf("downed node B = %+v", nd)
		}
	}

	// Backoff: reported in seconds, and no newcomers while it lasts.
	if err := a.SetNodeBackoff(e.ctx, db.Service, nodeA, 30); err != nil {
		t.Fatal(err)
	}
	if got, err := users.NodeStatus(e.ctx, db.Service, nodeA+"/"); err != nil || got.Backoff != 30 || got.Downed {
		t.Errorf("NodeStatus(A) = %+v, %v; want backoff 30", got, err)
	}
	if got, err := users.NodeStatus(e.ctx, db.Service, nodeB); err != nil || got.Backoff != 0 || !got.Downed {
		t.Errorf("NodeStatus(B) = %+v, %v; want downed", got, err)
	}
	if got, err := users.NodeStatus(e.ctx, db.Service, "https://unknown.example.com"); err != nil || got != (db.Node{}) {
		t.Errorf("NodeStatus(unknown) = %+v, %v; want none", got, err)
	}
	// Replaced: u2's first uid (unassigned), not its new one nor an
	// unknown uid.
	for uid, want := range map[db.UID]bool{u2.UID: true, moved.UID: false, 1 << 40: false} {
		if got, err := users.Replaced(e.ctx, uid); err != nil || got != want {
			t.Errorf("Replaced(%d) = %v, %v; want %v", uid, got, err, want)
		}
	}
	// A backs off, B is down, testNode has no capacity: nowhere to go.
	if _, err := alloc(5); !errIs(err, db.ErrUnavailable) {
		t.Errorf("newcomer with every node backing off or down: %v, want unavailable", err)
	}
	if _, err := users.ReassignUser(e.ctx, e.getUser(u3.Email)); !errIs(err, db.ErrUnavailable) {
		t.Errorf("reassignment with nowhere to go: %v, want unavailable", err)
	}
	if err := a.SetNodeBackoff(e.ctx, db.Service, nodeA, 0); err != nil {
		t.Fatal(err)
	}
	mustAlloc(5, nodeA)

	for name, err := range map[string]error{
		"SetNodeDowned":  a.SetNodeDowned(e.ctx, db.Service, "https://unknown.example.com", true),
		"SetNodeBackoff": a.SetNodeBackoff(e.ctx, db.Service, "https://unknown.example.com", 1),
	} {
		if !errIs(err, db.ErrNotFound) {
			t.Errorf("%s of an unknown node: %v, want not found", name, err)
		}
	}
	if _, err := a.UnassignNode(e.ctx, db.Service, "https://unknown.example.com"); !errIs(err, db.ErrNotFound) {
		t.Errorf("UnassignNode of an unknown node: %v, want not found", err)
	}
}

// releaseRater is implemented by stores whose capacity_release_rate can
// be set (sqldb.Store).
type releaseRater interface {
	SetCapacityReleaseRate(rate float64)
}

// testCapacityReleaseRate: a new node starts with capacity * rate
// available (rounded up) and a release makes as much available again.
func testCapacityReleaseRate(t *testing.T, e *env) {
	r, ok := e.s.(releaseRater)
	if !ok {
		t.Fatalf("%T cannot set the capacity release rate", e.s)
	}
	a := e.admin()
	users := e.users()
	if err := a.SetNodeCapacity(e.ctx, db.Service, testNode, 0); err != nil {
		t.Fatal(err)
	}
	r.SetCapacityReleaseRate(0.25)
	const node = "https://a.example.com"
	if err := a.AddNode(e.ctx, db.Service, node, 10); err != nil {
		t.Fatal(err)
	}
	available := func() int64 {
		t.Helper()
		nodes, err := a.Nodes(e.ctx, db.Service)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.URL == node {
				return n.Available
			}
		}
		t.Fatalf("no node %s", node)
		return 0
	}
	if got := available(); got != 3 { // ceil(10 * 0.25)
		t.Errorf("available after AddNode = %d, want 3", got)
	}
	for i := range 4 { // the fourth needs a release: 3 more
		if _, err := users.AllocateUser(e.ctx, db.Service, fmt.Sprintf("rate%d@api.accounts.firefox.com", i), 1, 0, "aaaa", db.AnyNode); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
	}
	if got := available(); got != 2 {
		t.Errorf("available after a release and one allocation = %d, want 2", got)
	}
}
