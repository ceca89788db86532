// Package sqlite is syncserver's embedded database: db.Store on a SQLite
// file through github.com/mattn/go-sqlite3. It opens the file (or an
// in-memory database), sets the connection options and hands sqldb its
// dialect and embedded schema; everything else is sqldb's.
//
// One writer connection runs every write transaction, beginning IMMEDIATE
// so that it takes the file's write lock at once (never a deadlocked
// upgrade from a read lock); a pool of reader connections serves reads in
// parallel, which WAL allows while the writer writes. Several processes may
// share the file: they queue on the write lock for up to BusyTimeout.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"

	"syncserver/db/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Memory is the path that opens a private in-memory database.
const Memory = ":memory:"

// Options tune Open. The zero value is a durable, production setting.
type Options struct {
	// Synchronous is PRAGMA synchronous: "FULL" (the default: a commit
	// survives a power cut), "NORMAL" (in WAL mode a commit survives a
	// crash of the process but the last ones may be lost on power
	// failure; faster) or "OFF" (tests).
	Synchronous string
	// BusyTimeout is how long a write waits for another process's write
	// lock before failing with db.ErrConflict; default 10 s.
	BusyTimeout time.Duration
	// Readers is the size of the reader pool; default max(4, GOMAXPROCS).
	Readers int
	// CacheSize is sqldb.Config.CacheSize (info/collections cache).
	CacheSize int
	// PageCacheBytes is sqlite's page cache (PRAGMA cache_size) of each
	// reader connection; the writer's is WriterCacheFactor times it. Zero
	// or less selects DefaultPageCacheBytes. See dbFile.cacheKiB for why
	// the two differ.
	PageCacheBytes int64
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
	// Logger receives migration notices; default discards.
	Logger *slog.Logger
	// ReadOnly opens an existing file to look at it without changing it
	// (syncserver check): no migration, no journal-mode change, no write
	// (sqldb.Config.Inspect). A missing file is an error.
	ReadOnly bool

	// wal overrides the WAL checkpoint limits, for tests.
	wal walLimits
}

// DefaultPageCacheBytes is the page cache of a reader connection by
// default. sqlite's own default is 2 MiB for every connection: with the
// writer, four readers and the data_version watcher that could reach 12 MiB
// of C memory, outside what Go's memory limit sees.
const DefaultPageCacheBytes = 512 << 10

// WriterCacheFactor is how many times a reader's page cache the writer
// connection gets.
const WriterCacheFactor = 4

// ErrSynchronous is the error of a Synchronous level Open does not know.
var ErrSynchronous = errors.New("sqlite: synchronous must be FULL, NORMAL or OFF")

// Validate reports what Open would refuse in opts before touching a
// file: an unknown Synchronous level. It is the one place that knows the
// levels; syncserver's start-up checks (and so its check command) ask it
// rather than keeping a list of their own. The value is not echoed: the
// caller names the setting and quotes it as it sees fit.
func (o Options) Validate() error {
	switch synchronous(o.Synchronous) {
	case "FULL", "NORMAL", "OFF":
		return nil
	}
	return ErrSynchronous
}

// synchronous is the PRAGMA synchronous level of a Synchronous option.
func synchronous(s string) string {
	if s = strings.ToUpper(strings.TrimSpace(s)); s == "" {
		return "FULL"
	}
	return s
}

// Open opens (creating if needed) the database at path, or a private
// in-memory database for Memory, and migrates it. A new file is created
// readable by its owner only, like the legacy server's.
func Open(ctx context.Context, path string, opts Options) (*sqldb.Store, error) {
	s, _, err := open(ctx, path, opts)
	return s, err
}

// pools are the connection pools of a store, and its checkpointer (nil
// but for a file opened to write), for tests.
type pools struct {
	writer, reader *sql.DB
	ckpt           *checkpointer
}

