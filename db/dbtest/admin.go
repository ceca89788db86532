package dbtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"syncserver/db"
)

// The operator's side: purge, db.Admin and per-account quotas.

func (e *env) admin() db.Admin {
	e.t.Helper()
	a, ok := e.s.(db.Admin)
	if !ok {
		e.t.Fatalf("%T does not implement db.Admin", e.s)
	}
	return a
}

func (e *env) purger() db.Purger {
	e.t.Helper()
	p, ok := e.s.(db.Purger)
	if !ok {
		e.t.Fatalf("%T does not implement db.Purger", e.s)
	}
	return p
}

func (e *env) purge(o db.PurgeOptions) db.PurgeResult {
	e.t.Helper()
	res, err := e.purger().Purge(e.ctx, o)
	if err != nil {
		e.t.Fatalf("Purge(%+v): %v", o, err)
	}
	return res
}

// counts is what a purge did, without the uids.
func counts(r db.PurgeResult) [4]int64 {
	return [4]int64{r.ExpiredRecords, r.Batches, r.BatchItems, r.ReplacedRecords}
}

// keep is a grace that keeps replaced users' storage out of a test.
const keep = -1

func testPurgeExpired(t *testing.T, e *env) {
	// 25 records sharing one expiry (as a batch commit leaves them),
	// one expiring later, one never.
	var ups []db.BSOUpdate
	for i := range 25 {
		ups = append(ups, db.BSOUpdate{ID: fmt.Sprint(i), Payload: Str("x"), TTL: Int(60)})
	}
	var oldBatch int64
	e.update(1, func(tx db.Tx) error {
		if err := tx.PostBSOs("history", ups); err != nil {
			return err
		}
		var err error
		if oldBatch, err = tx.CreateBatch("history"); err != nil {
			return err
		}
		return tx.AppendBatch("history", oldBatch, []db.BSOUpdate{Rec("a", "x"), Rec("b", "y")})
	})
	e.clock.Advance(time.Minute)
	e.put(1, "history", db.BSOUpdate{ID: "later", Payload: Str("x"), TTL: Int(3600)}, Rec("never", "x"))
	before, beforeColls, err := e.s.CollectionTimestamps(e.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(3 * time.Hour)
	var newBatch int64
	e.update(2, func(tx db.Tx) error {
		var err error
		newBatch, err = tx.CreateBatch("tabs")
		return err
	})

	// A grace of a day keeps everything.
	if got := e.purge(db.PurgeOptions{Grace: 24 * time.Hour, ReplacedGrace: keep}); counts(got) != [4]int64{} {
		t.Errorf("Purge(grace 1 day) = %+v, want nothing", got)
	}
	// A dry run counts what a purge deletes, and deletes nothing.
	want := [4]int64{26, 1, 2, 0}
	dry := e.purge(db.PurgeOptions{ReplacedGrace: keep, DryRun: true})
	if counts(dry) != want {
		t.Errorf("dry run = %+v, want %v", dry, want)
	}
	// Chunks of 7 rows: several transactions, each reported.
	progress := map[string]int64{}
	calls := 0
	res := e.purge(db.PurgeOptions{ReplacedGrace: keep, Chunk: 7, Pause: -1, Progress: func(p db.PurgeProgress) {
		calls++
		progress[p.Kind] += p.Rows
		if p.Rows > 7 {
			t.Errorf("a transaction deleted %d rows, more than its chunk", p.Rows)
		}
	}})
	if counts(res) != want {
		t.Errorf("Purge = %+v, want %v", res, want)
	}
	if progress[db.PurgeExpiredRecords] != 26 || progress[db.PurgeBatches] != 1 || progress[db.PurgeBatchItems] != 2 || calls < 4 {
		t.Errorf("progress %v in %d calls", progress, calls)
	}
	if got := e.ids(1, "history", db.Query{}); !equalStrings(got, []string{"never"}) {
		t.Errorf("left %v, want [never]", got)
	}
	// The open batch stays.
	e.view(2, func(tx db.Tx) error {
		_, err := tx.GetBatch("tabs", newBatch)
		return err
	})
	// Purging changes nothing a client sees.
	after, afterColls, err := e.s.CollectionTimestamps(e.ctx, 1)
	if err != nil || after != before || len(afterColls) != len(beforeColls) {
		t.Errorf("purge changed timestamps: %v %v → %v %v (%v)", before, beforeColls, after, afterColls, err)
	}
	if got := e.purge(db.PurgeOptions{ReplacedGrace: keep}); counts(got) != [4]int64{} {
		t.Errorf("second purge = %+v, want nothing", got)
	}
}

func testPurgeReplaced(t *testing.T, e *env) {
	u1 := e.allocate(testEmail, 10, 10, "aaaa")
	e.put(u1.UID, "bookmarks", Rec("old1", "x"), Rec("old2", "y"))
	e.clock.Advance(time.Minute)
	u2, err := e.users().ReplaceUser(e.ctx, e.getUser(testEmail), 20, 20, "bbbb")
	if err != nil {
		t.Fatal(err)
	}
	e.put(u2.UID, "bookmarks", Rec("new", "z"))
	other := e.allocate("other@example.com", 10, 10, "cccc")
	e.put(other.UID, "tabs", Rec("t", "x"))

	o := db.PurgeOptions{Grace: 0, ReplacedGrace: 7 * 24 * time.Hour, Pause: -1}
	e.clock.Advance(24 * time.Hour)
	if got := e.purge(o); got.ReplacedRecords != 0 || len(got.ReplacedUIDs) != 0 {
		t.Errorf("purge within the grace = %+v", got)
	}
	e.clock.Advance(7 * 24 * time.Hour)
	dry := e.purge(db.PurgeOptions{ReplacedGrace: o.ReplacedGrace, DryRun: true})
	got := e.purge(o)
	if !slices.Equal(got.ReplacedUIDs, []db.UID{u1.UID}) || got.ReplacedRecords != 2 {
		t.Errorf("purge = %+v, want uid %d's 2 records", got, u1.UID)
	}
	if !slices.Equal(dry.ReplacedUIDs, got.ReplacedUIDs) || dry.ReplacedRecords != got.ReplacedRecords {
		t.Errorf("dry run %+v, purge %+v", dry, got)
	}
	if ts, colls, err := e.s.CollectionTimestamps(e.ctx, u1.UID); err != nil || ts != 0 || len(colls) != 0 {
		t.Errorf("replaced uid after purge: %v %v %v", ts, colls, err)
	}
	if got := e.ids(u2.UID, "bookmarks", db.Query{}); !equalStrings(got, []string{"new"}) {
		t.Errorf("current uid's records: %v", got)
	}
	// The replaced record stays: its client state is still refused.
	if u := e.getUser(testEmail); u.UID != u2.UID || !slices.Contains(u.OldClientStates, "aaaa") {
		t.Errorf("user after purge: %+v", u)
	}
	if got := e.purge(o); len(got.ReplacedUIDs) != 0 {
		t.Errorf("second purge = %+v", got)
	}

	// A retired account goes too, its current record included.
	if err := e.admin().RetireUser(e.ctx, other.UID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(8 * 24 * time.Hour)
	if got := e.purge(o); !slices.Equal(got.ReplacedUIDs, []db.UID{other.UID}) || got.ReplacedRecords != 1 {
		t.Errorf("purge of the retired account = %+v", got)
	}
	if got := e.ids(u2.UID, "bookmarks", db.Query{}); !equalStrings(got, []string{"new"}) {
		t.Errorf("current uid's records after the retired purge: %v", got)
	}
}

func testClaimPurge(t *testing.T, e *env) {
	p := e.purger()
	claim := func() bool {
		t.Helper()
		ok, err := p.ClaimPurge(e.ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim() {
		t.Fatal("first claim refused")
	}
	if claim() {
		t.Fatal("second claim within the period granted")
	}
	e.clock.Advance(59 * time.Minute)
	if claim() {
		t.Fatal("claim after 59 minutes granted")
	}
	e.clock.Advance(time.Minute)
	if !claim() {
		t.Fatal("claim after the period refused")
	}
	e.clock.Advance(-24 * time.Hour) // the clock stepped back
	if !claim() {
		t.Fatal("claim after the clock stepped back refused")
	}
}

func testAdminUsers(t *testing.T, e *env) {
	a := e.admin()
	u1 := e.allocate(testEmail, 10, 10, "aaaa")
	e.put(u1.UID, "bookmarks", Rec("b1", "12345"))
	e.clock.Advance(time.Minute)
	u2, err := e.users().ReplaceUser(e.ctx, e.getUser(testEmail), 20, 20, "bbbb")
	if err != nil {
		t.Fatal(err)
	}
	e.put(u2.UID, "bookmarks", Rec("b2", "123"), db.BSOUpdate{ID: "gone", Payload: Str("1"), TTL: Int(1)})
	last := e.put(u2.UID, "tabs", Rec("t", "1"))
	other := e.allocate("fedcba@example.com", 1, 1, "cccc")
	e.clock.Advance(2 * time.Second)

	for _, who := range []string{fmt.Sprint(u1.UID), fmt.Sprint(u2.UID), testEmail, "0123456789ABCDEF", " " + testEmail + " "} {
		if got, err := a.ResolveUser(e.ctx, who); err != nil || got != u2.UID {
			t.Errorf("ResolveUser(%q) = %d, %v; want %d", who, got, err, u2.UID)
		}
	}
	for _, who := range []string{"", "999", "nobody@example.com", "0123"} {
		if _, err := a.ResolveUser(e.ctx, who); !errIs(err, db.ErrNotFound) {
			t.Errorf("ResolveUser(%q) error %v, want not found", who, err)
		}
	}
	e.allocate("0123456789abcdef@other.example", 1, 1, "dddd")
	if _, err := a.ResolveUser(e.ctx, "0123456789abcdef"); !errIs(err, db.ErrAmbiguous) {
		t.Errorf("ResolveUser of an FxA uid under two issuers: %v, want ambiguous", err)
	}

	list, err := a.ListUsers(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("ListUsers = %+v, want 3 accounts", list)
	}
	var cur db.UserInfo
	for _, u := range list {
		if u.Email == testEmail {
			cur = u
		}
	}
	if cur.UID != u2.UID || cur.Status != db.UserActive || cur.ClientState != "bbbb" || cur.Records != 2 || cur.Bytes != 4 ||
		cur.LastActive != last || cur.Node != testNode {
		t.Errorf("ListUsers entry %+v; want uid %d, 2 live records of 4 bytes, last active %d", cur, u2.UID, last)
	}
	all, err := a.ListUsers(e.ctx, true)
	if err != nil || len(all) != 4 {
		t.Fatalf("ListUsers(all) = %+v, %v", all, err)
	}

	acct, err := a.UserInfo(e.ctx, u1.UID)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Email != testEmail || len(acct.Records) != 2 || acct.Records[0].UID != u2.UID ||
		acct.Records[1].Status != db.UserReplaced || acct.Records[1].Records != 1 || acct.Quota != nil {
		t.Errorf("UserInfo = %+v", acct)
	}
	if len(acct.Collections) != 2 || acct.Collections[0].Name != "bookmarks" || acct.Collections[0].Records != 1 ||
		acct.Collections[1].Name != "tabs" {
		t.Errorf("UserInfo collections = %+v", acct.Collections)
	}
	if _, err := a.UserInfo(e.ctx, 999); !errIs(err, db.ErrNotFound) {
		t.Errorf("UserInfo(999): %v", err)
	}

	// Deleting the data empties every uid of the account; the account
	// keeps its uid and its storage timestamp moves forward.
	before := e.storageTimestamp(u2.UID)
	e.clock.Advance(time.Second)
	res, err := a.DeleteUserData(e.ctx, u2.UID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.UIDs, []db.UID{u2.UID, u1.UID}) || res.Records != 4 {
		t.Errorf("DeleteUserData = %+v, want uids %d, %d and 4 records", res, u2.UID, u1.UID)
	}
	ts, colls, err := e.s.CollectionTimestamps(e.ctx, u2.UID)
	if err != nil || len(colls) != 0 || ts <= before {
		t.Errorf("after DeleteUserData: %v %v %v; want no collections and a timestamp after %v", ts, colls, err, before)
	}
	if u := e.getUser(testEmail); u.UID != u2.UID {
		t.Errorf("after DeleteUserData the account has uid %d, want %d", u.UID, u2.UID)
	}
	if _, err := a.DeleteUserData(e.ctx, 999); !errIs(err, db.ErrNotFound) {
		t.Errorf("DeleteUserData(999): %v", err)
	}

	// Retiring: every record replaced, generation out of reach.
	n, _ := e.s.Users().CountUsers(e.ctx, db.Service)
	if err := a.RetireUser(e.ctx, other.UID); err != nil {
		t.Fatal(err)
	}
	if u := e.getUser("fedcba@example.com"); u.Generation != db.RetiredGeneration || u.ReplacedAt == 0 {
		t.Errorf("retired user %+v", u)
	}
	if m, _ := e.s.Users().CountUsers(e.ctx, db.Service); m != n-1 {
		t.Errorf("CountUsers after retiring = %d, want %d", m, n-1)
	}
	acct, err = a.UserInfo(e.ctx, other.UID)
	if err != nil || acct.Records[0].Status != db.UserRetired {
		t.Errorf("UserInfo of a retired account: %+v, %v", acct, err)
	}
	if err := a.RetireUser(e.ctx, 999); !errIs(err, db.ErrNotFound) {
		t.Errorf("RetireUser(999): %v", err)
	}

	st, err := a.Stats(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Users != 2 || st.Records != 0 {
		t.Errorf("Stats = %+v, want 2 users, no records", st)
	}
	if v, err := a.SchemaVersion(e.ctx); err != nil || v < 6 {
		t.Errorf("SchemaVersion = %d, %v; want at least 6 (user_quotas)", v, err)
	}
}

func testUserQuota(t *testing.T, e *env) {
	a := e.admin()
	u1 := e.allocate(testEmail, 10, 10, "aaaa")
	quota := func(uid db.UID) (int64, bool) {
		t.Helper()
		var n int64
		var ok bool
		e.view(uid, func(tx db.Tx) error {
			qt, isQ := tx.(db.QuotaTx)
			if !isQ {
				t.Fatalf("%T does not implement db.QuotaTx", tx)
			}
			var err error
			n, ok, err = qt.UserQuota()
			return err
		})
		return n, ok
	}
	if _, ok := quota(u1.UID); ok {
		t.Error("a quota before any was set")
	}
	if err := a.SetUserQuota(e.ctx, u1.UID, 5000); err != nil {
		t.Fatal(err)
	}
	if n, ok := quota(u1.UID); !ok || n != 5000 {
		t.Errorf("quota = %d, %v; want 5000", n, ok)
	}
	// Kept by account: a key change keeps it.
	u2, err := e.users().ReplaceUser(e.ctx, e.getUser(testEmail), 20, 20, "bbbb")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := quota(u2.UID); !ok || n != 5000 {
		t.Errorf("quota after a key change = %d, %v; want 5000", n, ok)
	}
	if err := a.SetUserQuota(e.ctx, u2.UID, 0); err != nil {
		t.Fatal(err)
	}
	if n, ok := quota(u2.UID); !ok || n != 0 {
		t.Errorf("unlimited quota = %d, %v; want 0, true", n, ok)
	}
	acct, err := a.UserInfo(e.ctx, u2.UID)
	if err != nil || acct.Quota == nil || *acct.Quota != 0 {
		t.Errorf("UserInfo quota = %v, %v", acct.Quota, err)
	}
	if err := a.ClearUserQuota(e.ctx, u1.UID); err != nil {
		t.Fatal(err)
	}
	if _, ok := quota(u2.UID); ok {
		t.Error("a quota after clearing it")
	}
	if err := a.SetUserQuota(e.ctx, 999, 1); !errIs(err, db.ErrNotFound) {
		t.Errorf("SetUserQuota(999): %v", err)
	}
	// A uid without a users row (a storage-only test) has none.
	if _, ok := quota(12345); ok {
		t.Error("a quota for a uid without a users row")
	}
}

func testAdminNodes(t *testing.T, e *env) {
	a := e.admin()
	u := e.allocate(testEmail, 1, 1, "aaaa")
	nodes, err := a.Nodes(e.ctx, db.Service)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].URL != testNode || nodes[0].Users != 1 || nodes[0].Capacity != 100 {
		t.Fatalf("Nodes = %+v", nodes)
	}
	const second = "https://sync2.example.com"
	if err := a.AddNode(e.ctx, db.Service, second+"/", 50); err != nil {
		t.Fatal(err)
	}
	if err := a.AddNode(e.ctx, db.Service, second, 50); !errIs(err, db.ErrExists) {
		t.Errorf("adding a node twice: %v", err)
	}
	if err := a.SetNodeCapacity(e.ctx, db.Service, second, 70); err != nil {
		t.Fatal(err)
	}
	nodes, _ = a.Nodes(e.ctx, db.Service)
	if len(nodes) != 2 || nodes[1].URL != second || nodes[1].Capacity != 70 || nodes[1].Available != 70 || nodes[1].Users != 0 {
		t.Errorf("Nodes = %+v", nodes)
	}
	if err := a.RemoveNode(e.ctx, db.Service, testNode); !errIs(err, db.ErrInUse) {
		t.Errorf("removing a node with users: %v", err)
	}
	if err := a.RemoveNode(e.ctx, db.Service, second); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		a.RemoveNode(e.ctx, db.Service, second),
		a.SetNodeCapacity(e.ctx, db.Service, second, 1),
	} {
		if !errIs(err, db.ErrNotFound) {
			t.Errorf("a removed node: %v, want not found", err)
		}
	}
	// A retired user no longer holds its node.
	if err := a.RetireUser(e.ctx, u.UID); err != nil {
		t.Fatal(err)
	}
	nodes, _ = a.Nodes(e.ctx, db.Service)
	if len(nodes) != 1 || nodes[0].Users != 0 {
		t.Errorf("Nodes after retiring = %+v", nodes)
	}
}

func errIs(err, target error) bool { return errors.Is(err, target) }

func testCompact(t *testing.T, e *env) {
	e.put(1, "history", db.BSOUpdate{ID: "a", Payload: Str("x"), TTL: Int(1)}, Rec("b", "y"))
	e.clock.Advance(time.Hour)
	if got := e.purge(db.PurgeOptions{ReplacedGrace: keep}); got.ExpiredRecords != 1 {
		t.Fatalf("purge = %+v", got)
	}
	var steps []string
	if err := e.purger().Compact(e.ctx, func(s string) { steps = append(steps, s) }); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if len(steps) == 0 {
		t.Error("Compact reported no step")
	}
	st, err := e.admin().Stats(e.ctx)
	if err != nil || st.Records != 1 || st.ExpiredRecords != 0 || st.DatabaseBytes == 0 {
		t.Errorf("Stats after Compact = %+v, %v", st, err)
	}
	if got := e.ids(1, "history", db.Query{}); !equalStrings(got, []string{"b"}) {
		t.Errorf("records after Compact: %v", got)
	}
}

// nodeStater is implemented by stores that can set a node's available,
// downed and backoff (sqldb.Store).
type nodeStater interface {
	SetNodeState(ctx context.Context, service, url string, n db.Node) error
}

// testNodeAssignment: AllocateUser with db.AnyNode picks the node with the
// lowest current_load/capacity among those accepting newcomers, skips a
// downed node, releases capacity when all are full, and fails with
// ErrUnavailable when nothing can be released.
func testNodeAssignment(t *testing.T, e *env) {
	a := e.admin()
	// Every store sets node states (the nodes command does): one that
	// cannot fails here rather than skipping the assignment rules.
	stater, ok := e.s.(nodeStater)
	if !ok {
		t.Fatalf("%T cannot set node states (SetNodeState)", e.s)
	}
	users := e.users() // testNode, capacity 100
	alloc := func(i int) (db.User, error) {
		return users.AllocateUser(e.ctx, db.Service, fmt.Sprintf("user%d@api.accounts.firefox.com", i), 1, 0, "aaaa", db.AnyNode)
	}
	node := func(url string) db.Node {
		t.Helper()
		nodes, err := a.Nodes(e.ctx, db.Service)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.URL == url {
				return n
			}
		}
		t.Fatalf("no node %s in %+v", url, nodes)
		return db.Node{}
	}
	// A single node takes everyone, whatever its load.
	if err := a.SetNodeCapacity(e.ctx, db.Service, testNode, 0); err != nil {
		t.Fatal(err)
	}
	u, err := alloc(0)
	if err != nil || u.Node != testNode {
		t.Fatalf("single node: %+v, %v", u, err)
	}
	if got := e.getUser(u.Email); got.Node != testNode || got.UID != u.UID {
		t.Errorf("GetUser = %+v", got)
	}
	const (
		nodeA = "https://a.example.com" // capacity 4
		nodeB = "https://b.example.com" // capacity 2
		nodeC = "https://c.example.com" // capacity 10, downed
	)
	for _, n := range []struct {
		url string
		cap int64
	}{{nodeA, 4}, {nodeB, 2}, {nodeC, 10}} {
		if err := a.AddNode(e.ctx, db.Service, n.url, n.cap); err != nil {
			t.Fatal(err)
		}
	}
	if err := stater.SetNodeState(e.ctx, db.Service, nodeC, db.Node{Available: 10, Downed: true}); err != nil {
		t.Fatal(err)
	}
	// testNode is full (capacity 0). AddNode makes ceil(capacity/10)
	// available, 1 on A and B, as Mozilla's add_node. A 0/4 = B 0/2 → A
	// (lower id); A has none available → B; none available anywhere:
	// release 1 on A and B, A 1/4 < B 1/2 → A; B (the only one
	// available) → B, now full; release 1 on A → A; again → A; then all
	// are full.
	want := []string{nodeA, nodeB, nodeA, nodeB, nodeA, nodeA}
	for i, w := range want {
		u, err := alloc(i + 1)
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		if u.Node != w {
			t.Errorf("allocation %d on %s, want %s", i+1, u.Node, w)
		}
		if got := e.getUser(u.Email); got.Node != w {
			t.Errorf("allocation %d: GetUser node %s, want %s", i+1, got.Node, w)
		}
	}
	if n := node(nodeA); n.CurrentLoad != 4 || n.Available != 0 || n.Users != 4 {
		t.Errorf("node A = %+v", n)
	}
	// Everyone is at capacity; the downed node has room but gets nobody.
	if _, err := alloc(100); !errIs(err, db.ErrUnavailable) {
		t.Errorf("all nodes full: %v, want unavailable", err)
	}
	// B grows to 30 but nothing is available (as with Mozilla's tools):
	// capacity is released, min(ceil(30/10), 30-2) = 3, and B is chosen.
	// The downed node gets no release.
	if err := a.SetNodeCapacity(e.ctx, db.Service, nodeB, 30); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{nodeB, nodeC} {
		if err := stater.SetNodeState(e.ctx, db.Service, url, db.Node{Downed: url == nodeC}); err != nil {
			t.Fatal(err)
		}
	}
	u, err = alloc(101)
	if err != nil || u.Node != nodeB {
		t.Errorf("after the release: %+v, %v", u, err)
	}
	if n := node(nodeB); n.Available != 2 || n.CurrentLoad != 3 {
		t.Errorf("node B after the release = %+v", n)
	}
	if n := node(nodeC); n.Available != 0 || n.CurrentLoad != 0 || n.Users != 0 {
		t.Errorf("downed node C = %+v", n)
	}
	// Released capacity is capped by the spare room: B 29/30 → 1.
	if err := a.SetNodeCapacity(e.ctx, db.Service, nodeB, 4); err != nil {
		t.Fatal(err)
	}
	if err := stater.SetNodeState(e.ctx, db.Service, nodeB, db.Node{}); err != nil {
		t.Fatal(err)
	}
	if u, err = alloc(102); err != nil || u.Node != nodeB {
		t.Errorf("release capped by spare room: %+v, %v", u, err)
	}
	if n := node(nodeB); n.Available != 0 || n.CurrentLoad != 4 {
		t.Errorf("node B = %+v", n)
	}
	if _, err := alloc(103); !errIs(err, db.ErrUnavailable) {
		t.Errorf("all nodes full again: %v, want unavailable", err)
	}
	// A key change keeps the node.
	first := e.getUser("user1@api.accounts.firefox.com")
	nu, err := users.ReplaceUser(e.ctx, first, 2, 0, "bbbb")
	if err != nil || nu.Node != first.Node || e.getUser(first.Email).Node != first.Node {
		t.Errorf("ReplaceUser: %+v, %v; node was %s", nu, err, first.Node)
	}
	// A fixed node is used as before, whatever the loads.
	if u, err := users.AllocateUser(e.ctx, db.Service, "fixed@api.accounts.firefox.com", 1, 0, "aaaa", testNode); err != nil || u.Node != testNode {
		t.Errorf("AllocateUser on testNode: %+v, %v", u, err)
	}
}
