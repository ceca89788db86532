package sqldb

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"
)

// Querier is what a dialect hook may run SQL on: a *sql.Tx, *sql.Conn or
// *sql.DB.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Dialect is everything that differs between the SQL databases syncserver
// runs on. The shared code in this package writes portable SQL with "?"
// placeholders and asks the dialect only for the few things that cannot be
// said portably, so that a backend is a DSN, a pool, its migrations and
// these hooks. Nil hooks take the documented defaults (which suit SQLite
// and PostgreSQL).
type Dialect struct {
	// Name is used in log lines and error messages ("sqlite", "mysql").
	Name string

	// Migrations holds the numbered schema migrations, files named
	// NNNN_name.sql (see migrate.go for the rules).
	Migrations fs.FS

	// UsersDDL creates Mozilla's tokenserver users table, named users:
	// the first statement creates the table, the others its indexes. It is
	// run by migration 3 on a database without a users table and by
	// EnsureNode when it converts a legacy single-node users table. The
	// uid column must never hand out an id twice (AUTOINCREMENT, SERIAL).
	UsersDDL []string

	// DollarPlaceholders rewrites "?" to "$1", "$2"… (PostgreSQL).
	DollarPlaceholders bool

	// LockUser is appended to the SELECT of a user's user_meta row at the
	// start of a write transaction to serialise the user's writers
	// (" FOR UPDATE" on MySQL and PostgreSQL), and to the SELECT of the
	// services row to serialise user allocations. SQLite leaves it empty:
	// its writer transactions are BEGIN IMMEDIATE, which serialises every
	// writer of the file. When it is set, the user_meta row is created
	// first so that there is something to lock.
	LockUser string

	// DeleteChunk, when above 0, is the most records DeleteCollection
	// deletes in the user's transaction; the rest go afterwards, in
	// transactions of DeleteChunk records (see purgeCollection). SQLite
	// sets it: its one writer would otherwise be held for the whole
	// delete (half a second for 50,000 records), and every other user's
	// write would wait that long. MySQL and PostgreSQL lock rows, not the
	// database, and delete in one statement.
	DeleteChunk int

	// FindIndex, when set, names an index of bso that holds every column
	// FindBSOs filters and sorts on (userid, collection, modified, id,
	// ttl, sortindex). FindBSOs then picks a page's keys off that index
	// alone (an index hint, since the planner may prefer a narrower index
	// that has the same order) and reads only the page's rows whole,
	// rather than every row it filters, skips or sorts. MySQL sets it:
	// InnoDB stores rows in primary-key order, so each row a secondary
	// index leads to is another descent of the primary key. Empty: one
	// plain SELECT (SQLite and PostgreSQL, whose listings are flat).
	FindIndex string

	// Upsert returns the clause that follows "INSERT INTO t (…) VALUES
	// (…)" or "INSERT INTO t (…) SELECT …" so that a row whose key columns
	// collide updates the existing row with sets ("col = expr") instead,
	// or, when sets is empty, does nothing. Default: PostgreSQL/SQLite
	// "ON CONFLICT (keys) DO UPDATE SET …" / "DO NOTHING". MySQL answers
	// "ON DUPLICATE KEY UPDATE …".
	Upsert func(keys, sets []string) string
	// Excluded returns how a set expression of Upsert names the value the
	// INSERT proposed for col. Default "excluded.col"; MySQL "VALUES(col)".
	Excluded func(col string) string

	// Returning, when true, reads generated ids with "INSERT … RETURNING
	// col"; otherwise sql.Result.LastInsertId is used (MySQL).
	Returning bool

	// IsConflict reports errors that mean "another transaction holds a
	// lock, retry later": SQLite BUSY/LOCKED, MySQL lock wait timeout and
	// deadlock, PostgreSQL serialization failure and deadlock. They are
	// returned wrapped db.ErrConflict; everything else db.ErrUnavailable.
	IsConflict func(error) bool
	// IsFull reports errors that mean the database or its disk is full
	// (SQLite SQLITE_FULL or ENOSPC, MySQL "table is full", PostgreSQL
	// disk_full). They are returned wrapped db.ErrFull (and
	// db.ErrUnavailable): the write is rolled back, and works again once
	// space is freed.
	IsFull func(error) bool
	// IsConnection reports a lost or refused connection. A transaction
	// whose BEGIN fails that way is tried once more on another connection
	// before anything has run.
	IsConnection func(error) bool

	// Retry reports errors after which the database has rolled the
	// whole transaction back and running it again, at once, may succeed:
	// a deadlock, a Galera certification conflict, a cluster member that
	// went away or is not ready while another one can take over. The
	// transaction (its callback included, which must therefore only
	// touch the database and its own variables) runs again a bounded
	// number of times (retry.go); a commit that lost its connection is
	// never run again, since it may have been written. Nil: nothing is
	// retried.
	Retry func(error) bool

	// TableColumns returns the column names of table, or nil when the
	// table does not exist. Required.
	TableColumns func(ctx context.Context, q Querier, table string) ([]string, error)

	// BumpSequence makes the id generator of table.col hand out only ids
	// greater than min from now on (SQLite sqlite_sequence, PostgreSQL
	// setval, MySQL AUTO_INCREMENT). Required by the legacy users
	// conversion.
	BumpSequence func(ctx context.Context, q Querier, table, col string, min int64) error

	// Backup writes a complete copy of the database before a migration
	// changes legacy data and returns where it went. It is called while
	// the migration's write transaction holds the database's write lock,
	// so it must use another connection and must never overwrite an
	// existing file. Nil means the backend cannot make one (an in-memory
	// database); the migration then only logs that.
	Backup func(ctx context.Context, reason string) (string, error)

	// Changes lets the collection-timestamp cache notice writes by other
	// processes sharing the database without reading table pages. Nil
	// disables that cache: every call reads the database (MySQL and
	// PostgreSQL, which have no cheap way to learn that another server
	// committed).
	Changes ChangeDetector

	// SchemaLock serialises schema changes (migrations, the legacy users
	// conversion) across processes sharing the database. It is called
	// with a connection of its own, taken from the writer pool, and
	// returns the function that releases the lock on that connection
	// once the change has committed (MySQL GET_LOCK, PostgreSQL
	// pg_advisory_lock; both end with the session, should the process
	// die). Nil: the write transaction itself serialises them (SQLite's
	// BEGIN IMMEDIATE).
	SchemaLock func(ctx context.Context, conn *sql.Conn) (unlock func() error, err error)

	// Redundant reports an error of a migration statement that means its
	// change is there already. MySQL commits DDL at once, so a migration
	// cut short (a crash, a lost connection) is run again from its first
	// statement, and a CREATE INDEX finds the index it made the first
	// time. Nil: no error is redundant (transactional DDL).
	Redundant func(error) bool

	// Maintenance holds the hooks of compaction and database statistics
	// (maintenance.go); a nil hook means the backend cannot do that.
	Maintenance Maintenance
}

