// Package sqldb is syncserver's one database/sql implementation of
// db.Store, shared by the sqlite, MySQL and PostgreSQL backends. The SQL is
// portable; what is not (placeholders, upserts, lock clauses, error
// classification, schema) comes from a Dialect, so a backend only opens its
// pools, sets its connection options and fills in the hooks.
//
// Writes run on one writer pool (a single connection for SQLite) and reads
// on a reader pool. Each write transaction fixes its timestamp at begin,
// rolls back on any error of its callback, and returns the commit's error.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"syncserver/db"
)

// Config is what a backend hands to New.
type Config struct {
	Dialect Dialect
	// Writer runs every write transaction. For SQLite it must hold exactly
	// one connection, whose transactions begin IMMEDIATE.
	Writer *sql.DB
	// Reader runs read-only transactions; it may be Writer.
	Reader *sql.DB
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// Logger receives migration and cache notices; nil discards them.
	Logger *slog.Logger
	// CacheSize is how many users' collection timestamps are kept in
	// memory; 0 means DefaultCacheSize, negative disables the cache.
	CacheSize int
	// OnClose releases whatever else the backend opened; Close calls it
	// before closing the pools.
	OnClose func() error
	// Committed, when set, is called after every commit of a write
	// transaction, with the write gate still held: it must return at
	// once (SQLite's checkpointer takes it as a nudge to look at the
	// WAL's size).
	Committed func()
	// PoolTimeout bounds the wait for a connection of a pool, connecting
	// included ([storage] pool_timeout); past it the call fails with
	// db.ErrUnavailable. 0 waits as long as the caller's context.
	PoolTimeout time.Duration
	// Lazy lets New succeed while the database cannot be reached
	// (Dialect.IsConnection): the Store then migrates on first use, and
	// until that succeeds every call, Ping included, fails with
	// db.ErrUnavailable. A server can so start before its database
	// server and become healthy when it comes up.
	Lazy bool
	// Inspect opens the database to look at it without changing it
	// (syncserver check): New applies no migration and makes no cache,
	// every write fails with db.ErrReadOnly (the legacy users conversion
	// of EnsureNode included), and Pending says which migrations the
	// server would apply at its start.
	Inspect bool
}

// Log attribute keys.
const (
	logKeyVersion  = "version"
	logKeyLatest   = "latest"
	logKeyName     = "name"
	logKeyDuration = "duration"
	logKeyCopy     = "copy"
	logKeyTables   = "tables"
	logKeyTable    = "table"
	logKeyRows     = "rows"
	logKeyNode     = "node"
	logKeyMaxUID   = "max_uid"
	logKeyError    = "error"
)

// DefaultCacheSize is the number of users whose info/collections answer is
// cached when Config.CacheSize is 0: a few MB at most.
const DefaultCacheSize = 10000

// Store implements db.Store over database/sql.
type Store struct {
	d      Dialect
	writer *sql.DB
	reader *sql.DB
	now    func() time.Time
	log    *slog.Logger
	// keepLeftovers stops Update from deleting what DeleteCollection
	// left (tests of the state in between).
	keepLeftovers bool
	onClose       func() error
	committed     func()

	names *nameCache
	// cache is set by init; cacheSize is what it is made with.
	cache     *tsCache
	cacheSize int
	// bsoUpsert holds the record upserts by bsoUpsertSQL's field mask;
	// sqlStage and sqlApply stage and apply batch records;
	// sqlTimestamps reads info/collections.
	bsoUpsert                         [8]string
	sqlStage, sqlApply, sqlTimestamps string

	// usersLegacy is set while the users table still has the legacy
	// single-node layout; EnsureNode converts it.
	usersLegacy atomic.Bool
	// releaseRate is Mozilla's capacity_release_rate in millionths (see
	// SetCapacityReleaseRate); 0 means DefaultCapacityReleaseRate.
	releaseRate atomic.Int64
	// serviceIDs maps a service name to its services row id, which never
	// changes once the row exists (Mozilla's tokenserver caches it too),
	// so that a user lookup needs no join on services.
	serviceIDs sync.Map

	poolTimeout time.Duration
	// retries counts the transactions run again (retry.go).
	retries atomic.Int64
	// writeGate, when the writer pool has one connection (SQLite),
	// queues the writes in arrival order (see enterWriteGate);
	// gateWaiting counts the writes waiting at it, for tests.
	writeGate   chan struct{}
	gateWaiting atomic.Int64
	// initialised is set once the schema is migrated and the cache made
	// (at New, or, for a Lazy store, at the first call the database
	// answered). initMu serialises the attempts; initErr is the last
	// failure, answered without a new attempt for initRetry.
	initialised atomic.Bool
	initMu      sync.Mutex
	initErr     error
	initAt      time.Time

	// inspect is Config.Inspect; schemaAt, schemaLatest and schemaLegacy
	// are what Pending reports, read at init.
	inspect                bool
	schemaAt, schemaLatest int
	schemaLegacy           bool

	mu sync.Mutex
	// backup is the pre-migration copy this Store made at open, if any.
	backup string

	closeOnce sync.Once
	closeErr  error
}

