// Package dbtest is the conformance suite every db.Store backend runs:
// sqlite on temp-dir files and in memory, MySQL and PostgreSQL against real
// servers. It checks the data-layer rules of the SyncStorage protocol and
// of the tokenserver's user records, with an injected clock.
package dbtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"syncserver/db"
)

// Opener returns a new, empty store that reads the time from now and is
// closed when the test ends (t.Cleanup).
type Opener func(t *testing.T, now func() time.Time) db.Store

// Run runs the whole suite; each subtest opens its own store.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"EmptyUser", testEmptyUser},
		{"WriteTimestamps", testWriteTimestamps},
		{"TimestampAfterClockStepsBack", testClockStepsBack},
		{"ModifiedRules", testModifiedRules},
		{"NewRecordDefaults", testNewRecordDefaults},
		{"PostBSOs", testPostBSOs},
		{"TTLExpiry", testTTLExpiry},
		{"NeverExpires", testNeverExpires},
		{"ExpiredRecordsOverwrittenInPlace", testExpiredOverwrite},
		{"Sorts", testSorts},
		{"Paging", testPaging},
		{"PagingWithNumericOffset", testPagingNumericOffset},
		{"LimitZero", testLimitZero},
		{"IDsFilter", testIDsFilter},
		{"NewerOlderStrict", testNewerOlder},
		{"FullAndIDOnly", testFullAndIDOnly},
		{"CountsAndUsage", testCountsAndUsage},
		{"DeleteBSO", testDeleteBSO},
		{"DeleteBSOs", testDeleteBSOs},
		{"DeleteCollection", testDeleteCollection},
		{"DeleteStorage", testDeleteStorage},
		{"CollectionNames", testCollectionNames},
		{"Batches", testBatches},
		{"BatchMerge", testBatchMerge},
		{"BatchLargeAppend", testBatchLargeAppend},
		{"BatchCommitSemantics", testBatchCommit},
		{"BatchScopeAndExpiry", testBatchScope},
		{"ReadOnlyView", testReadOnly},
		{"Rollback", testRollback},
		{"RollbackMidway", testRollbackMidway},
		{"StoreCollectionTimestamps", testStoreCollectionTimestamps},
		{"ConcurrentWritesOneUser", testConcurrentOneUser},
		{"ConcurrentWritesManyUsers", testConcurrentManyUsers},
		{"Settings", testSettings},
		{"UsersAllocate", testUsersAllocate},
		{"UsersUpdate", testUsersUpdate},
		{"UsersReplace", testUsersReplace},
		{"UsersCount", testUsersCount},
		{"PurgeExpired", testPurgeExpired},
		{"PurgeReplaced", testPurgeReplaced},
		{"ClaimPurge", testClaimPurge},
		{"AdminUsers", testAdminUsers},
		{"AdminNodes", testAdminNodes},
		{"NodeAssignment", testNodeAssignment},
		{"NodeLifecycle", testNodeLifecycle},
		{"CapacityReleaseRate", testCapacityReleaseRate},
		{"UserQuota", testUserQuota},
		{"Compact", testCompact},
		{"AccountsCreateFind", testAccountsCreateFind},
		{"AccountsUpdate", testAccountsUpdate},
		{"AccountsAuthTokens", testAccountsAuthTokens},
		{"AccountsOAuthCodes", testAccountsOAuthCodes},
		{"AccountsRefreshTokens", testAccountsRefreshTokens},
		{"AccountsSessions", testAccountsSessions},
		{"AccountsDevices", testAccountsDevices},
		{"AccountsDeviceCommands", testAccountsDeviceCommands},
		{"AccountsInvites", testAccountsInvites},
		{"AccountsSigningKeys", testAccountsSigningKeys},
		{"AccountsDeleteSession", testAccountsDeleteSession},
		{"AccountsDeleteAuthTokens", testAccountsDeleteAuthTokens},
		{"AccountsDeleteAccount", testAccountsDeleteAccount},
		{"AccountsPurge", testAccountsPurge},
		{"AccountsInPurge", testAccountsInPurge},
		{"AccountsConcurrentTakes", testAccountsConcurrentTakes},
		{"AccountsConcurrentDevices", testAccountsConcurrentDevices},
		{"AccountsConcurrentCommands", testAccountsConcurrentCommands},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(StartTime())
			e := &env{t: t, clock: clock, s: open(t, clock.Now), ctx: context.Background()}
			tc.fn(t, e)
		})
	}
}

