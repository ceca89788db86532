package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A WAL checkpoint copies the pages that commits appended to the WAL back
// into the database file and syncs it, so that the WAL can start over from
// its beginning. SQLite's automatic checkpoint (every 1,000 pages) runs in
// the connection that just committed: with one writer connection, every
// write queued behind it waited for the copy and its fsync, a few percent
// of the server's time under an upload-heavy load and the largest part of
// its p99. Here the writer checkpoints only as a last resort, and a
// checkpointer of the store, on a connection of its own, does it beside
// the writes.
//
// A checkpoint running beside a stream of writes never quite catches up:
// a commit made while it copies is left for the next one, and the WAL
// starts over only when a write begins with every frame copied. So once
// the WAL is large the checkpointer holds this process's writes back for
// the moment it takes to copy the last frames and see the readers off the
// WAL (a RESTART checkpoint), and the next write starts it over.
//
// Several processes may share the file: each has its checkpointer, SQLite
// lets one checkpoint run at a time, and a checkpoint copies every
// process's commits. A process that commits looks at the WAL after its
// commits, so the WAL stays bounded as long as one of them writes; an idle
// one has nothing to add to it.

// walLimits are the WAL sizes, in frames (one page each, 4 KiB by
// default), at which it is checkpointed.
type walLimits struct {
	// passive: the checkpointer copies the WAL into the database, beside
	// the writes, once this many frames are not copied yet.
	passive uint32
	// restart: once the WAL holds this many frames, the checkpointer
	// holds this process's writes back for a RESTART checkpoint, at most
	// every restartGap.
	restart uint32
	// writer is the writer connection's own wal_autocheckpoint, the last
	// resort: should the checkpointer fall behind (another process
	// writing without a pause, a checkpoint failing), the writer
	// checkpoints past this size as SQLite does by default.
	writer int
}

// defaultWALLimits: a checkpoint every 4 MiB of WAL as SQLite's default,
// a restart at 16 MiB, the writer's own checkpoint at 64 MiB.
var defaultWALLimits = walLimits{passive: 1000, restart: 4000, writer: 16000}

// orDefault fills in the limits left zero.
func (l walLimits) orDefault() walLimits {
	if l.passive == 0 {
		l.passive = defaultWALLimits.passive
	}
	if l.restart == 0 {
		l.restart = defaultWALLimits.restart
	}
	if l.writer == 0 {
		l.writer = defaultWALLimits.writer
	}
	return l
}

const (
	// restartWait bounds how long a RESTART checkpoint, this process's
	// writes held, waits for another process's write transaction or a
	// reader of the WAL (its connection's busy_timeout). Past it the
	// checkpoint gives up and the writes go on; it is tried again after
	// restartGap.
	restartWait = 100 * time.Millisecond
	restartGap  = 250 * time.Millisecond
	// askEvery spaces the checkpoints where the WAL-index cannot be
	// mapped to read the WAL's size: each one then asks SQLite, which
	// answers by checkpointing.
	askEvery = 100 * time.Millisecond
	// logEvery spaces the warnings of failing checkpoints.
	logEvery = time.Minute
)

// checkpointer checkpoints one database file's WAL in a goroutine.
type checkpointer struct {
	db     *sql.DB // one connection, opened with the store's settings
	path   string  // the database file, whose -shm it maps
	limits walLimits
	log    *slog.Logger

	kickC chan struct{} // a commit happened; capacity 1
	// mapped is the goroutine's mapping of the -shm file, while it has
	// one: kick reads the WAL's size through it too. mapMu keeps the
	// goroutine from unmapping it while kick reads (a write may still
	// commit while the store closes).
	mapMu  sync.RWMutex
	mapped *shmHeader
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned

	startOnce, closeOnce sync.Once
	closeErr             error

	// State of the goroutine.
	nextRestart time.Time
	restarted   uint32 // the WAL's frames at the last RESTART
	lastAsk     time.Time
	lastLog     time.Time

	// Counts, for tests: checkpoints run, and RESTART checkpoints that
	// completed (the next write starts the WAL over).
	checkpoints, restarts atomic.Int64
}

// newCheckpointer prepares the checkpointer of the file f at path; start
// sets it going.
func newCheckpointer(f dbFile, path string, limits walLimits, log *slog.Logger) *checkpointer {
	db := sql.OpenDB(f.connector(other))
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &checkpointer{db: db, path: path, limits: limits, log: log,
		kickC: make(chan struct{}, 1), done: make(chan struct{})}
}

// kick tells the checkpointer that a commit happened; it never waits (it
// runs in the writer's path, write gate held). Where the WAL's size can be
// read, it wakes the goroutine only when the WAL has grown past a limit,
// not at every commit.
func (c *checkpointer) kick() {
	if !c.dueNow() {
		return
	}
	select {
	case c.kickC <- struct{}{}:
	default:
	}
}

// dueNow reports whether the WAL has grown past a limit, or true when its
// size cannot be read here.
func (c *checkpointer) dueNow() bool {
	c.mapMu.RLock()
	defer c.mapMu.RUnlock()
	if c.mapped == nil {
		return true
	}
	frames, backfilled, ok := c.mapped.walFrames()
	return !ok || c.due(frames, backfilled)
}

// start runs the checkpointer until close. hold runs a function while
// this process's writes wait (sqldb.Store.HoldWrites).
func (c *checkpointer) start(hold func(context.Context, func() error) error) {
	c.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		go c.run(ctx, hold)
	})
}