var _ db.Store = (*Store)(nil)

// New opens a Store on the backend's pools and brings the schema up to
// date. It fails with db.ErrSchemaTooNew when a newer syncserver migrated
// the database.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Writer == nil || cfg.Dialect.TableColumns == nil || cfg.Dialect.Migrations == nil {
		return nil, errors.New("sqldb: Config needs Writer, Dialect.TableColumns and Dialect.Migrations")
	}
	s := &Store{
		d:           cfg.Dialect,
		writer:      cfg.Writer,
		reader:      cfg.Reader,
		now:         cfg.Now,
		log:         cfg.Logger,
		onClose:     cfg.OnClose,
		committed:   cfg.Committed,
		names:       newNameCache(),
		poolTimeout: cfg.PoolTimeout,
		inspect:     cfg.Inspect,
	}
	if s.reader == nil {
		s.reader = s.writer
	}
	if s.writer.Stats().MaxOpenConnections == 1 {
		s.writeGate = make(chan struct{}, 1)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for mask := range s.bsoUpsert {
		s.bsoUpsert[mask] = s.d.rebind(s.bsoUpsertSQL(mask, 1))
	}
	s.sqlStage = s.d.rebind(s.buildStageSQL(1))
	s.sqlApply = s.d.rebind(s.buildApplySQL())
	s.sqlTimestamps = s.d.rebind(timestampsSQL)
	s.cacheSize = cfg.CacheSize
	if s.cacheSize == 0 {
		s.cacheSize = DefaultCacheSize
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	err := s.init(ctx)
	switch {
	case err == nil:
	case cfg.Lazy && (s.d.isConnection(err) || errors.Is(err, errPoolTimeout)):
		s.initErr, s.initAt = err, time.Now()
		s.log.Warn("the database cannot be reached; serving will start once it answers", logKeyError, err.Error())
	default:
		return nil, err
	}
	return s, nil
}

// initRetry is how long a Lazy store answers with its last failure before
// it tries the database again, so that a burst of requests during an
// outage does not become a burst of connection attempts.
const initRetry = time.Second

// init brings the schema up to date and makes the cache. The caller holds
// initMu.
func (s *Store) init(ctx context.Context) error {
	if s.inspect {
		if err := s.readSchemaVersions(ctx); err != nil {
			return err
		}
		if err := s.checkUsersLayout(ctx); err != nil {
			return err
		}
		s.initialised.Store(true)
		return nil
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.checkUsersLayout(ctx); err != nil {
		return err
	}
	cache, err := newTSCache(ctx, s, s.cacheSize)
	if err != nil {
		return err
	}
	s.cache = cache
	s.initialised.Store(true)
	return nil
}

// ready makes sure the Store is initialised, trying again when a Lazy
// store could not reach its database so far. Every entry point of the
// Store calls it, through read and write.
func (s *Store) ready(ctx context.Context) error {
	if s.initialised.Load() {
		return nil
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if s.initialised.Load() {
		return nil
	}
	if s.initErr != nil && time.Since(s.initAt) < initRetry {
		return s.initErr
	}
	if err := s.init(ctx); err != nil {
		s.initErr, s.initAt = err, time.Now()
		return err
	}
	s.initErr = nil
	s.log.Info("the database answers: schema up to date")
	return nil
}

// Close releases the database; calling it again does nothing. In-flight
// calls must be finished.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.onClose != nil {
			errs = append(errs, s.onClose())
		}
		if s.reader != s.writer {
			errs = append(errs, s.reader.Close())
		}
		errs = append(errs, s.writer.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Ping checks that the database answers a query (and, for a Lazy store
// that could not reach it so far, migrates it).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	conn, err := s.conn(ctx, s.reader)
	if err != nil {
		return err
	}
	defer conn.Close()
	var one int
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return s.dbErr(err)
	}
	return nil
}

// errPoolTimeout: no connection within Config.PoolTimeout, the database
// being unreachable or every connection busy.
var errPoolTimeout = errors.New("no database connection within pool_timeout")

// enterWriteGate waits, at most poolTimeout, for the writes that arrived
// before this one, and returns the function that lets the next one in.
// database/sql hands a freed connection to a waiting request chosen at
// random, so with one writer connection and uploads queued behind it, a
// few waited many times as long as the others: that unfairness, not the
// writes' cost, made the p99 of uploads under load. Senders blocked on a
// channel are served first come, first served.
func (s *Store) enterWriteGate(ctx context.Context) (leave func(), err error) {
	leave = func() { <-s.writeGate }
	select {
	case s.writeGate <- struct{}{}:
		return leave, nil
	default:
	}
	var timeout <-chan time.Time
	if s.poolTimeout > 0 {
		t := time.NewTimer(s.poolTimeout)
		defer t.Stop()
		timeout = t.C
	}
	s.gateWaiting.Add(1)
	defer s.gateWaiting.Add(-1)
	select {
	case s.writeGate <- struct{}{}:
		return leave, nil
	case <-ctx.Done():
		return nil, s.dbErr(ctx.Err())
	case <-timeout:
		return nil, s.dbErr(fmt.Errorf("%w (%v): %w", errPoolTimeout, s.poolTimeout, context.DeadlineExceeded))
	}
}

// HoldWrites runs fn while this Store's writes wait: it enters the write
// gate like a write (where the writer pool has one connection), so no
// write transaction of this process is open while fn runs and none begins
// before it returns. SQLite's checkpointer uses it to let the WAL start
// over under a steady stream of writes, which a checkpoint running
// beside them never catches up with. Other processes' writes are not
// held.
func (s *Store) HoldWrites(ctx context.Context, fn func() error) error {
	if s.writeGate != nil {
		leave, err := s.enterWriteGate(ctx)
		if err != nil {
			return err
		}
		defer leave()
	}
	return fn()
}

// conn takes a connection from pool, waiting at most poolTimeout.
func (s *Store) conn(ctx context.Context, pool *sql.DB) (*sql.Conn, error) {
	wait := ctx
	if s.poolTimeout > 0 {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, s.poolTimeout)
		defer cancel()
	}
	conn, err := pool.Conn(wait)
	if err != nil {
		if ctx.Err() == nil && wait.Err() != nil {
			err = fmt.Errorf("%w (%v): %w", errPoolTimeout, s.poolTimeout, err)
		}
		return nil, s.dbErr(err)
	}
	return conn, nil
}

// BackupPath is the pre-migration copy of the database this Store wrote
// when it opened a legacy database, or "".
func (s *Store) BackupPath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backup
}

