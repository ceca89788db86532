package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// legacyDDL is the schema the legacy syncserver bundle created in SQLite
// (server-syncstorage's SQL backend, as SQLAlchemy emitted it).
const legacyDDL = `
CREATE TABLE collections (collectionid INTEGER NOT NULL, name VARCHAR(32) NOT NULL, PRIMARY KEY (collectionid), UNIQUE (name));
CREATE TABLE user_collections (userid INTEGER NOT NULL, collection INTEGER NOT NULL, last_modified BIGINT NOT NULL, PRIMARY KEY (userid, collection));
CREATE TABLE bso (userid INTEGER NOT NULL, collection INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, modified BIGINT NOT NULL, payload TEXT NOT NULL, payload_size INTEGER DEFAULT 0 NOT NULL, ttl INTEGER DEFAULT 2100000000 NOT NULL, PRIMARY KEY (userid, collection, id));
CREATE INDEX bso_ttl_idx ON bso (ttl);
CREATE INDEX bso_usr_col_mod_idx ON bso (userid, collection, modified);
CREATE TABLE batch_uploads (batch BIGINT NOT NULL, userid INTEGER NOT NULL, collection INTEGER NOT NULL, PRIMARY KEY (batch, userid));
CREATE TABLE batch_upload_items (batch BIGINT NOT NULL, userid INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, payload TEXT, payload_size INTEGER, ttl_offset INTEGER, PRIMARY KEY (batch, userid, id));
`

const legacyUsersDDL = `
CREATE TABLE users (uid INTEGER NOT NULL, service VARCHAR(32) NOT NULL, email VARCHAR(255) NOT NULL, generation BIGINT NOT NULL, client_state VARCHAR(32) NOT NULL, created_at BIGINT NOT NULL, replaced_at BIGINT, keys_changed_at BIGINT, node VARCHAR(255), PRIMARY KEY (uid));
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
// order (with the "" row a standard_collections setup leaves), records with
// absolute ttls including the never sentinel and expired ones, a pending
// batch, and single-node users with a replaced row.
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
`

// writeLegacy creates path as the legacy server left it.
func writeLegacy(t *testing.T, path string, ddl ...string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, text := range ddl {
		if _, err := raw.Exec(text); err != nil {
			t.Fatalf("legacy setup: %v\n%s", err, text)
		}
	}
}

func rawQuery(t *testing.T, path, query string, args ...any) [][]any {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	return out
}

