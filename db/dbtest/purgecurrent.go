package dbtest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"syncserver/db"
)

// ExecSQL runs one statement on a store's database from outside the
// store, as another program sharing the database would. Statements are
// portable SQL with literal values (no placeholders).
type ExecSQL func(ctx context.Context, query string) error

// OpenerSQL is an Opener that also gives direct access to the database.
type OpenerSQL func(t *testing.T, now func() time.Time) (db.Store, ExecSQL)

// RunOtherWriters runs the cases that need rows no Store method writes,
// but that other programs leave in a database this server shares or
// inherits: Mozilla's tokenserver marks the current record of a user it
// moves to another node replaced, and two of its processes racing on a
// key change can leave the newest record replaced by the other's
// transaction. Every backend runs them.
func RunOtherWriters(t *testing.T, open OpenerSQL) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env, ExecSQL)
	}{
		{"PurgeKeepsCurrentRecords", testPurgeKeepsCurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(StartTime())
			s, exec := open(t, clock.Now)
			tc.fn(t, &env{t: t, clock: clock, s: s, ctx: context.Background()}, exec)
		})
	}
}

// testPurgeKeepsCurrent: the purge of replaced uids never empties the
// current record of an account (its newest, whatever its replaced_at
// says), and empties a replaced uid only once it was replaced more than
// ReplacedGrace ago.
func testPurgeKeepsCurrent(t *testing.T, e *env, exec ExecSQL) {
	users := e.users()
	markReplaced := func(uid db.UID) {
		t.Helper()
		q := fmt.Sprintf("UPDATE users SET replaced_at = %d WHERE uid = %d", e.clock.Now().UnixMilli(), int64(uid))
		if err := exec(e.ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	replace := func(old db.User, cs string) db.User {
		t.Helper()
		u, err := users.ReplaceUser(e.ctx, old, old.Generation+1, old.KeysChangedAt+1, cs)
		if err != nil {
			t.Fatalf("ReplaceUser(%d, %s): %v", old.UID, cs, err)
		}
		return u
	}
	records := map[db.UID][]string{} // what each uid stored
	store := func(u db.User) {
		ids := []string{fmt.Sprintf("r%d-1", u.UID), fmt.Sprintf("r%d-2", u.UID)}
		e.put(u.UID, "bookmarks", Rec(ids[0], "x"), Rec(ids[1], "y"))
		records[u.UID] = ids
	}

	// plain: never replaced.
	plain := e.allocate("plain@x", 10, 10, "aaaa")
	store(plain)
	// keyed: a key change; a concurrent request that made the same change
	// gets the new record (the race recovery of ReplaceUser).
	keyed1 := e.allocate("keyed@x", 10, 10, "aaaa")
	store(keyed1)
	e.clock.Advance(time.Minute)
	keyed2 := replace(keyed1, "bbbb")
	store(keyed2)
	if again, err := users.ReplaceUser(e.ctx, keyed1, 11, 11, "bbbb"); err != nil || again.UID != keyed2.UID {
		t.Fatalf("the repeated key change = %+v, %v; want uid %d", again, err, keyed2.UID)
	}
	// moved: its only record marked replaced by Mozilla's tokenserver
	// moving the user to another node; until the user comes back, it is
	// the record in use.
	moved := e.allocate("moved@x", 10, 10, "aaaa")
	store(moved)
	markReplaced(moved.UID)
	// raced: a key change, then the new, newest record marked replaced
	// by a racing process: it is current again.
	raced1 := e.allocate("raced@x", 10, 10, "aaaa")
	store(raced1)
	e.clock.Advance(time.Minute)
	raced2 := replace(raced1, "bbbb")
	store(raced2)
	markReplaced(raced2.UID)
	// tied: a key change in the same millisecond as the record it
	// replaces (a clock that stepped back): the higher uid is the newer;
	// then that one is marked replaced too.
	tied1 := e.allocate("tied@x", 10, 10, "aaaa")
	store(tied1)
	e.clock.Advance(-time.Hour)
	tied2 := replace(tied1, "bbbb")
	e.clock.Advance(time.Hour)
	if tied2.CreatedAt != tied1.CreatedAt {
		t.Fatalf("tied records created at %d and %d, want the same", tied1.CreatedAt, tied2.CreatedAt)
	}
	store(tied2)
	markReplaced(tied2.UID)

	current := map[string]db.UID{"plain@x": plain.UID, "keyed@x": keyed2.UID, "moved@x": moved.UID,
		"raced@x": raced2.UID, "tied@x": tied2.UID}
	for email, uid := range current {
		if got := e.getUser(email); got.UID != uid {
			t.Fatalf("GetUser(%s) = uid %d, want %d (the newest record)", email, got.UID, uid)
		}
	}

	// check compares each uid's records with what it should still hold.
	check := func(when string, emptied ...db.UID) {
		t.Helper()
		for uid, ids := range records {
			want := ids
			if slices.Contains(emptied, uid) {
				want = nil
			}
			got := e.ids(uid, "bookmarks", db.Query{})
			slices.Sort(got)
			if !equalStrings(got, want) {
				t.Errorf("%s: uid %d holds %v, want %v", when, uid, got, want)
			}
		}
	}
	const grace = 7 * 24 * time.Hour
	o := db.PurgeOptions{ReplacedGrace: grace, Pause: -1}

	if got := e.purge(o); len(got.ReplacedUIDs) != 0 {
		t.Errorf("purge within the grace emptied %v", got.ReplacedUIDs)
	}
	check("within the grace")

	// late: replaced long after the others, within the grace at the next purge.
	e.clock.Advance(grace + time.Hour)
	late1 := e.allocate("late@x", 10, 10, "aaaa")
	store(late1)
	e.clock.Advance(time.Minute)
	late2 := replace(late1, "bbbb")
	store(late2)

	replaced := []db.UID{keyed1.UID, raced1.UID, tied1.UID}
	slices.Sort(replaced)
	got := e.purge(o)
	if !slices.Equal(got.ReplacedUIDs, replaced) || got.ReplacedRecords != int64(2*len(replaced)) {
		t.Errorf("purge after the grace emptied uids %v (%d records), want %v (%d records)",
			got.ReplacedUIDs, got.ReplacedRecords, replaced, 2*len(replaced))
	}
	check("after the grace", replaced...)

	// No grace at all: every replaced uid goes, no current one.
	e.clock.Advance(time.Minute)
	got = e.purge(db.PurgeOptions{ReplacedGrace: 0, Pause: -1})
	if !slices.Equal(got.ReplacedUIDs, []db.UID{late1.UID}) {
		t.Errorf("purge without grace emptied uids %v, want [%d]", got.ReplacedUIDs, late1.UID)
	}
	check("after a purge without grace", append(replaced, late1.UID)...)
	for email, uid := range current {
		if got := e.getUser(email); got.UID != uid {
			t.Errorf("after the purges GetUser(%s) = uid %d, want %d", email, got.UID, uid)
		}
	}
}