// View runs fn in a read-only transaction over uid's data.
func (s *Store) View(ctx context.Context, uid db.UID, fn func(db.Tx) error) error {
	return s.read(ctx, func(q *querier) error {
		now := s.now()
		t := &tx{querier: q, uid: uid, ts: db.TimestampOf(now), now: db.Timestamp(now.UnixMilli()), nowS: now.Unix()}
		return fn(t)
	})
}

// Update runs fn in a write transaction over uid's data, serialised with
// the user's other writers, at a timestamp later than every timestamp the
// user's data holds.
//
// A DeleteCollection of more than Dialect.DeleteChunk records commits
// the collection deleted and hidden, and Update returns once the rest of
// its records are deleted in short transactions of their own; a failure
// there is logged, not returned: the delete itself committed.
func (s *Store) Update(ctx context.Context, uid db.UID, fn func(db.Tx) error) error {
	var purge []int64
	err := s.write(ctx, func(q *querier) error {
		t := &tx{querier: q, uid: uid, write: true}
		if err := t.begin(); err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		purge = t.purge
		return t.finish()
	})
	if err == nil && len(purge) > 0 && !s.keepLeftovers {
		if perr := s.purgeCollection(ctx, uid, purge); perr != nil {
			s.log.Warn("deleting the records of a deleted collection: the rest go at the next write to it", "uid", uid, "err", perr)
		}
	}
	return err
}

