package db

import (
	"context"
	"errors"
	"math"
)

// RetiredGeneration is the generation of a retired account's records:
// no FxA token can carry a later one, so every token request of the
// account fails with invalid-generation from then on (Mozilla's
// tokenserver retire_user).
const RetiredGeneration int64 = math.MaxInt64

// Errors of the Admin interface.
var (
	// ErrExists: the node (or other named thing) is there already.
	ErrExists = errors.New("db: already exists")
	// ErrInUse: the node still has users assigned to it.
	ErrInUse = errors.New("db: in use")
	// ErrAmbiguous: an FxA uid matches accounts of several issuers.
	ErrAmbiguous = errors.New("db: ambiguous")
)

// UserStatus says where a record stands.
type UserStatus string

// The statuses of a record.
const (
	// UserActive is the current record of an account: its uid is the one
	// the tokenserver hands out.
	UserActive UserStatus = "active"
	// UserReplaced is an earlier record, left behind by a key change; its
	// storage is purged after the replaced-user grace period.
	UserReplaced UserStatus = "replaced"
	// UserRetired is a record of a retired account.
	UserRetired UserStatus = "retired"
)

// UserInfo is one user record as an operator sees it.
type UserInfo struct {
	User
	Status UserStatus
	// LastActive is the user's last write (records, deletions, batches),
	// 0 when the uid never wrote. Reads leave no trace in the database.
	LastActive Timestamp
	// Records and Bytes count the uid's live (unexpired) records and
	// their payload size, as quota counts them.
	Records, Bytes int64
}

// CollectionInfo is one collection of a user.
type CollectionInfo struct {
	Name     string
	Modified Timestamp
	// Records and Bytes count the live records.
	Records, Bytes int64
}

// AccountInfo is everything an operator may want to know about one
// tokenserver account (an email of the users table): all its records and
// the current record's collections. (Account is a built-in account.)
type AccountInfo struct {
	Email string
	// Records lists every record of the account, current first.
	Records []UserInfo
	// Collections are those of the current record's uid.
	Collections []CollectionInfo
	// Quota is the account's quota override in bytes (0: no limit); nil
	// when the server-wide quota applies.
	Quota *int64
}

// DeleteResult says what DeleteUserData removed.
type DeleteResult struct {
	// UIDs are the uids whose storage was emptied.
	UIDs []UID
	// Records counts the records deleted, expired ones included.
	Records int64
}

// Node is a storage node of Mozilla's nodes table.
type Node struct {
	ID          int64
	URL         string
	Available   int64
	CurrentLoad int64
	Capacity    int64
	// Downed nodes get no newcomers (syncserver nodes drain and down).
	Downed bool
	// Backoff is the number of seconds the node tells clients to back
	// off (X-Backoff); a node backing off gets no newcomers either.
	Backoff int64
	// Users counts the current records assigned to the node.
	Users int64
}

// Stats are server-wide totals, cheap enough to read every few minutes.
type Stats struct {
	// Users counts accounts with a current record.
	Users int64
	// Records counts live records; ExpiredRecords those awaiting purge.
	Records, ExpiredRecords int64
	// DatabaseBytes is the size of the database, FreeBytes the part of it
	// a compaction (VACUUM, OPTIMIZE TABLE) would give back; -1 when the
	// backend cannot tell.
	DatabaseBytes, FreeBytes int64
	// Synchronous is what a commit survives as the store runs it: SQLite's
	// PRAGMA synchronous (FULL, NORMAL or OFF), read back from the
	// database; "" for a backend without that setting.
	Synchronous string
}

// Admin is what syncserver's administration commands and metrics need of
// a database beyond Store. Accounts are named by any of their uids; the
// operations apply to the whole account (every record of its email).
// Database failures are wrapped ErrUnavailable.
type Admin interface {
	// ResolveUser finds the current uid of an account named by a uid
	// (decimal), an email as the tokenserver stores it ("<fxa
	// uid>@<issuer>") or an FxA uid. ErrNotFound when there is none,
	// ErrAmbiguous when an FxA uid has accounts under several issuers.
	ResolveUser(ctx context.Context, who string) (UID, error)
	// ListUsers lists the current record of every account (the latest
	// one, whatever its status), or with all every record, ordered by
	// email and then newest first.
	ListUsers(ctx context.Context, all bool) ([]UserInfo, error)
	// UserInfo describes the account of uid; ErrNotFound when no record
	// has that uid.
	UserInfo(ctx context.Context, uid UID) (AccountInfo, error)
	// DeleteUserData deletes the storage of every record of uid's account
	// in short transactions; the records stay, so the tokenserver keeps
	// serving the account under its current uid and Firefox finds an
	// empty server and uploads everything again. The current uid's
	// storage timestamp moves forward, so clients see the change.
	// ErrNotFound when no record has that uid.
	DeleteUserData(ctx context.Context, uid UID) (DeleteResult, error)
	// RetireUser marks every record of uid's account replaced with
	// generation RetiredGeneration, so its next token request fails; its
	// storage goes with the next purge after the replaced-user grace.
	// ErrNotFound when no record has that uid.
	RetireUser(ctx context.Context, uid UID) error
	// SetUserQuota sets the quota of uid's account in bytes, 0 meaning no
	// limit, whatever the server-wide quota. It survives key changes
	// (it is kept by email). ErrNotFound for an unknown uid.
	SetUserQuota(ctx context.Context, uid UID, bytes int64) error
	// ClearUserQuota removes the override: the server-wide quota applies.
	// ErrNotFound for an unknown uid; no error when there was none.
	ClearUserQuota(ctx context.Context, uid UID) error

	// Nodes lists the service's storage nodes with their user counts.
	Nodes(ctx context.Context, service string) ([]Node, error)
	// AddNode adds a node URL with the capacity; ErrExists when present.
	AddNode(ctx context.Context, service, url string, capacity int64) error
	// RemoveNode removes a node; ErrNotFound when absent, ErrInUse while
	// current records are assigned to it.
	RemoveNode(ctx context.Context, service, url string) error
	// SetNodeCapacity changes a node's capacity; ErrNotFound when absent.
	SetNodeCapacity(ctx context.Context, service, url string, capacity int64) error
	// SetNodeDowned sets or clears a node's downed flag: a downed node
	// gets no newcomers, its users stay. ErrNotFound when absent.
	SetNodeDowned(ctx context.Context, service, url string, downed bool) error
	// SetNodeBackoff sets the seconds the node tells its clients to back
	// off, 0 for none. ErrNotFound when absent.
	SetNodeBackoff(ctx context.Context, service, url string, seconds int64) error
	// UnassignNode marks every current record on the node replaced, as
	// Mozilla's unassign_node does: each of those accounts gets a new
	// record (a new uid, an empty storage) on a live node at its next
	// token request. It returns how many records it marked.
	// ErrNotFound when the node is absent.
	UnassignNode(ctx context.Context, service, url string) (int64, error)

	// Stats reads the server-wide totals from indexes and the database's
	// own bookkeeping, never the records themselves.
	Stats(ctx context.Context) (Stats, error)
	// SchemaVersion is the newest migration applied to the database.
	SchemaVersion(ctx context.Context) (int, error)
}

// QuotaTx is implemented by the Tx of a Store that keeps per-account quota
// overrides (Admin.SetUserQuota), so that the storage quota check reads
// the override in the write's own transaction.
type QuotaTx interface {
	// UserQuota returns the transaction user's quota override in bytes (0:
	// no limit); ok is false when the server-wide quota applies.
	UserQuota() (bytes int64, ok bool, err error)
}
