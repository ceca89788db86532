package db

import (
	"context"
	"time"
)

// Purge defaults: the legacy purgettl script's grace and chunk, Mozilla's
// purge_old_records grace for replaced users.
const (
	DefaultPurgeGrace    = 24 * time.Hour
	DefaultReplacedGrace = 7 * 24 * time.Hour
	DefaultPurgeChunk    = 1000
	DefaultPurgeInterval = time.Hour
)

// PurgeOptions say what a purge deletes and how gently.
type PurgeOptions struct {
	// Grace is how long after expiry a record, or after its two hours
	// of life a batch, is kept (0 deletes as soon as it expired).
	Grace time.Duration
	// ReplacedGrace is how long after being replaced (a key change) or
	// retired a record's storage is kept. Negative keeps it forever.
	ReplacedGrace time.Duration
	// Chunk is the most rows one transaction deletes; 0 means
	// DefaultPurgeChunk. Small transactions keep the write lock short, so
	// requests never wait long behind a purge.
	Chunk int
	// Pause is the rest between two transactions, so that waiting writers
	// get the lock; 0 pauses as long as the last transaction took (at
	// least a millisecond, at most a second), negative never pauses.
	Pause time.Duration
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// Progress, when set, is called after each transaction with what it
	// deleted (and once per kind in a dry run, with the counts).
	Progress func(PurgeProgress)
}

// PurgePause returns the rest after a transaction that took d.
func (o PurgeOptions) PurgePause(d time.Duration) time.Duration {
	switch {
	case o.Pause < 0:
		return 0
	case o.Pause > 0:
		return o.Pause
	}
	return min(max(d, time.Millisecond), time.Second)
}

// What a purge deletes, as PurgeProgress.Kind.
const (
	PurgeExpiredRecords = "expired_records"
	PurgeBatches        = "batches"
	PurgeBatchItems     = "batch_items"
	PurgeReplacedUsers  = "replaced_users"
	PurgeReplacedRows   = "replaced_records"
	// PurgeAccountsRows: what expired of the built-in accounts (codes,
	// keyFetch tokens, invites, device commands).
	PurgeAccountsRows = "accounts"
)

// PurgeProgress reports one transaction of a purge.
type PurgeProgress struct {
	// Kind is one of the Purge* constants.
	Kind string
	// Rows is what this transaction deleted (or, in a dry run, would).
	Rows int64
}

// PurgeResult counts what a purge deleted (or, in a dry run, would).
type PurgeResult struct {
	// ExpiredRecords are records whose TTL ran out more than Grace ago.
	ExpiredRecords int64
	// Batches and BatchItems are abandoned batch uploads and their
	// staged records.
	Batches, BatchItems int64
	// ReplacedUIDs are replaced or retired uids whose storage was
	// emptied; ReplacedRecords the records they held.
	ReplacedUIDs    []UID
	ReplacedRecords int64
	// Accounts counts the expired rows of the built-in accounts: OAuth
	// codes, keyFetch tokens, invites and device commands (see
	// AccountsStore.PurgeAccounts). They expire without a grace: the
	// store refuses them from their expiry on.
	Accounts int64
}

// Rows is the number of rows the purge deleted in all.
func (r PurgeResult) Rows() int64 {
	return r.ExpiredRecords + r.Batches + r.BatchItems + r.ReplacedRecords + r.Accounts
}

// Purger deletes what nobody can see any more.
type Purger interface {
	// Purge deletes expired records, abandoned batches, the storage of
	// replaced and retired uids and, where the store keeps the built-in
	// accounts, their expired codes, tokens, invites and commands, in
	// transactions of at most o.Chunk rows
	// with a pause between them. Expired records are invisible already:
	// purging only gives space back, and changes no timestamp a client
	// sees. On cancellation it stops between transactions and returns
	// what it did with ctx's error. Database failures are wrapped
	// ErrUnavailable or ErrConflict.
	Purge(ctx context.Context, o PurgeOptions) (PurgeResult, error)
	// ClaimPurge reports whether this process should run the periodic
	// purge now, recording the claim: false when any process sharing the
	// database claimed one less than period ago.
	ClaimPurge(ctx context.Context, period time.Duration) (bool, error)
	// Compact gives the space of deleted rows back to the file system
	// (SQLite VACUUM, MySQL OPTIMIZE TABLE). It may block writers for as
	// long as it runs. step, when set, is told each step as it starts.
	Compact(ctx context.Context, step func(string)) error
}