// querier runs the SQL of one transaction with the dialect's placeholders
// and error mapping, and collects what the commit must publish.
type querier struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
	// conn runs the statements when tx is nil (readOne).
	conn *sql.Conn

	// newNames are collection names this transaction inserted; they enter
	// the name cache only once the commit succeeded.
	newNames []nameID
	// changedUser is set when a user's storage changed, so the
	// collection-timestamp cache must forget it.
	changedUser *db.UID
	// failed is the first database error. It dooms the transaction:
	// SQLite rolls a transaction back by itself on some errors (disk
	// full, I/O error), after which further statements would commit one
	// by one. Later statements fail with it, and so does the commit.
	failed error
}

func (q *querier) exec(query string, args ...any) (sql.Result, error) {
	if q.failed != nil {
		return nil, q.failed
	}
	r, err := q.runner().ExecContext(q.ctx, q.s.d.rebind(query), args...)
	return r, q.fail(err)
}

func (q *querier) query(query string, args ...any) (*sql.Rows, error) {
	if q.failed != nil {
		return nil, q.failed
	}
	rows, err := q.runner().QueryContext(q.ctx, q.s.d.rebind(query), args...)
	return rows, q.fail(err)
}

// scan reads one row into dest; sql.ErrNoRows is returned as is.
func (q *querier) scan(query string, args []any, dest ...any) error {
	if q.failed != nil {
		return q.failed
	}
	err := q.runner().QueryRowContext(q.ctx, q.s.d.rebind(query), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return q.fail(err)
}

// runner is what runs the statements: the transaction, or for readOne
// the connection.
func (q *querier) runner() interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
} {
	if q.tx != nil {
		return q.tx
	}
	return q.conn
}

// fail maps a database error and remembers the first one.
func (q *querier) fail(err error) error {
	if err = q.s.dbErr(err); err != nil && q.failed == nil {
		q.failed = err
	}
	return err
}

// read runs body in a read-only transaction on the reader pool, once the
// Store is initialised.
func (s *Store) read(ctx context.Context, body func(*querier) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.retrying(ctx, "read", func() (error, bool) { return s.readNow(ctx, body), false })
}

// readOne runs body, which must run a single statement (consistent by
// itself), on a connection of the reader pool without a transaction
// around it: no BEGIN and COMMIT, two round trips fewer on a database
// server. The token endpoint's user lookup takes this path.
func (s *Store) readOne(ctx context.Context, body func(*querier) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.retrying(ctx, "read", func() (error, bool) { return s.readOneNow(ctx, body), false })
}

func (s *Store) readOneNow(ctx context.Context, body func(*querier) error) error {
	conn, err := s.conn(ctx, s.reader)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := &querier{s: s, ctx: ctx, conn: conn}
	if err := body(q); err != nil {
		return err
	}
	return q.failed
}

