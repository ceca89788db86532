package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/internal/testdb"
)

// legacyDDL is the schema the legacy Python server created in PostgreSQL
// (server-syncstorage's SQL backend): SQLAlchemy's tables with SERIAL ids and a
// 32-bit ttl.
const legacyDDL = `
CREATE TABLE collections (collectionid SERIAL NOT NULL, name VARCHAR(32) NOT NULL, PRIMARY KEY (collectionid), UNIQUE (name));
CREATE TABLE user_collections (userid INTEGER NOT NULL, collection INTEGER NOT NULL, last_modified BIGINT NOT NULL, PRIMARY KEY (userid, collection));
CREATE TABLE bso (userid INTEGER NOT NULL, collection INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, modified BIGINT NOT NULL, payload TEXT NOT NULL, payload_size INTEGER DEFAULT 0 NOT NULL, ttl INTEGER DEFAULT 2100000000 NOT NULL, PRIMARY KEY (userid, collection, id));
CREATE INDEX bso_ttl_idx ON bso (ttl);
CREATE INDEX bso_usr_col_mod_idx ON bso (userid, collection, modified);
CREATE TABLE batch_uploads (batch BIGINT NOT NULL, userid INTEGER NOT NULL, collection INTEGER NOT NULL, PRIMARY KEY (batch, userid));
CREATE TABLE batch_upload_items (batch BIGINT NOT NULL, userid INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, payload TEXT, payload_size INTEGER, ttl_offset INTEGER, PRIMARY KEY (batch, userid, id));
CREATE TABLE users (uid SERIAL NOT NULL, service VARCHAR(32) NOT NULL, email VARCHAR(255) NOT NULL, generation BIGINT NOT NULL, client_state VARCHAR(32) NOT NULL, created_at BIGINT NOT NULL, replaced_at BIGINT, keys_changed_at BIGINT, node VARCHAR(255), PRIMARY KEY (uid));
CREATE INDEX lookup_idx ON users (email, service, created_at);
`

// The legacy data: times around 2023-11-14 (1,700,000,000 s).
const (
	emailA     = "aaaa1111@api.accounts.firefox.com"
	emailB     = "bbbb2222@api.accounts.firefox.com"
	legacyBase = int64(1700000000000)
	batchID    = legacyBase + 3000 + 2 // created at base+3 s by uid 2
	farFuture  = int64(2000000000)     // 2033: expires before 2040
	newNode    = "https://sync.example.com"
)

// legacyData is what the Python server wrote: collection ids in first-write
// order, records with absolute ttls including the never sentinel and
// expired ones, a pending batch, and single-node users with a replaced row.
const legacyData = `
INSERT INTO collections VALUES (1, 'bookmarks'), (2, 'meta'), (3, 'xyz'), (99, '');
INSERT INTO user_collections VALUES
	(2, 1, 1700000000000), (2, 2, 1700000001000), (2, 3, 1700000002000),
	(1, 1, 1690000000000), (7, 1, 1600000000000);
INSERT INTO bso VALUES
	(2, 1, 'b1', 5, 1700000000000, 'p1', 2, 2100000000),
	(2, 1, 'b2', NULL, 1699999999000, 'payload-two', 11, 2100000000),
	(2, 1, 'expired', NULL, 1699999998000, 'old', 3, 1600000000),
	(2, 2, 'global', NULL, 1700000001000, '{"syncID":"x"}', 14, 2100000000),
	(2, 3, 'x1', NULL, 1700000002000, 'xyz', 3, 2000000000),
	(1, 1, 'old-key', NULL, 1690000000000, 'replaced user data', 18, 2100000000),
	(7, 1, 'orphan', NULL, 1600000000000, 'no users row', 12, 2100000000);
INSERT INTO batch_uploads VALUES (1700000003002, 2, 1);
INSERT INTO batch_upload_items VALUES (1700000003002, 2, 'b3', NULL, 'staged', 6, 3600);
INSERT INTO users VALUES
	(1, 'sync-1.5', 'aaaa1111@api.accounts.firefox.com', 1600000000000, 'aaaa', 1600000000000, 1650000000000, NULL, 'https://old.example.com'),
	(2, 'sync-1.5', 'aaaa1111@api.accounts.firefox.com', 1650000000000, 'bbbb', 1650000000000, NULL, 0, NULL),
	(5, 'sync-1.5', 'bbbb2222@api.accounts.firefox.com', 1620000000000, '', 1620000000000, NULL, 1610000000000, 'https://old.example.com');
SELECT setval('collections_collectionid_seq', 99);
SELECT setval('users_uid_seq', 5);
`