// close stops the goroutine, after a last checkpoint of what is not
// copied yet, and closes the connection. The store's writes must be over.
func (c *checkpointer) close() error {
	c.closeOnce.Do(func() {
		c.startOnce.Do(func() { close(c.done) }) // never started
		if c.cancel != nil {
			c.cancel()
		}
		<-c.done
		c.closeErr = c.db.Close()
	})
	return c.closeErr
}

func (c *checkpointer) run(ctx context.Context, hold func(context.Context, func() error) error) {
	defer close(c.done)
	conn, err := c.db.Conn(ctx)
	if err != nil {
		// The writer's own checkpoints (limits.writer) remain. A store
		// closed before the goroutine got a connection (a command that
		// opens the database for a moment) is no failure.
		if ctx.Err() == nil {
			c.warn("the WAL checkpointer could not connect; the writer checkpoints alone", err)
		}
		return
	}
	defer conn.Close()
	// The connection stays open while the -shm file is mapped, so that
	// SQLite never truncates it under the mapping.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds())); err != nil && ctx.Err() == nil {
		c.warn("the WAL checkpointer could not set its busy timeout", err)
	}
	shm, err := mapSHM(c.path)
	if err != nil {
		shm = nil // ask SQLite instead (askEvery)
	}
	c.mapMu.Lock()
	c.mapped = shm
	c.mapMu.Unlock()
	defer func() {
		c.mapMu.Lock()
		c.mapped = nil
		c.mapMu.Unlock()
		shm.close()
	}()
	for {
		select {
		case <-ctx.Done():
			// The last commits' frames, so that a process that stops
			// leaves the WAL copied for the others (the last connection
			// to close also checkpoints, if no other process has the
			// file open).
			c.checkpoint(context.Background(), conn)
			return
		case <-c.kickC:
		}
		c.check(ctx, conn, shm, hold)
	}
}

// check looks at the WAL after a commit and checkpoints it if it grew
// past the limits.
func (c *checkpointer) check(ctx context.Context, conn *sql.Conn, shm *shmHeader, hold func(context.Context, func() error) error) {
	now := time.Now()
	frames, backfilled, ok := uint32(0), uint32(0), false
	if shm != nil {
		frames, backfilled, ok = shm.walFrames()
	}
	if !ok {
		if now.Sub(c.lastAsk) < askEvery {
			return
		}
		c.lastAsk = now
		var err error
		if frames, err = c.checkpoint(ctx, conn); err != nil {
			return
		}
		backfilled = frames
	}
	pending := pendingFrames(frames, backfilled)
	// After a RESTART the WAL keeps its size until the next write starts
	// it over: no second one before that.
	restart := frames >= c.limits.restart && !now.Before(c.nextRestart) && frames != c.restarted
	if ok && (pending >= c.limits.passive || restart && pending > 0) {
		// The bulk of the copy, beside the writes.
		var err error
		if frames, err = c.checkpoint(ctx, conn); err != nil {
			return
		}
		restart = restart && frames >= c.limits.restart
	}
	if !restart {
		return
	}
	done := false
	hold(ctx, func() error {
		var err error
		done, frames, err = c.restart(ctx, conn)
		return err
	})
	if done {
		c.restarted = frames
	} else {
		// Another process's writes or a long read kept it from
		// finishing: let this process's writes go on for a while.
		c.nextRestart = time.Now().Add(restartGap)
	}
}

// due reports whether a WAL of frames, backfilled of them copied, has
// grown past a limit.
func (c *checkpointer) due(frames, backfilled uint32) bool {
	return pendingFrames(frames, backfilled) >= c.limits.passive || frames >= c.limits.restart
}

// pendingFrames is how many of the WAL's frames are not copied yet. The
// two counts are read apart (walFrames): a restart between the reads can
// make backfilled the larger.
func pendingFrames(frames, backfilled uint32) uint32 {
	return frames - min(backfilled, frames)
}

// checkpoint runs a PASSIVE checkpoint and returns the size of the WAL
// it saw, in frames. A checkpoint that could not finish (another
// connection held a lock it needs) is no error: it is tried again.
func (c *checkpointer) checkpoint(ctx context.Context, conn *sql.Conn) (frames uint32, err error) {
	_, frames, err = c.run1(ctx, conn, "PASSIVE")
	return frames, err
}

// restart runs a RESTART checkpoint: it copies every frame, waiting up
// to restartWait for another process's write, then waits as long for the
// readers still reading the WAL, so that the next write starts it over.
// done is false when it gave up waiting.
func (c *checkpointer) restart(ctx context.Context, conn *sql.Conn) (done bool, frames uint32, err error) {
	busy, frames, err := c.run1(ctx, conn, "RESTART")
	if err == nil && !busy {
		c.restarts.Add(1)
	}
	return err == nil && !busy, frames, err
}

// run1 runs PRAGMA wal_checkpoint(mode).
func (c *checkpointer) run1(ctx context.Context, conn *sql.Conn, mode string) (busy bool, frames uint32, err error) {
	var b, log, copied int64
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &log, &copied)
	if err != nil {
		if ctx.Err() == nil {
			c.warn("checkpointing the WAL", err)
		}
		return false, 0, err
	}
	c.checkpoints.Add(1)
	return b != 0, uint32(max(log, 0)), nil
}

// warn logs a failure, at most every logEvery: a failing checkpoint
// fails again at the next commit.
func (c *checkpointer) warn(msg string, err error) {
	if now := time.Now(); now.Sub(c.lastLog) >= logEvery {
		c.lastLog = now
		c.log.Warn(msg, "error", err.Error())
	}
}
