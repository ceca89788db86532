// Package db is the vocabulary of syncserver's data layer: the types every
// backend stores and returns, the sentinel errors callers match with
// errors.Is, and the Store interface that sqlite, MySQL and PostgreSQL
// implement. It imports only the standard library.
package db

import (
	"context"
	"errors"
	"unicode/utf8"
)

// UID is a user id: users.uid in the tokenserver tables and userid in the
// storage tables. The URL form is 1 to 10 decimal digits.
type UID int64

// Sentinel errors. Backends wrap them with detail; callers use errors.Is.
var (
	// ErrNotFound: the item, user or setting does not exist (or has expired).
	ErrNotFound = errors.New("db: not found")
	// ErrBatchNotFound: the batch id is unknown, expired, or belongs to
	// another user or collection.
	ErrBatchNotFound = errors.New("db: batch not found")
	// ErrConflict: a concurrent writer or lock timeout stopped the
	// transaction; nothing was written and the client may retry soon.
	ErrConflict = errors.New("db: conflict")
	// ErrUnavailable: the database cannot be reached or failed; nothing was
	// written.
	ErrUnavailable = errors.New("db: unavailable")
	// ErrFull: the database, or the disk under it, has no room for the
	// write; nothing was written. Reads go on working, and writes work
	// again once space is freed, without a restart. An error matching
	// ErrFull matches ErrUnavailable too, so callers that only know
	// "the database failed" treat it as such.
	ErrFull = errors.New("db: out of space")
	// ErrSchemaTooNew: the database was migrated by a newer syncserver.
	ErrSchemaTooNew = errors.New("db: database schema is newer than this syncserver")
	// ErrStaleClientState and friends belong to the Users interface.
	ErrStaleClientState = errors.New("db: client state was used before")
)

// NeverExpires is the absolute expiry, in epoch seconds, written for records
// without a TTL: 9999-12-31T23:59:59Z. The legacy server wrote 2,100,000,000
// (July 2036); backends read that value as "never" too.
const NeverExpires int64 = 253402300799

// LegacyNeverExpires is the legacy server's "never expires" sentinel.
const LegacyNeverExpires int64 = 2100000000

// MaxTTL is the largest TTL a client may ask for, in seconds; larger values
// are ignored as if absent (the legacy server's workaround for bug 977397).
const MaxTTL int64 = 31536000

// BatchLifetime is how long a batch may stay open, in milliseconds.
const BatchLifetime Timestamp = 2 * 3600 * 1000

// ValidCollection reports whether name is a legal collection name: 1–32
// of a-z, A-Z, 0-9, '.', '_' and '-'.
func ValidCollection(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidID reports whether id is a legal BSO id: 1–64 printable ASCII
// characters (space to '~'). Every record of every write is checked, so
// it is a loop rather than a regular expression.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// BSO is a stored record as read back.
type BSO struct {
	ID       string
	Modified Timestamp
	// SortIndex is nil when the record has none.
	SortIndex *int64
	Payload   string
	// Expires is the absolute expiry in epoch seconds (never sent to clients).
	Expires int64
}

// BSOUpdate is a write of some fields of one record. A nil field is left as
// it is on an existing record and takes its default on a new one (payload "",
// no sortindex, never expires).
type BSOUpdate struct {
	ID        string
	SortIndex *int64
	Payload   *string
	// TTL is in seconds from the write (or, in a batch, from the commit).
	TTL *int64
}

// PayloadSize is the size of the update's payload as usage and quota count
// it: the payload's length in characters, as the legacy server stored it.
func (u BSOUpdate) PayloadSize() int64 {
	if u.Payload == nil {
		return 0
	}
	// What len([]rune(p)) gives (an invalid byte counts as one), without
	// making the slice.
	return int64(runeCount(*u.Payload))
}

// runeCount is utf8.RuneCountInString, with the ASCII start of s (a whole
// payload, usually: base64 and hex) counted eight bytes at a time.
func runeCount(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if x&0x8080808080808080 != 0 {
			break
		}
	}
	return i + utf8.RuneCountInString(s[i:])
}

// Sort orders a collection listing.
type Sort int

// The orders a client may ask for. SortNone lists newest first, like
// SortNewest, as the legacy server did.
const (
	SortNone Sort = iota
	SortNewest
	SortOldest
	SortIndex
)

// Query selects records of one collection.
type Query struct {
	// IDs, when non-nil, restricts the result to those ids.
	IDs []string
	// Newer and Older are strict bounds on modified; zero means unbounded
	// for Newer, and HasOlder must be set for Older to apply.
	Newer    Timestamp
	Older    Timestamp
	HasOlder bool
	Sort     Sort
	// Limit is the most records to return; negative means no limit.
	Limit int
	// Offset continues a previous page (see ParseOffset).
	Offset Offset
	// Full asks for whole records; otherwise only ids are filled.
	Full bool
}

// Page is one page of a collection listing.
type Page struct {
	Items []BSO
	// Next is the X-Weave-Next-Offset token, or "" when nothing follows.
	Next string
}

// Usage is a collection's or the whole storage's live content.
type Usage struct {
	Count int64
	Bytes int64
}

// Batch describes an open batch upload.
type Batch struct {
	ID int64
	// Records and Bytes are what has been staged so far.
	Records int64
	Bytes   int64
}

