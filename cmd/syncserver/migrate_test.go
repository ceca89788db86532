package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqldb"
	"syncserver/internal/testdb"
)

// migrateNode is the node of the users of these tests.
const migrateNode = "https://sync.example.com"

// populate writes what a server that served a while holds: accounts (one
// with a key change, so a replaced row and an old client state), a
// generated secret, records with sort indexes and TTLs in several
// collections, a deleted collection, an open batch.
func populate(t *testing.T, s db.Store, clock *dbtest.Clock) []db.User {
	t.Helper()
	ctx := context.Background()
	users := s.Users()
	if err := users.EnsureNode(ctx, db.Service, migrateNode, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InitSetting(ctx, settingSecret, "the generated secret"); err != nil {
		t.Fatal(err)
	}
	var out []db.User
	for i := range 3 {
		u, err := users.AllocateUser(ctx, db.Service, fmt.Sprintf("user%d@api.accounts.firefox.com", i), 100, 100, "aa", migrateNode)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	clock.Advance(time.Second)
	replaced, err := users.ReplaceUser(ctx, out[1], 200, 200, "bb")
	if err != nil {
		t.Fatal(err)
	}
	out[1] = replaced
	for i, u := range out {
		for round := range 3 {
			clock.Advance(time.Second)
			err := s.Update(ctx, u.UID, func(tx db.Tx) error {
				var ups []db.BSOUpdate
				for r := range 40 {
					up := dbtest.Rec(fmt.Sprintf("r%d-%d", round, r), strings.Repeat("p", r*10)+" ☃")
					if r%3 == 0 {
						up.SortIndex = dbtest.Int(int64(r))
					}
					if r%5 == 0 {
						up.TTL = dbtest.Int(3600)
					}
					ups = append(ups, up)
				}
				if err := tx.PostBSOs([]string{"history", "bookmarks", "tabs"}[round], ups); err != nil {
					return err
				}
				if round == 2 && i == 0 {
					return tx.DeleteCollection("tabs")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Advance(time.Second)
	err = s.Update(ctx, out[2].UID, func(tx db.Tx) error {
		id, err := tx.CreateBatch("forms")
		if err != nil {
			return err
		}
		return tx.AppendBatch("forms", id, []db.BSOUpdate{dbtest.Rec("f1", "staged"), {ID: "f2", TTL: dbtest.Int(60)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	populateAccounts(t, s, clock)
	return out
}

// snapshot is everything a client or the tokenserver can read of a store.
func snapshot(t *testing.T, s db.Store, users []db.User) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, u := range users {
		got, err := s.Users().GetUser(ctx, db.Service, u.Email)
		if err != nil {
			t.Fatalf("GetUser(%s): %v", u.Email, err)
		}
		fmt.Fprintf(&b, "user %+v\n", got)
		for _, uid := range []db.UID{u.UID, u.UID - 1} {
			ts, colls, err := s.CollectionTimestamps(ctx, uid)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "uid %d: %d %v\n", uid, ts, colls)
			err = s.View(ctx, uid, func(tx db.Tx) error {
				for _, c := range slices.Sorted(maps.Keys(colls)) {
					p, err := tx.FindBSOs(c, db.Query{Full: true, Limit: -1, Sort: db.SortIndex})
					if err != nil {
						return err
					}
					for _, it := range p.Items {
						si := "-"
						if it.SortIndex != nil {
							si = fmt.Sprint(*it.SortIndex)
						}
						fmt.Fprintf(&b, "  %s/%s %d %s %d %q\n", c, it.ID, it.Modified, si, it.Expires, it.Payload)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	secret, err := s.Setting(ctx, settingSecret)
	fmt.Fprintf(&b, "secret %q %v\n", secret, err)
	b.WriteString(accountsSnapshot(t, s))
	return b.String()
}

// migrate runs syncserver migrate-db and returns its status and output.
func migrate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return migrateWith(t, filepath.Join(t.TempDir(), "none.ini"), args...)
}

// migrateWith runs migrate-db with the configuration file cfg.
func migrateWith(t *testing.T, cfg string, args ...string) (int, string, string) {
	t.Helper()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = stdout, stderr
	m.Getenv = func(string) string { return "" }
	args = append([]string{"-config", cfg, "migrate-db"}, args...)
	if err := m.ParseFlags(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	return m.Main(context.Background()), stdout.String(), stderr.String()
}

// TestMigrateDB copies a database to another of every backend (sqlite →
// sqlite always; to and from MySQL and PostgreSQL when their servers are
// there) and checks that the copy answers every read as the original
// does, that new ids go past the copied ones, and that a target with data
// is refused without --force.
func TestMigrateDB(t *testing.T) {
	for _, pair := range [][2]string{
		{"sqlite", "sqlite"}, {"sqlite", "mysql"}, {"sqlite", "postgres"},
		{"mysql", "postgres"}, {"postgres", "mysql"}, {"mysql", "sqlite"},
	} {
		t.Run(pair[0]+"→"+pair[1], func(t *testing.T) {
			from, to := testdb.NewURI(t, pair[0]), testdb.NewURI(t, pair[1])
			clock := dbtest.NewClock(time.Now().Add(-time.Hour))
			src, err := testdb.OpenURIErr(context.Background(), from, testdb.Options{Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			users := populate(t, src, clock)
			want := snapshot(t, src, users)
			src.Close()
			if n := strings.Count(want, "\n  "); n != 440 || !strings.Contains(want, "OldClientStates:[aa]") {
				t.Fatalf("the source lists %d records, want 440 (uid 3 twice):\n%s", n, want)
			}

			status, stdout, stderr := migrate(t, "--from", from, "--to", to)
			if status != 0 {
				t.Fatalf("migrate-db: status %d\n%s%s", status, stdout, stderr)
			}
			for _, line := range []string{"bso ", "users ", "batch_upload_items ", "accounts_users ", "accounts_keys ", "copied "} {
				if !strings.Contains(stdout, line) {
					t.Errorf("output lacks %q:\n%s", line, stdout)
				}
			}
			if strings.Contains(stderr, "\r") {
				t.Errorf("progress shown on a pipe: %q", stderr)
			}
			dst := testdb.OpenURI(t, to, testdb.Options{Now: clock.Now})
			if got := snapshot(t, dst, users); got != want {
				t.Errorf("the copy reads differently:\n--- source\n%s--- copy\n%s", want, got)
			}
			// The open batch came along and commits.
			err = dst.Update(context.Background(), users[2].UID, func(tx db.Tx) error {
				b, err := tx.GetBatch("forms", latestBatch(t, to, users[2].UID))
				if err != nil || b.Records != 2 {
					return fmt.Errorf("batch %+v, %v", b, err)
				}
				return tx.CommitBatch("forms", b.ID)
			})
			if err != nil {
				t.Errorf("committing the copied batch: %v", err)
			}
			// New ids go past the copied ones.
			u, err := dst.Users().AllocateUser(context.Background(), db.Service, "new@api.accounts.firefox.com", 1, 0, "cc", migrateNode)
			if err != nil || u.UID <= users[len(users)-1].UID {
				t.Errorf("new user on the copy = %+v, %v; want a uid above %d", u, err, users[len(users)-1].UID)
			}
			if err := dst.Update(context.Background(), u.UID, func(tx db.Tx) error { return tx.PutBSO("newcoll", dbtest.Rec("a", "b")) }); err != nil {
				t.Errorf("new collection on the copy: %v", err)
			}
			checkAccountsCopy(t, dst, clock)
			dst.Close()

			status, stdout, stderr = migrate(t, "--from", from, "--to", to)
			if status != exitFail || !strings.Contains(stderr, "is not empty") || strings.Contains(stdout, "copied") {
				t.Errorf("into a non-empty target: status %d\n%s%s", status, stdout, stderr)
			}
			status, stdout, stderr = migrate(t, "--from", from, "--to", to, "--force")
			if status != 0 || !strings.Contains(stderr, "--force: deleting") {
				t.Errorf("--force: status %d\n%s%s", status, stdout, stderr)
			}
			dst = testdb.OpenURI(t, to, testdb.Options{Now: clock.Now})
			if got := snapshot(t, dst, users); got != want {
				t.Errorf("the copy made with --force reads differently:\n--- source\n%s--- copy\n%s", want, got)
			}
		})
	}
}

// TestMigrateDBFromConfig: without --from, migrate-db copies the
// configuration's database as the server reads it, a relative sqlite path
// being relative to the configuration file's directory, whatever the
// working directory; a relative path in --to is relative to the working
// directory, as on any command line.
func TestMigrateDBFromConfig(t *testing.T) {
	cfgDir, cwd := t.TempDir(), t.TempDir()
	clock := dbtest.NewClock(time.Now().Add(-time.Hour))
	src, err := testdb.OpenURIErr(context.Background(), "sqlite:///"+filepath.Join(cfgDir, "data.db"), testdb.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	users := populate(t, src, clock)
	want := snapshot(t, src, users)
	src.Close()
	cfg := filepath.Join(cfgDir, "syncserver.ini")
	if err := os.WriteFile(cfg, []byte("[syncserver]\npublic_url = \"http://localhost:5000/\"\nsqluri = \"sqlite:///data.db\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)

	if status, stdout, stderr := migrateWith(t, cfg, "--to", "sqlite:///copy.db"); status != 0 {
		t.Fatalf("migrate-db: status %d\n%s%s", status, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(cwd, "data.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("migrate-db opened data.db in the working directory (%v), not the configuration's", err)
	}
	dst := testdb.OpenURI(t, "sqlite:///"+filepath.Join(cwd, "copy.db"), testdb.Options{Now: clock.Now})
	if got := snapshot(t, dst, users); got != want {
		t.Errorf("the copy reads differently from the configuration's database:\n--- source\n%s--- copy\n%s", want, got)
	}
}

// latestBatch finds the open batch of uid in the database of uri.
func latestBatch(t *testing.T, uri string, uid db.UID) int64 {
	t.Helper()
	var raw *sql.DB
	if strings.HasPrefix(uri, "sqlite") {
		var err error
		if raw, err = sql.Open("sqlite3", strings.TrimPrefix(uri, "sqlite:///")); err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
	} else {
		raw = testdb.Admin(t, uri)
	}
	var id int64
	if err := raw.QueryRow(fmt.Sprintf("SELECT MAX(batch) FROM batch_uploads WHERE userid = %d", uid)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMigrateDBLegacySource: a legacy syncserver.db that no syncserver
// opened yet is brought up to date and its single-node users converted
// (with --node) on the way.
func TestMigrateDBLegacySource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "legacy.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`
		CREATE TABLE collections (collectionid INTEGER NOT NULL, name VARCHAR(32) NOT NULL, PRIMARY KEY (collectionid), UNIQUE (name));
		CREATE TABLE user_collections (userid INTEGER NOT NULL, collection INTEGER NOT NULL, last_modified BIGINT NOT NULL, PRIMARY KEY (userid, collection));
		CREATE TABLE bso (userid INTEGER NOT NULL, collection INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, modified BIGINT NOT NULL, payload TEXT NOT NULL, payload_size INTEGER DEFAULT 0 NOT NULL, ttl INTEGER DEFAULT 2100000000 NOT NULL, PRIMARY KEY (userid, collection, id));
		CREATE TABLE users (uid INTEGER NOT NULL, service VARCHAR(32) NOT NULL, email VARCHAR(255) NOT NULL, generation BIGINT NOT NULL, client_state VARCHAR(32) NOT NULL, created_at BIGINT NOT NULL, replaced_at BIGINT, keys_changed_at BIGINT, node VARCHAR(255), PRIMARY KEY (uid));
		INSERT INTO collections VALUES (1, 'bookmarks');
		INSERT INTO user_collections VALUES (3, 1, 1700000000000);
		INSERT INTO bso VALUES (3, 1, 'b1', NULL, 1700000000000, 'p1', 2, 2100000000);
		INSERT INTO users VALUES (3, 'sync-1.5', 'x@api.accounts.firefox.com', 1, 'aa', 1600000000000, NULL, NULL, NULL);`)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	from := "sqlite:///" + path
	to := testdb.NewURI(t, "sqlite")
	if status, stdout, stderr := migrate(t, "--from", from, "--to", to); status != exitFail || !strings.Contains(stderr, "give --node") {
		t.Errorf("legacy users without --node: status %d\n%s%s", status, stdout, stderr)
	}
	if status, stdout, stderr := migrate(t, "--from", from, "--to", to, "--node", migrateNode); status != 0 {
		t.Fatalf("status %d\n%s%s", status, stdout, stderr)
	}
	dst := testdb.OpenURI(t, to, testdb.Options{})
	u, err := dst.Users().GetUser(context.Background(), db.Service, "x@api.accounts.firefox.com")
	if err != nil || u.UID != 3 || u.Node != migrateNode {
		t.Errorf("GetUser = %+v, %v", u, err)
	}
	err = dst.View(context.Background(), 3, func(tx db.Tx) error {
		b, err := tx.GetBSO("bookmarks", "b1")
		if err == nil && (b.Payload != "p1" || b.Expires != db.NeverExpires) {
			err = fmt.Errorf("b1 = %+v", b)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}

// TestMigrateDBUsage: the mistakes a command line can hold.
func TestMigrateDBUsage(t *testing.T) {
	uri := testdb.NewURI(t, "sqlite")
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{nil, exitUsage, "needs --to"},
		{[]string{"--to", uri}, exitUsage, "give --from"},
		{[]string{"--from", uri, "--to", uri}, exitFail, "the same database"},
		{[]string{"--from", "oracle://x/y", "--to", uri}, exitFail, "--from: unsupported database"},
		{[]string{"--from", uri, "--to", "sqlite:///:memory:"}, exitFail, "in-memory"},
		{[]string{"--from", uri, "--to", uri + "2", "extra"}, exitUsage, "takes no arguments"},
	} {
		status, stdout, stderr := migrate(t, tc.args...)
		if status != tc.status || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: status %d, %s%s; want %d and %q", tc.args, status, stdout, stderr, tc.status, tc.want)
		}
	}
}

// TestMigrateDBProgress: on a terminal each table's line is rewritten as
// rows are copied and ended when it is done.
func TestMigrateDBProgress(t *testing.T) {
	var b strings.Builder
	p := progressPrinter(&b)
	p(sqldb.CopyProgress{Table: "bso", Rows: 0, Total: 1000})
	p(sqldb.CopyProgress{Table: "bso", Rows: 500, Total: 1000}) // within 100 ms: skipped
	p(sqldb.CopyProgress{Table: "bso", Rows: 1000, Total: 1000})
	p(sqldb.CopyProgress{Table: "users", Rows: 0, Total: 0})
	want := "\rbso                             0 / 1000           0%" +
		"\rbso                          1000 / 1000         100%\n" +
		"\rusers                           0 / 0            100%\n"
	if b.String() != want {
		t.Errorf("progress:\n%q\nwant\n%q", b.String(), want)
	}
	if (&Main{Stderr: &b}).copyProgress() != nil {
		t.Error("progress on something that is not a terminal")
	}
}