// readNow is read without waiting for initialisation (migrations use it).
func (s *Store) readNow(ctx context.Context, body func(*querier) error) error {
	conn, sqltx, err := s.begin(ctx, s.reader, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer conn.Close()
	defer sqltx.Rollback() // a no-op after Commit
	q := &querier{s: s, ctx: ctx, tx: sqltx}
	if err := body(q); err != nil {
		return err
	}
	if q.failed != nil {
		return q.failed
	}
	return s.dbErr(sqltx.Commit())
}

// write runs body in a write transaction on the writer and commits it,
// once the Store is initialised. Any error of body rolls everything back
// and is returned as is; the commit's error is always returned. After the
// commit the caches learn what changed.
func (s *Store) write(ctx context.Context, body func(*querier) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return s.retrying(ctx, "write", func() (error, bool) { return s.writeOnce(ctx, body) })
}

// writeNow is write without waiting for initialisation and without
// running body again after a retryable failure (migrations use it: they
// hold the schema lock on a connection of their own).
func (s *Store) writeNow(ctx context.Context, body func(*querier) error) error {
	err, _ := s.writeOnce(ctx, body)
	return err
}

// writeOnce runs body in one write transaction and commits it. atCommit
// is set when the commit itself failed, the one failure after which the
// transaction may have been written.
func (s *Store) writeOnce(ctx context.Context, body func(*querier) error) (err error, atCommit bool) {
	if s.inspect {
		return fmt.Errorf("%w: the database is open for inspection only", db.ErrReadOnly), false
	}
	if s.writeGate != nil {
		leave, err := s.enterWriteGate(ctx)
		if err != nil {
			return err, false
		}
		defer leave()
	}
	conn, sqltx, err := s.begin(ctx, s.writer, nil)
	if err != nil {
		return err, false
	}
	defer conn.Close()
	done := false
	defer func() {
		if !done {
			_ = sqltx.Rollback()
		}
	}()
	q := &querier{s: s, ctx: ctx, tx: sqltx}
	if err := body(q); err != nil {
		return err, false
	}
	if q.failed != nil {
		// The callback went on after a database error: never commit
		// what is left of the transaction.
		return q.failed, false
	}
	err = sqltx.Commit()
	done = true
	if err == nil {
		s.names.addAll(q.newNames)
		if s.committed != nil {
			s.committed()
		}
	}
	// A failed commit may still have reached the disk: forget the user's
	// cached timestamps either way.
	if s.cache != nil {
		s.cache.afterCommit(ctx, conn, q.changedUser)
	}
	return s.dbErr(err), err != nil
}

// begin takes a connection of pool and begins a transaction on it, trying
// a second connection once when the first turned out to be dead.
func (s *Store) begin(ctx context.Context, pool *sql.DB, opts *sql.TxOptions) (*sql.Conn, *sql.Tx, error) {
	for attempt := 0; ; attempt++ {
		conn, err := s.conn(ctx, pool)
		if err != nil {
			return nil, nil, err
		}
		sqltx, err := conn.BeginTx(ctx, opts)
		if err == nil {
			return conn, sqltx, nil
		}
		lost := s.d.isConnection(err)
		if lost {
			// Never hand the dead connection out again.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
		if attempt == 0 && lost {
			continue
		}
		return nil, nil, s.dbErr(err)
	}
}

// dbErr maps a database error to the db package's sentinels: lock and busy
// errors to db.ErrConflict, a full database or disk to db.ErrFull (which
// matches db.ErrUnavailable too), everything else to db.ErrUnavailable.
// Errors already mapped, and sql.ErrNoRows, pass through.
func (s *Store) dbErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, db.ErrUnavailable), errors.Is(err, db.ErrConflict), errors.Is(err, sql.ErrNoRows):
		return err
	case s.d.isConflict(err):
		return fmt.Errorf("%w: %s: %w", db.ErrConflict, s.d.Name, err)
	case s.d.isFull(err):
		return fmt.Errorf("%w: %w: %s: %w", db.ErrFull, db.ErrUnavailable, s.d.Name, err)
	default:
		return fmt.Errorf("%w: %s: %w", db.ErrUnavailable, s.d.Name, err)
	}
}