// ChangeDetector tells the collection-timestamp cache when the database
// changed. SQLite implements both methods with PRAGMA data_version, which
// is answered from the WAL index without reading pages.
type ChangeDetector interface {
	// Version returns a value that differs from the previous call's
	// whenever any connection (this process's writer included) committed
	// in between.
	Version(ctx context.Context) (int64, error)
	// WriterVersion is called on the writer's connection right after it
	// committed; its value differs from the previous call's only when
	// another process committed in between (never for the writer's own
	// commits).
	WriterVersion(ctx context.Context, conn *sql.Conn) (int64, error)
}

func (d *Dialect) upsert(keys, sets []string) string {
	if d.Upsert != nil {
		return d.Upsert(keys, sets)
	}
	if len(sets) == 0 {
		return " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO NOTHING"
	}
	return " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

func (d *Dialect) excluded(col string) string {
	if d.Excluded != nil {
		return d.Excluded(col)
	}
	return "excluded." + col
}

// set returns "col = <proposed value of col>" for an Upsert.
func (d *Dialect) set(col string) string { return col + " = " + d.excluded(col) }

// rebind rewrites the portable "?" placeholders for the dialect. The SQL of
// this package never has a "?" inside a string literal.
func (d *Dialect) rebind(query string) string {
	if !d.DollarPlaceholders || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (d *Dialect) isConflict(err error) bool { return d.IsConflict != nil && d.IsConflict(err) }

func (d *Dialect) isFull(err error) bool { return d.IsFull != nil && d.IsFull(err) }

func (d *Dialect) isConnection(err error) bool { return d.IsConnection != nil && d.IsConnection(err) }

func (d *Dialect) redundant(err error) bool { return d.Redundant != nil && d.Redundant(err) }