func backups(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".*.bak")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLegacyDatabaseOpensInPlace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncserver.db")
	writeLegacy(t, path, legacyDDL, legacyUsersDDL, legacyData)
	clock := dbtest.NewClock(time.UnixMilli(batchID + 30*60*1000))
	var logs bytes.Buffer
	s, err := sqlite.Open(ctx, path, sqlite.Options{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	// A complete copy was written before anything changed.
	baks := backups(t, path)
	if len(baks) != 1 || s.BackupPath() != baks[0] || !strings.Contains(baks[0], ".pre-migration-") {
		t.Fatalf("backups = %v, BackupPath %q", baks, s.BackupPath())
	}
	if got := rawQuery(t, baks[0], "SELECT COUNT(*), SUM(ttl = 2100000000) FROM bso"); got[0][0] != int64(7) || got[0][1] != int64(5) {
		t.Errorf("backup holds %v bso rows / sentinels, want 7 / 5", got)
	}
	if got := rawQuery(t, baks[0], "SELECT name FROM sqlite_master WHERE name = 'syncserver_schema'"); len(got) != 0 {
		t.Errorf("backup was taken after migrating")
	}
	if !strings.Contains(logs.String(), baks[0]) {
		t.Errorf("the copy is not logged: %s", logs.String())
	}
	// The legacy listing index is gone (migration 9): the paging index
	// starts with its columns.
	var indexes []string
	for _, r := range rawQuery(t, path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bso' ORDER BY name") {
		indexes = append(indexes, r[0].(string))
	}
	if want := []string{"bso_ttl_idx", "bso_usr_col_mod_id_idx", "sqlite_autoindex_bso_1"}; !slices.Equal(indexes, want) {
		t.Errorf("indexes of bso = %v, want %v", indexes, want)
	}

	// Storage: every record as the Python server wrote it.
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
	// A new name gets the next id after the highest, never a fixed one.
	if got := rawQuery(t, path, "SELECT collectionid FROM collections WHERE name = 'tabs'"); got[0][0] != int64(100) {
		t.Errorf("tabs got collection id %v, want 100", got)
	}
	if got := rawQuery(t, path, "SELECT ttl, modified FROM bso WHERE userid = 2 AND id = 'b3'"); got[0][0] != tc.Seconds()+3600 || got[0][1] != int64(tc) {
		t.Errorf("committed b3 = %v, T %d", got, tc)
	}
	if got := rawQuery(t, path, "SELECT COUNT(*) FROM bso WHERE ttl = 2100000000"); got[0][0] != int64(0) {
		t.Errorf("%v legacy sentinels left", got[0][0])
	}

	// Users: refused until EnsureNode converts the table.
	users := s.Users()
	if _, err := users.GetUser(ctx, db.Service, emailA); !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("GetUser before EnsureNode: %v", err)
	}
	if err := users.EnsureNode(ctx, db.Service, newNode, 1000); err != nil {
		t.Fatalf("EnsureNode: %v", err)
	}
	if baks := backups(t, path); len(baks) != 1 {
		t.Errorf("backups after converting users = %v, want the one taken at open", baks)
	}
	a, err := users.GetUser(ctx, db.Service, emailA)
	if err != nil || a.UID != 2 || a.ClientState != "bbbb" || !slices.Equal(a.OldClientStates, []string{"aaaa"}) ||
		a.KeysChangedAt != 0 || a.Generation != 1650000000000 || a.CreatedAt != 1650000000000 || a.Node != newNode || a.ReplacedAt != 0 {
		t.Errorf("user A = %+v, %v", a, err)
	}
	b, err := users.GetUser(ctx, db.Service, emailB)
	if err != nil || b.UID != 5 || b.KeysChangedAt != 1610000000000 || b.ClientState != "" || b.Node != newNode {
		t.Errorf("user B = %+v, %v", b, err)
	}
	if n, err := users.CountUsers(ctx, db.Service); err != nil || n != 2 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
	rows := rawQuery(t, path, `SELECT u.uid, s.service, u.nodeid = n.id, u.replaced_at, u.keys_changed_at
		FROM users u JOIN services s ON s.id = u.service JOIN nodes n ON n.node = ? ORDER BY u.uid`, newNode)
	wantRows := [][]any{
		{int64(1), "sync-1.5", int64(1), int64(1650000000000), nil},
		{int64(2), "sync-1.5", int64(1), nil, int64(0)},
		{int64(5), "sync-1.5", int64(1), nil, int64(1610000000000)},
	}
	if !slices.EqualFunc(rows, wantRows, slices.Equal) {
		t.Errorf("converted users = %v, want %v", rows, wantRows)
	}
	if _, err := users.ReplaceUser(ctx, a, a.Generation+1, 0, "aaaa"); !errors.Is(err, db.ErrStaleClientState) {
		t.Errorf("the replaced row's client state was accepted: %v", err)
	}
	// New uids start after every uid in use, orphaned storage included.
	c, err := users.AllocateUser(ctx, db.Service, "cccc@api.accounts.firefox.com", 1, 0, "cc", newNode)
	if err != nil || c.UID != 8 {
		t.Errorf("new user = %+v, %v; want uid 8", c, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A second start changes nothing more.
	before := rawQuery(t, path, "SELECT * FROM users ORDER BY uid")
	clock.Set(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC))
	s2, err := sqlite.Open(ctx, path, sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Users().EnsureNode(ctx, db.Service, newNode, 1000); err != nil {
		t.Fatal(err)
	}
	if baks := backups(t, path); len(baks) != 1 {
		t.Errorf("backups after a second start = %v", baks)
	}
	if after := rawQuery(t, path, "SELECT * FROM users ORDER BY uid"); !slices.EqualFunc(before, after, slices.Equal) {
		t.Errorf("users changed on the second start:\n%v\n%v", before, after)
	}
	// In 2040 the never-expiring records are still there; 2033's are not,
	// nor b3, committed with a one-hour TTL.
	err = s2.View(ctx, 2, func(tx db.Tx) error {
		p, err := tx.FindBSOs("bookmarks", db.Query{Limit: -1, Sort: db.SortOldest})
		if err != nil || !slices.Equal(ids(p.Items), []string{"b2", "b1"}) {
			t.Errorf("bookmarks in 2040 = %v, %v", ids(p.Items), err)
		}
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
	if v, err := s2.SchemaVersion(ctx); err != nil || v < 4 {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
}

func ids(items []db.BSO) []string {
	var out []string
	for _, b := range items {
		out = append(out, b.ID)
	}
	return out
}

// TestLegacyUsersConvertedLater: a database migrated by one process that
// stopped before EnsureNode is converted by another, which reuses the
// copy recorded at migration, or, when none is recorded, writes its own
// next to any earlier one.
func TestLegacyUsersConvertedLater(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		t.Run(map[bool]string{true: "copy recorded", false: "no copy recorded"}[recorded], func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "syncserver.db")
			// Before 2020: no keys_changed_at and no node; before 2018: a
			// unique client-state index.
			writeLegacy(t, path, legacyDDL, `
				CREATE TABLE users (uid INTEGER NOT NULL, service VARCHAR(32) NOT NULL, email VARCHAR(255) NOT NULL, generation BIGINT NOT NULL, client_state VARCHAR(32) NOT NULL, created_at BIGINT NOT NULL, replaced_at BIGINT, PRIMARY KEY (uid));
				CREATE INDEX lookup_idx ON users (email, service, created_at);
				CREATE UNIQUE INDEX clientstate_idx ON users (email, service, client_state);
				INSERT INTO users VALUES (3, 'sync-1.5', 'x@api.accounts.firefox.com', 10, 'aa', 100, 200),
					(4, 'sync-1.5', 'x@api.accounts.firefox.com', 20, 'bb', 200, NULL);`)
			s, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			first := backups(t, path)
			if got := rawQuery(t, path, "SELECT value FROM settings WHERE name = 'syncserver.legacy_copy'"); len(first) != 1 || len(got) != 1 || got[0][0] != first[0] {
				t.Fatalf("copies %v, recorded %v", first, got)
			}
			if !recorded {
				writeLegacy(t, path, "DELETE FROM settings")
			}
			s, err = sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Users().EnsureNode(ctx, db.Service, newNode, 10); err != nil {
				t.Fatalf("EnsureNode: %v", err)
			}
			all := backups(t, path)
			switch {
			case recorded && len(all) != 1:
				t.Fatalf("copies %v, want only the recorded one", all)
			case !recorded && (len(all) != 2 || !slices.Contains(all, first[0])):
				t.Fatalf("copies: first %v, then %v", first, all)
			}
			for _, c := range all {
				if got := rawQuery(t, c, "SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'nodeid'"); got[0][0] != int64(0) {
					t.Errorf("copy %s was taken after the conversion", c)
				}
			}
			u, err := s.Users().GetUser(ctx, db.Service, "x@api.accounts.firefox.com")
			if err != nil || u.UID != 4 || u.KeysChangedAt != 0 || !slices.Equal(u.OldClientStates, []string{"aa"}) {
				t.Errorf("GetUser = %+v, %v", u, err)
			}
			// The unique client-state index went with the old table.
			if _, err := s.Users().ReplaceUser(ctx, u, 30, 0, "cc"); err != nil {
				t.Errorf("ReplaceUser: %v", err)
			}
		})
	}
}

func TestPre2017BatchItemsSetAside(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncserver.db")
	writeLegacy(t, path, strings.Replace(legacyDDL,
		"CREATE TABLE batch_upload_items (batch BIGINT NOT NULL, userid INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, payload TEXT, payload_size INTEGER, ttl_offset INTEGER, PRIMARY KEY (batch, userid, id));",
		"CREATE TABLE batch_upload_items (batch BIGINT NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, payload TEXT, payload_size INTEGER, ttl INTEGER, PRIMARY KEY (batch, id)); INSERT INTO batch_upload_items VALUES (1, 'a', NULL, 'x', 1, 5);", 1))
	clock := dbtest.NewClock(dbtest.StartTime())
	s, err := sqlite.Open(ctx, path, sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var id int64
	err = s.Update(ctx, 1, func(tx db.Tx) error {
		var err error
		if id, err = tx.CreateBatch("tabs"); err != nil {
			return err
		}
		return tx.AppendBatch("tabs", id, []db.BSOUpdate{dbtest.Rec("a", "x")})
	})
	if err != nil {
		t.Fatalf("batch on the new table: %v", err)
	}
	if got := rawQuery(t, path, "SELECT COUNT(*) FROM batch_upload_items_pre2017"); got[0][0] != int64(1) {
		t.Errorf("old staged rows = %v, want kept", got)
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncserver.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	writeLegacy(t, path, "INSERT INTO syncserver_schema (version, name, applied_at) VALUES (999, 'from_the_future', 0)")
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if !errors.Is(err, db.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Open = %v, want ErrSchemaTooNew naming version 999", err)
	}
	if s != nil {
		t.Errorf("a store was returned with the error")
	}
}