// StartTime is the suite's initial clock: not on a 10 ms step, so that
// rounding up shows.
func StartTime() time.Time { return time.Date(2024, 3, 1, 12, 0, 0, 3_000_000, time.UTC) }

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t, backwards too.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one subtest's store, clock and helpers.
type env struct {
	t     *testing.T
	clock *Clock
	s     db.Store
	ctx   context.Context
}

// update runs fn in an Update and returns the transaction's timestamp.
func (e *env) update(uid db.UID, fn func(db.Tx) error) db.Timestamp {
	e.t.Helper()
	var ts db.Timestamp
	if err := e.s.Update(e.ctx, uid, func(tx db.Tx) error {
		ts = tx.Timestamp()
		return fn(tx)
	}); err != nil {
		e.t.Fatalf("Update: %v", err)
	}
	return ts
}

// view runs fn in a View.
func (e *env) view(uid db.UID, fn func(db.Tx) error) {
	e.t.Helper()
	if err := e.s.View(e.ctx, uid, fn); err != nil {
		e.t.Fatalf("View: %v", err)
	}
}

// put writes updates to coll in one Update and returns its timestamp.
func (e *env) put(uid db.UID, coll string, updates ...db.BSOUpdate) db.Timestamp {
	e.t.Helper()
	return e.update(uid, func(tx db.Tx) error { return tx.PostBSOs(coll, updates) })
}

// get reads a record; ok is false when it is missing or expired.
func (e *env) get(uid db.UID, coll, id string) (b db.BSO, ok bool) {
	e.t.Helper()
	e.view(uid, func(tx db.Tx) error {
		var err error
		b, err = tx.GetBSO(coll, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return b, ok
}

// mustGet reads a record that must be live.
func (e *env) mustGet(uid db.UID, coll, id string) db.BSO {
	e.t.Helper()
	b, ok := e.get(uid, coll, id)
	if !ok {
		e.t.Fatalf("GetBSO(%s/%s): not found", coll, id)
	}
	return b
}

// find lists a collection.
func (e *env) find(uid db.UID, coll string, q db.Query) db.Page {
	e.t.Helper()
	var p db.Page
	e.view(uid, func(tx db.Tx) error {
		var err error
		p, err = tx.FindBSOs(coll, q)
		return err
	})
	return p
}

// ids lists the ids of every live record of coll in q's order.
func (e *env) ids(uid db.UID, coll string, q db.Query) []string {
	e.t.Helper()
	q.Limit = -1
	return idsOf(e.find(uid, coll, q).Items)
}

func (e *env) collTimestamps(uid db.UID) map[string]db.Timestamp {
	e.t.Helper()
	var m map[string]db.Timestamp
	e.view(uid, func(tx db.Tx) error {
		var err error
		m, err = tx.CollectionTimestamps()
		return err
	})
	return m
}

func (e *env) storageTimestamp(uid db.UID) db.Timestamp {
	e.t.Helper()
	var ts db.Timestamp
	e.view(uid, func(tx db.Tx) error {
		var err error
		ts, err = tx.StorageTimestamp()
		return err
	})
	return ts
}

func (e *env) collTimestamp(uid db.UID, coll string) db.Timestamp {
	e.t.Helper()
	var ts db.Timestamp
	e.view(uid, func(tx db.Tx) error {
		var err error
		ts, err = tx.CollectionTimestamp(coll)
		return err
	})
	return ts
}

// now is the clock as a Timestamp, rounded up like a write's.
func (e *env) now() db.Timestamp { return db.TimestampOf(e.clock.Now()) }

// Str, Int and Rec build updates tersely.
func Str(s string) *string { return &s }

// Int returns a pointer to n.
func Int(n int64) *int64 { return &n }

// Rec is an update of id's payload.
func Rec(id, payload string) db.BSOUpdate { return db.BSOUpdate{ID: id, Payload: &payload} }

func idsOf(items []db.BSO) []string {
	out := []string{}
	for _, b := range items {
		out = append(out, b.ID)
	}
	return out
}

func equalStrings(a, b []string) bool { return slices.Equal(a, b) }

// sameBSO compares records by value, sortindex included.
func sameBSO(a, b db.BSO) bool {
	if (a.SortIndex == nil) != (b.SortIndex == nil) || a.SortIndex != nil && *a.SortIndex != *b.SortIndex {
		return false
	}
	a.SortIndex, b.SortIndex = nil, nil
	return a == b
}

// errBoom is the error test callbacks fail with.
var errBoom = errors.New("boom")

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantTS(t *testing.T, what string, got, want db.Timestamp) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %d, want %d", what, got, want)
	}
}