func open(ctx context.Context, path string, opts Options) (*sqldb.Store, pools, error) {
	if err := opts.Validate(); err != nil {
		return nil, pools{}, fmt.Errorf("%w, not %q", err, opts.Synchronous)
	}
	syncMode := synchronous(opts.Synchronous)
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = max(4, runtime.GOMAXPROCS(0))
	}
	cache := opts.PageCacheBytes
	if cache <= 0 {
		cache = DefaultPageCacheBytes
	}
	cacheKiB := max(cache>>10, 1)
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, pools{}, err
	}
	d := dialect(migrations)

	if path == Memory {
		f := dbFile{uri: fmt.Sprintf("file:syncserver-%016x?mode=memory&cache=shared", rand.Uint64()),
			memory: true, sync: syncMode, busy: busy, cacheKiB: cacheKiB}
		return openMemory(ctx, d, f, opts)
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, pools{}, fmt.Errorf("sqlite: %w", err)
	}
	if opts.ReadOnly {
		return openReadOnly(ctx, d, dbFile{uri: "file:" + escapePath(abs), sync: syncMode, busy: busy, readOnly: true, cacheKiB: cacheKiB}, abs, opts)
	}
	if err := createPrivate(abs); err != nil {
		return nil, pools{}, err
	}
	limits := opts.wal.orDefault()
	f := dbFile{uri: "file:" + escapePath(abs), sync: syncMode, busy: busy, cacheKiB: cacheKiB,
		autoCheckpoint: limits.writer}
	w := sql.OpenDB(f.connector(writer))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	r := sql.OpenDB(f.connector(reader))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	// A connection of its own for PRAGMA data_version (see sqldb's cache).
	dv := sql.OpenDB(f.connector(reader))
	dv.SetMaxOpenConns(1)
	dv.SetMaxIdleConns(1)
	changes := &dataVersion{db: dv, path: abs}
	d.Changes = changes
	d.Backup = func(ctx context.Context, reason string) (string, error) {
		return backup(ctx, f, abs, reason)
	}
	ckpt := newCheckpointer(f, abs, limits, opts.Logger)
	onClose := func() error { return errors.Join(ckpt.close(), changes.Close()) }
	s, err := sqldb.New(ctx, sqldb.Config{Dialect: d, Writer: w, Reader: r,
		Now: opts.Now, Logger: opts.Logger, CacheSize: opts.CacheSize,
		Committed: ckpt.kick, OnClose: onClose})
	if err != nil {
		w.Close()
		r.Close()
		onClose()
		return nil, pools{}, err
	}
	ckpt.start(s.HoldWrites)
	return s, pools{w, r, ckpt}, nil
}

// openMemory opens a private in-memory database. One connection serves
// reads and writes: it is the only connection that ever uses the
// database, so nothing else can write it and the cache needs only this
// process's commits. database/sql closes a connection whose transaction's
// context was cancelled, so the database is a named shared-cache one that
// an idle anchor connection keeps alive across reconnections.
func openMemory(ctx context.Context, d sqldb.Dialect, f dbFile, opts Options) (*sqldb.Store, pools, error) {
	anchor := sql.OpenDB(f.connector(other))
	anchorConn, err := anchor.Conn(ctx)
	if err != nil {
		anchor.Close()
		return nil, pools{}, fmt.Errorf("sqlite: %w", err)
	}
	w := sql.OpenDB(f.connector(writer))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	d.Changes = fixedVersion{}
	closeAnchor := func() error { return errors.Join(anchorConn.Close(), anchor.Close()) }
	s, err := sqldb.New(ctx, sqldb.Config{Dialect: d, Writer: w, Reader: w,
		Now: opts.Now, Logger: opts.Logger, CacheSize: opts.CacheSize, OnClose: closeAnchor})
	if err != nil {
		w.Close()
		closeAnchor()
		return nil, pools{}, err
	}
	return s, pools{writer: w, reader: w}, nil
}

// openReadOnly opens an existing file read-only, for sqldb's Inspect mode:
// one pool of reader connections, no change detector (Inspect makes no
// cache) and no backup.
func openReadOnly(ctx context.Context, d sqldb.Dialect, f dbFile, abs string, opts Options) (*sqldb.Store, pools, error) {
	if _, err := os.Stat(abs); err != nil {
		return nil, pools{}, fmt.Errorf("sqlite: %w", err)
	}
	r := sql.OpenDB(f.connector(reader))
	r.SetMaxOpenConns(2)
	r.SetMaxIdleConns(2)
	s, err := sqldb.New(ctx, sqldb.Config{Dialect: d, Writer: r, Reader: r,
		Now: opts.Now, Logger: opts.Logger, CacheSize: -1, Inspect: true})
	if err != nil {
		r.Close()
		return nil, pools{}, err
	}
	return s, pools{writer: r, reader: r}, nil
}