// Store is a syncserver database. Every method is safe for concurrent use.
type Store interface {
	// View runs fn in a read-only transaction over uid's data. fn's error is
	// returned as is; database failures are wrapped ErrUnavailable. fn must
	// not call the Store itself: the transaction may hold the only
	// connection (an in-memory sqlite database).
	View(ctx context.Context, uid UID, fn func(Tx) error) error
	// Update runs fn in a write transaction over uid's data. The transaction
	// is serialised with every other write of the same user and its
	// Timestamp is strictly greater than every timestamp the user's data
	// holds (the clock time, or the last write + 10 ms). If fn returns an
	// error nothing is written and the error is returned as is. Otherwise
	// the commit's error is returned: ErrConflict when a concurrent writer
	// won, ErrUnavailable when the database failed. A database error inside
	// the transaction dooms it: later Tx calls fail with the same error and
	// Update returns it without committing, even if fn returned nil (so
	// reporting a failed item and going on never commits half a request).
	// As for View, fn must not call the Store itself. fn may run more than
	// once: when the database rolls the transaction back by itself (a
	// deadlock, a Galera certification conflict, a cluster member lost
	// before the commit) Update runs it again, a bounded number of times,
	// so fn must only set its own variables, never append to them.
	Update(ctx context.Context, uid UID, fn func(Tx) error) error
	// CollectionTimestamps returns uid's storage timestamp and the
	// timestamp of each collection (info/collections). It answers from
	// memory when the user's data did not change since it was last read,
	// including changes made by other processes sharing the database.
	CollectionTimestamps(ctx context.Context, uid UID) (Timestamp, map[string]Timestamp, error)
	// Setting returns a server-wide setting, ErrNotFound when absent.
	Setting(ctx context.Context, name string) (string, error)
	// InitSetting stores value under name unless a value is already
	// there, and returns the stored value either way.
	InitSetting(ctx context.Context, name, value string) (string, error)
	// Users is the tokenserver user store in the same database.
	Users() Users
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. In-flight calls must be finished.
	Close() error
}

// Tx is one transaction over one user's data, valid only inside the
// View or Update callback. Methods that write return ErrReadOnly in a View.
// Database failures are wrapped ErrUnavailable (or ErrConflict).
type Tx interface {
	// Timestamp is the transaction's time, fixed at begin: in Update, the
	// modified time every write of this transaction gets.
	Timestamp() Timestamp
	// StorageTimestamp is the time of the user's last write, including
	// deletions; 0 for a user with no data.
	StorageTimestamp() (Timestamp, error)
	// CollectionTimestamps maps each of the user's collections to its
	// last-modified time.
	CollectionTimestamps() (map[string]Timestamp, error)
	// CollectionUsage maps each collection with live records to their
	// count and payload size.
	CollectionUsage() (map[string]Usage, error)
	// StorageUsage is the user's total live payload size.
	StorageUsage() (int64, error)
	// CollectionTimestamp is the collection's last-modified time, or 0 if
	// the user has no such collection.
	CollectionTimestamp(coll string) (Timestamp, error)
	// BSOTimestamp is the record's modified time, or 0 if it does not
	// exist or has expired.
	BSOTimestamp(coll, id string) (Timestamp, error)
	// GetBSO reads one live record; ErrNotFound if missing or expired.
	GetBSO(coll, id string) (BSO, error)
	// FindBSOs lists live records of a collection. A missing collection
	// gives an empty page. Without q.Full only ID and Modified are filled.
	FindBSOs(coll string, q Query) (Page, error)

	// PutBSO creates or updates one record at Timestamp() and bumps the
	// collection. modified changes only when the payload is written or
	// the record is new.
	PutBSO(coll string, u BSOUpdate) error
	// PostBSOs applies PutBSO's rules to each update, all at Timestamp(),
	// and bumps the collection even when updates is empty.
	PostBSOs(coll string, updates []BSOUpdate) error
	// DeleteBSO deletes one live record and bumps the collection;
	// ErrNotFound if missing or expired.
	DeleteBSO(coll, id string) error
	// DeleteBSOs deletes the listed records, expired ones included, and
	// bumps the collection (creating it) even when none matched.
	DeleteBSOs(coll string, ids []string) error
	// DeleteCollection deletes the collection, its records and its open
	// batches (a commit after the delete must not bring records back). The
	// storage timestamp moves to Timestamp(); no error if it is missing.
	DeleteCollection(coll string) error
	// DeleteStorage deletes all of the user's collections, records and open
	// batches. The storage timestamp moves to Timestamp().
	DeleteStorage() error

	// CreateBatch opens a batch for the collection; its id is
	// Timestamp() + uid%10 in milliseconds, as the legacy server made them.
	// It does not touch the collection's timestamp, but the user's next
	// transaction gets a later Timestamp() (so the next batch another id).
	// Call it at most once per transaction.
	CreateBatch(coll string) (int64, error)
	// GetBatch returns what is staged in an open batch; ErrBatchNotFound
	// when the batch is unknown, expired (BatchLifetime) or not this
	// user's and collection's.
	GetBatch(coll string, id int64) (Batch, error)
	// AppendBatch stages updates in an open batch; an id staged twice is
	// merged field by field, later values winning.
	AppendBatch(coll string, id int64, updates []BSOUpdate) error
	// CommitBatch applies every staged record at Timestamp() (all of them
	// get modified = Timestamp(); TTLs count from it), deletes the batch
	// and bumps the collection.
	CommitBatch(coll string, id int64) error
}

// ErrReadOnly is returned by write methods of a View transaction.
var ErrReadOnly = errors.New("db: write in a read-only transaction")