// legacyDB makes a new database holding what the legacy server left.
func legacyDB(t *testing.T) (uri string, raw *sql.DB) {
	t.Helper()
	uri = testdb.NewURI(t, "postgres")
	raw = testdb.Admin(t, uri)
	if _, err := raw.Exec(legacyDDL + legacyData); err != nil {
		t.Fatalf("legacy setup: %v", err)
	}
	return uri, raw
}

func queryRow(t *testing.T, raw *sql.DB, query string, dest ...any) {
	t.Helper()
	if err := raw.QueryRow(query).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestLegacyDatabaseOpensInPlace(t *testing.T) {
	uri, raw := legacyDB(t)
	ctx := context.Background()
	clock := dbtest.NewClock(time.UnixMilli(batchID + 30*60*1000))
	s := testdb.OpenURI(t, uri, testdb.Options{Now: clock.Now})

	// The 32-bit ttl was widened, and the 2036 sentinel rewritten.
	var ttlType string
	queryRow(t, raw, "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'bso' AND column_name = 'ttl'", &ttlType)
	if ttlType != "bigint" {
		t.Errorf("bso.ttl is %s, want bigint", ttlType)
	}
	// The legacy listing index is gone (migration 9): the paging index
	// starts with its columns.
	var indexes string
	queryRow(t, raw, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'bso'", &indexes)
	if want := "bso_pkey,bso_ttl_idx,bso_usr_col_mod_id_idx"; indexes != want {
		t.Errorf("indexes of bso = %s, want %s", indexes, want)
	}
	var sentinels, never int
	queryRow(t, raw, "SELECT COUNT(*) FILTER (WHERE ttl = 2100000000), COUNT(*) FILTER (WHERE ttl = 253402300799) FROM bso", &sentinels, &never)
	if sentinels != 0 || never != 5 {
		t.Errorf("%d legacy sentinels left, %d never-expiring records; want 0 and 5", sentinels, never)
	}
	ts, colls, err := s.CollectionTimestamps(ctx, 2)
	want := map[string]db.Timestamp{"bookmarks": 1700000000000, "meta": 1700000001000, "xyz": 1700000002000}
	if err != nil || ts != 1700000002000 || !maps.Equal(colls, want) {
		t.Errorf("CollectionTimestamps = %v, %v, %v; want %v", ts, colls, err, want)
	}
	err = s.View(ctx, 2, func(tx db.Tx) error {
		b, err := tx.GetBSO("bookmarks", "b1")
		if err != nil || b.Payload != "p1" || b.SortIndex == nil || *b.SortIndex != 5 || b.Modified != 1700000000000 || b.Expires != db.NeverExpires {
			t.Errorf("b1 = %+v, %v", b, err)
		}
		if _, err := tx.GetBSO("bookmarks", "expired"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("expired legacy record: %v", err)
		}
		p, err := tx.FindBSOs("bookmarks", db.Query{Limit: -1})
		if err != nil || !slices.Equal(ids(p.Items), []string{"b1", "b2"}) {
			t.Errorf("bookmarks = %v, %v", ids(p.Items), err)
		}
		if b, err := tx.GetBSO("xyz", "x1"); err != nil || b.Expires != farFuture {
			t.Errorf("xyz/x1 = %+v, %v", b, err)
		}
		u, err := tx.CollectionUsage()
		wantU := map[string]db.Usage{"bookmarks": {Count: 2, Bytes: 13}, "meta": {Count: 1, Bytes: 14}, "xyz": {Count: 1, Bytes: 3}}
		if err != nil || !maps.Equal(u, wantU) {
			t.Errorf("usage = %v, %v; want %v", u, err, wantU)
		}
		if bt, err := tx.GetBatch("bookmarks", batchID); err != nil || bt.Records != 1 || bt.Bytes != 6 {
			t.Errorf("pending batch = %+v, %v", bt, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var tc db.Timestamp
	err = s.Update(ctx, 2, func(tx db.Tx) error {
		tc = tx.Timestamp()
		if err := tx.CommitBatch("bookmarks", batchID); err != nil {
			return err
		}
		return tx.PutBSO("tabs", dbtest.Rec("t1", "new collection"))
	})
	if err != nil {
		t.Fatalf("commit of the legacy batch: %v", err)
	}
	var tabs int64
	queryRow(t, raw, "SELECT collectionid FROM collections WHERE name = 'tabs'", &tabs)
	if tabs != 100 {
		t.Errorf("tabs got collection id %d, want 100", tabs)
	}
	var b3TTL, b3Mod int64
	queryRow(t, raw, "SELECT ttl, modified FROM bso WHERE userid = 2 AND id = 'b3'", &b3TTL, &b3Mod)
	if b3TTL != tc.Seconds()+3600 || b3Mod != int64(tc) {
		t.Errorf("committed b3: ttl %d, modified %d; T %d", b3TTL, b3Mod, tc)
	}

	// Users: refused until EnsureNode converts the table.
	users := s.Users()
	if _, err := users.GetUser(ctx, db.Service, emailA); !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("GetUser before EnsureNode: %v", err)
	}
	if err := users.EnsureNode(ctx, db.Service, newNode, 1000); err != nil {
		t.Fatalf("EnsureNode: %v", err)
	}
	checkConvertedUsers(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A second start changes nothing more.
	before := dump(t, raw, "SELECT uid, service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at FROM users ORDER BY uid")
	clock.Set(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	s2 := testdb.OpenURI(t, uri, testdb.Options{Now: clock.Now})
	if err := s2.Users().EnsureNode(ctx, db.Service, newNode, 1000); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, raw, "SELECT uid, service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at FROM users ORDER BY uid"); !slices.Equal(before, after) {
		t.Errorf("users changed on the second start:\n%v\n%v", before, after)
	}
	// In 2040 (past the 32-bit ttl's end) the never-expiring records are
	// still there; 2033's are not.
	err = s2.View(ctx, 2, func(tx db.Tx) error {
		if _, err := tx.GetBSO("meta", "global"); err != nil {
			t.Errorf("meta/global in 2040: %v", err)
		}
		if _, err := tx.GetBSO("xyz", "x1"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("xyz/x1 (expired 2033) in 2040: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A record written in 2040 with a TTL expires after 2038.
	var t40 db.Timestamp
	if err := s2.Update(ctx, 2, func(tx db.Tx) error {
		t40 = tx.Timestamp()
		return tx.PutBSO("tabs", db.BSOUpdate{ID: "t2", Payload: dbtest.Str("x"), TTL: dbtest.Int(60)})
	}); err != nil {
		t.Fatalf("write in 2040: %v", err)
	}
	if b := mustGet(t, s2, 2, "tabs", "t2"); b.Expires != t40.Seconds()+60 {
		t.Errorf("t2 expires %d, want %d", b.Expires, t40.Seconds()+60)
	}
}

// checkConvertedUsers checks the legacy users after EnsureNode.
func checkConvertedUsers(t *testing.T, s db.Store) {
	t.Helper()
	ctx := context.Background()
	users := s.Users()
	a, err := users.GetUser(ctx, db.Service, emailA)
	if err != nil || a.UID != 2 || a.ClientState != "bbbb" || !slices.Equal(a.OldClientStates, []string{"aaaa"}) ||
		a.KeysChangedAt != 0 || a.Generation != 1650000000000 || a.Node != newNode || a.ReplacedAt != 0 {
		t.Errorf("user A = %+v, %v", a, err)
	}
	b, err := users.GetUser(ctx, db.Service, emailB)
	if err != nil || b.UID != 5 || b.KeysChangedAt != 1610000000000 || b.ClientState != "" || b.Node != newNode {
		t.Errorf("user B = %+v, %v", b, err)
	}
	if n, err := users.CountUsers(ctx, db.Service); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
	if _, err := users.ReplaceUser(ctx, a, a.Generation+1, 0, "aaaa"); !errors.Is(err, db.ErrStaleClientState) {
		t.Errorf("the replaced row's client state was accepted: %v", err)
	}
	// New uids start after every uid in use, orphaned storage included.
	c, err := users.AllocateUser(ctx, db.Service, "cccc@api.accounts.firefox.com", 1, 0, "cc", newNode)
	if err != nil || c.UID != 8 {
		t.Errorf("new user = %+v, %v; want uid 8", c, err)
	}
}

// TestLegacyConvertedOnceByConcurrentStarts: servers starting together on
// a legacy database migrate and convert it once (pg_advisory_lock).
func TestLegacyConvertedOnceByConcurrentStarts(t *testing.T) {
	uri, raw := legacyDB(t)
	ctx := context.Background()
	stores := make([]db.Store, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := testdb.OpenURIErr(ctx, uri, testdb.Options{})
			if err == nil {
				stores[i] = s
				err = s.Users().EnsureNode(ctx, db.Service, newNode, 100)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if stores[i] != nil {
			defer stores[i].Close()
		}
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	var n, nodes, applied int
	queryRow(t, raw, "SELECT COUNT(*), COUNT(DISTINCT nodeid) FROM users", &n, &nodes)
	queryRow(t, raw, "SELECT COUNT(*) FROM syncserver_schema", &applied)
	if n != 3 || nodes != 1 || applied != 9 {
		t.Errorf("after concurrent starts: %d users on %d nodes, %d migrations recorded", n, nodes, applied)
	}
	for _, s := range stores {
		if u, err := s.Users().GetUser(ctx, db.Service, emailA); err != nil || u.UID != 2 {
			t.Errorf("GetUser = %+v, %v", u, err)
		}
	}
}

// TestIDsCompareExactly: ids that differ in case or trailing spaces are
// different records, in byte order as in SQLite.
func TestIDsCompareExactly(t *testing.T) {
	s := testdb.Open(t, "postgres", testdb.Options{})
	ctx := context.Background()
	written := []string{"a", "A", "a ", " a", "B"}
	err := s.Update(ctx, 1, func(tx db.Tx) error {
		var ups []db.BSOUpdate
		for _, id := range written {
			ups = append(ups, dbtest.Rec(id, "payload of "+id+" ☃"))
		}
		return tx.PostBSOs("Tabs", ups)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range written {
		if b := mustGet(t, s, 1, "Tabs", id); b.Payload != "payload of "+id+" ☃" {
			t.Errorf("%q = %+v", id, b)
		}
	}
	var got []string
	err = s.View(ctx, 1, func(tx db.Tx) error {
		p, err := tx.FindBSOs("Tabs", db.Query{Limit: -1})
		got = ids(p.Items)
		return err
	})
	if want := []string{"a ", "a", "B", "A", " a"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ids newest first, then by id descending = %q, %v; want %q", got, err, want)
	}
}

func mustGet(t *testing.T, s db.Store, uid db.UID, coll, id string) db.BSO {
	t.Helper()
	var b db.BSO
	if err := s.View(context.Background(), uid, func(tx db.Tx) error {
		var err error
		b, err = tx.GetBSO(coll, id)
		return err
	}); err != nil {
		t.Fatalf("GetBSO(%s/%q): %v", coll, id, err)
	}
	return b
}

func ids(items []db.BSO) []string {
	var out []string
	for _, b := range items {
		out = append(out, b.ID)
	}
	return out
}

// dump reads every row of a query as strings.
func dump(t *testing.T, raw *sql.DB, query string) []string {
	t.Helper()
	rows, err := raw.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, v.String)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}