// createPrivate creates a missing database file with mode 0600: the users
// table holds account ids. SQLite gives its -wal and -shm files the same
// mode and owner. Created by root, the file goes to the owner of its
// directory (giveToOwnerOf).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: creating the database: %w", err)
	}
	if err := giveToOwnerOf(f, filepath.Dir(path)); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// dbFile is one database and the settings every connection to it gets.
type dbFile struct {
	// uri is the SQLite URI without query: "file:/abs/path" or, for an
	// in-memory database, "file:<name>?mode=memory&cache=shared".
	uri    string
	memory bool
	sync   string
	busy   time.Duration
	// readOnly opens with mode=ro and leaves the journal mode alone:
	// setting WAL would rewrite the header of a legacy file.
	readOnly bool
	// cacheKiB is a reader connection's page cache; the writer's is
	// WriterCacheFactor times it. In WAL mode a connection empties its
	// cache at the start of a read transaction whenever another
	// connection committed since its last one, so a reader's cache rarely
	// outlives one request while anyone syncs: it needs only the pages of
	// one transaction's walk (a 1,000-record page is about 500 KiB). The
	// writer commits every change itself, so its cache stays valid from
	// one write to the next and keeps the indexes' upper levels hot.
	// 0 leaves sqlite's default.
	cacheKiB int64
	// autoCheckpoint is the writer's PRAGMA wal_autocheckpoint, in
	// frames: the store's checkpointer copies the WAL long before (see
	// checkpoint.go). 0 leaves sqlite's default.
	autoCheckpoint int
}

// Connection roles.
const (
	writer = iota // begins IMMEDIATE: takes the write lock at once
	reader        // begins DEFERRED and refuses writes
	other         // begins DEFERRED (the anchor, backups)
)

// connector opens connections for a role and sets each one's pragmas.
func (f dbFile) connector(role int) driver.Connector {
	txlock := "deferred"
	if role == writer {
		txlock = "immediate"
	}
	sep := "?"
	if f.memory {
		sep = "&"
	}
	dsn := f.uri + sep + "_txlock=" + txlock + "&_stmt_cache_size=64"
	if f.readOnly {
		dsn += "&mode=ro"
	}
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		pragmas := []string{
			// Wait this long for another connection's (or process's)
			// lock instead of failing at once with "database is locked".
			fmt.Sprintf("PRAGMA busy_timeout = %d", f.busy.Milliseconds()),
			// FULL syncs the WAL at every commit; see Options.
			"PRAGMA synchronous = " + f.sync,
		}
		if !f.memory && !f.readOnly {
			// WAL: readers never block the writer and the writer never
			// blocks readers; it is a property of the file and stays.
			// After busy_timeout, and retried (walPragma): switching a new
			// file to WAL needs it to itself, and SQLite answers "database
			// is locked" at once, without waiting, when another process
			// or connection opening the same file holds a lock just then
			// (mod_fcgid starts several servers at once).
			pragmas = append(pragmas, walPragma)
		}
		if role == writer && f.autoCheckpoint > 0 && !f.memory && !f.readOnly {
			// Off the writes' path but past this size: see walLimits.
			pragmas = append(pragmas, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", f.autoCheckpoint))
		}
		if f.cacheKiB > 0 {
			kib := f.cacheKiB
			if role == writer {
				kib *= WriterCacheFactor
			}
			// Negative: a size in KiB rather than in pages.
			pragmas = append(pragmas, fmt.Sprintf("PRAGMA cache_size = -%d", kib))
		}
		if role == reader {
			// Every write goes through the one writer connection, which
			// is what keeps "database is locked" away within a process;
			// a write sent to a reader is a bug, and fails at once.
			pragmas = append(pragmas, "PRAGMA query_only = 1")
		}
		// foreign_keys is left off: the legacy schema has none.
		for _, p := range pragmas {
			if err := execPragma(c, p, f.busy); err != nil {
				return fmt.Errorf("sqlite: %s: %w", p, err)
			}
		}
		return nil
	}}
	return sqliteConnector{drv: drv, dsn: dsn}
}

const walPragma = "PRAGMA journal_mode = WAL"

// execPragma runs one pragma; the WAL switch is tried again while another
// connection holds the lock it needs, for up to wait (at least a second).
func execPragma(c *sqlite3.SQLiteConn, p string, wait time.Duration) error {
	deadline := time.Now().Add(max(wait, time.Second))
	for {
		_, err := c.Exec(p, nil)
		var se sqlite3.Error
		if err == nil || p != walPragma || !errors.As(err, &se) ||
			(se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type sqliteConnector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

// Connect opens a connection; its pragmas are set by the driver's hook.
func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

// Driver returns the driver that carries the pragma hook.
func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// escapePath makes a file name safe inside a "file:" URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// dialect is SQLite's part of sqldb.
func dialect(migrations fs.FS) sqldb.Dialect {
	return sqldb.Dialect{
		Name:        "sqlite",
		Migrations:  migrations,
		DeleteChunk: 1000,
		UsersDDL: []string{
			// AUTOINCREMENT: a uid is never handed out twice, even after
			// the highest row was purged (its storage may remain).
			`CREATE TABLE users (
				uid INTEGER PRIMARY KEY AUTOINCREMENT,
				service INTEGER NOT NULL,
				email VARCHAR(255) NOT NULL,
				generation BIGINT NOT NULL,
				client_state VARCHAR(32) NOT NULL,
				created_at BIGINT NOT NULL,
				replaced_at BIGINT,
				nodeid BIGINT NOT NULL,
				keys_changed_at BIGINT
			)`,
			"CREATE INDEX lookup_idx ON users (email, service, created_at)",
			"CREATE INDEX replaced_at_idx ON users (service, replaced_at)",
			"CREATE INDEX node_idx ON users (nodeid)",
		},
		Returning:    true,
		IsConflict:   isBusy,
		IsFull:       isFull,
		TableColumns: tableColumns,
		BumpSequence: bumpSequence,
		Maintenance:  maintenance(),
	}
}

// isBusy reports SQLITE_BUSY and SQLITE_LOCKED: another connection held a
// lock past the busy timeout.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// isFull reports SQLITE_FULL ("database or disk is full") and any other
// failure whose cause is a full disk or an exhausted disk quota: SQLite
// answers some of those (growing the WAL index, syncing) as an I/O error
// that carries the system's errno.
func isFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EDQUOT
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), "database or disk is full")
}

func tableColumns(ctx context.Context, q sqldb.Querier, table string) ([]string, error) {
	return sqldb.QueryStrings(ctx, q, "SELECT name FROM pragma_table_info(?)", table)
}

// bumpSequence raises AUTOINCREMENT's high-water mark, kept in
// sqlite_sequence.
func bumpSequence(ctx context.Context, q sqldb.Querier, table, _ string, min int64) error {
	res, err := q.ExecContext(ctx, "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", min, table)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = q.ExecContext(ctx, "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", table, min)
	return err
}

// backup writes a complete copy of the database next to it, named
// <path>.<reason>-<UTC time>.bak, with VACUUM INTO on a connection of its
// own (the caller's transaction holds the write lock, so the copy is the
// state just before the change). The name is claimed with O_EXCL first,
// so an earlier copy is never overwritten, and made as the database's
// owner's (giveToOwnerOf), so a copy taken by a command run as root stays
// with the database.
func backup(ctx context.Context, f dbFile, path, reason string) (string, error) {
	stamp := time.Now().UTC().Format("20060102T150405Z")
	var name string
	for i := 1; ; i++ {
		name = fmt.Sprintf("%s.%s-%s.bak", path, reason, stamp)
		if i > 1 {
			name = fmt.Sprintf("%s.%s-%s-%d.bak", path, reason, stamp, i)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		err = giveToOwnerOf(f, path)
		f.Close()
		if err != nil {
			os.Remove(name)
			return "", err
		}
		break
	}
	conn := sql.OpenDB(f.connector(other))
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", name); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// dataVersion tells when any connection of any process committed. It is
// asked on every info/collections. Its first answer is PRAGMA
// data_version, which SQLite reads from the WAL-index in shared memory
// (the -shm file); on a dedicated connection, kept open, so that the
// -shm file stays. From then on it reads the WAL-index header itself
// through a mapping of that file (shmHeader), which costs no call into
// SQLite: a third of a poll's time went to the PRAGMA. Where the file
// cannot be mapped (no -shm: not in WAL mode) or a read faults, it keeps
// to the PRAGMA, prepared on the connection and run through the driver
// directly rather than through database/sql's pool.
//
// Either way the answer is a counter that moves when what it watches
// changed, so that the two sources never mix up their values.
type dataVersion struct {
	mu   sync.Mutex
	db   *sql.DB
	path string      // the database file; "" never maps its -shm
	conn *sql.Conn   // the dedicated connection, taken on first use
	stmt driver.Stmt // PRAGMA data_version, prepared on conn
	dest []driver.Value

	shm    *shmHeader // nil: ask the PRAGMA
	noSHM  bool       // mapping failed or faulted: do not try again
	hdr    [walHeaderWords]uint64
	pragma int64 // the last data_version read
	n      int64 // the counter Version returns
}

// Version returns a value that differs from the previous call's when any
// connection (this process's writer's too) committed in between.
func (d *dataVersion) Version(ctx context.Context) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shm != nil {
		var h [walHeaderWords]uint64
		if d.shm.read(&h) {
			if h != d.hdr {
				d.hdr = h
				d.n++
			}
			return d.n, nil
		}
		// Truncated under us: back to the PRAGMA, and a change, since
		// what happened meanwhile is not known.
		d.shm.close()
		d.shm, d.noSHM = nil, true
		d.n++
	}
	if d.conn == nil {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		d.conn, d.dest = c, make([]driver.Value, 1)
	}
	v, err := d.readPragma(ctx)
	if err != nil {
		d.release()
		return 0, err
	}
	if v != d.pragma {
		d.pragma = v
		d.n++
	}
	if !d.noSHM && d.path != "" {
		// The connection has read the WAL-index: the -shm file exists
		// if the database is in WAL mode, and stays while conn is open.
		// Switching sources counts as a change (n moves), which also
		// covers a commit between the PRAGMA and the first header read.
		if m, err := mapSHM(d.path); err == nil && m.read(&d.hdr) {
			d.shm = m
			d.n++
		} else {
			if m != nil {
				m.close()
			}
			d.noSHM = true
		}
	}
	return d.n, nil
}

// readPragma runs PRAGMA data_version on the dedicated connection.
func (d *dataVersion) readPragma(ctx context.Context) (int64, error) {
	var v int64
	err := d.conn.Raw(func(dc any) error {
		if d.stmt == nil {
			st, err := dc.(driver.Conn).Prepare("PRAGMA data_version")
			if err != nil {
				return err
			}
			d.stmt = st
		}
		rows, err := d.stmt.(driver.StmtQueryContext).QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := rows.Next(d.dest); err != nil {
			return err
		}
		var ok bool
		if v, ok = d.dest[0].(int64); !ok {
			return fmt.Errorf("sqlite: data_version is %T", d.dest[0])
		}
		return nil
	})
	return v, err
}

// release drops the mapping, the statement and the connection, so the
// next Version starts afresh (after an error, the connection may be
// broken; without it, SQLite may truncate the -shm file).
func (d *dataVersion) release() {
	if d.shm != nil {
		d.shm.close()
		d.shm = nil
		d.n++ // what happened while unmapped is not known
	}
	if d.stmt != nil {
		d.conn.Raw(func(any) error { return d.stmt.Close() })
		d.stmt = nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
}

// Close releases the connection and its pool.
func (d *dataVersion) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.release()
	return d.db.Close()
}

// WriterVersion reads data_version on the writer's connection, where only
// other processes' commits show.
func (d *dataVersion) WriterVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	return v, err
}

// fixedVersion is the change detector of a private in-memory database,
// which no other process can write.
type fixedVersion struct{}

// Version is constant: only this process writes.
func (fixedVersion) Version(context.Context) (int64, error) { return 0, nil }

// WriterVersion is constant: no other process writes.
func (fixedVersion) WriterVersion(context.Context, *sql.Conn) (int64, error) { return 0, nil }
