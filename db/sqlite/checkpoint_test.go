package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqldb"
)

// smallWAL are checkpoint limits a test reaches in a few hundred commits.
// The writer's own checkpoint is kept far beyond them, so that a bound
// the test sees held is the checkpointer's doing.
var smallWAL = walLimits{passive: 128, restart: 512, writer: 1 << 30}

// openWAL opens a store on path with limits, closed at the test's end.
func openWAL(t *testing.T, path string, limits walLimits) (*sqldb.Store, pools) {
	t.Helper()
	s, p, err := open(context.Background(), path, Options{Synchronous: "OFF", wal: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

// postRecords commits n records of about 450 bytes for uid in one write.
func postRecords(t *testing.T, s *sqldb.Store, uid db.UID, round, n int) {
	t.Helper()
	ups := make([]db.BSOUpdate, n)
	for i := range ups {
		ups[i] = dbtest.Rec(fmt.Sprintf("r%d-%d", round, i), strings.Repeat("x", 450))
	}
	if err := s.Update(context.Background(), uid, func(tx db.Tx) error { return tx.PostBSOs("history", ups) }); err != nil {
		t.Error(err)
	}
}

// walSize is the size of path's WAL file; 0 when there is none.
func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// walBound is the largest WAL a test accepts under limits: the restart
// size, and three times as much for the commits made while the
// checkpointer copies it beside the writes and then waits its turn at the
// write gate behind the writes queued there. The tests' writes would grow
// the WAL many times past it without the checkpointer.
func walBound(limits walLimits) int64 {
	const frame = 4096 + 24 // a page and its frame header
	return 4 * int64(limits.restart) * frame
}

// TestWALStaysBounded: under a steady stream of writes from several
// goroutines, with the writer's own checkpoints out of reach, the WAL
// stays bounded (the checkpointer copies it beside the writes and has it
// start over), and most of what was written is no longer in it.
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	s, p := openWAL(t, path, smallWAL)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var largest int64
	const writers, rounds = 8, 150
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				postRecords(t, s, db.UID(1+w), i, 20)
				if n := walSize(t, path); n > 0 {
					mu.Lock()
					largest = max(largest, n)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if bound := walBound(smallWAL); largest > bound {
		t.Errorf("the WAL reached %d bytes; bound %d", largest, bound)
	}
	if n := p.ckpt.checkpoints.Load(); n == 0 {
		t.Error("the checkpointer never checkpointed")
	}
	if n := p.ckpt.restarts.Load(); n == 0 {
		t.Error("the checkpointer never restarted the WAL")
	}
	// 8 × 150 × 20 records of 450 bytes are about 11 MB, the WAL's bound
	// 8 MB: the data is in the database file.
	if fi, err := os.Stat(path); err != nil || fi.Size() < 8<<20 {
		t.Errorf("database file: %v, %v; the checkpoints copied too little", fi, err)
	}
}

// TestWriterNoLongerCheckpoints: the writer connection's automatic
// checkpoint is moved out to the last-resort size.
func TestWriterNoLongerCheckpoints(t *testing.T) {
	_, p := openWAL(t, filepath.Join(t.TempDir(), "w.db"), walLimits{})
	var n int
	if err := p.writer.QueryRowContext(context.Background(), "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != defaultWALLimits.writer {
		t.Errorf("writer's wal_autocheckpoint %d, want %d", n, defaultWALLimits.writer)
	}
}

// TestCheckpointerStopsAtClose: closing the store ends the checkpointer's
// goroutine and copies what the WAL held.
func TestCheckpointerStopsAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s, p, err := open(context.Background(), path, Options{Synchronous: "OFF", wal: smallWAL})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		postRecords(t, s, 1, i, 20)
	}
	if !goroutineRunning("(*checkpointer).run") {
		t.Fatal("no checkpointer goroutine while the store is open")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.ckpt.done:
	default:
		t.Fatal("Close returned before the checkpointer stopped")
	}
	// Its deferred calls may still be on the stack for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for goroutineRunning("(*checkpointer).run") {
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer's goroutine outlived Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The last connection's close checkpoints and removes the WAL, as
	// before the checkpointer.
	if n := walSize(t, path); n != 0 {
		t.Errorf("WAL of %d bytes left after Close", n)
	}
}

// goroutineRunning reports whether a goroutine's stack names fn.
func goroutineRunning(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}

// TestWALBoundedWithAnIdleProcess: two stores on one file, as two
// processes: while one writes and the other sits idle, the WAL stays
// bounded, either way round; and the idle one's cache sees every commit
// of the other across the WAL's restarts (the change detector reads the
// WAL-index header, which a restart rewrites).
func TestWALBoundedWithAnIdleProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a, pa := openWAL(t, path, smallWAL)
	b, pb := openWAL(t, path, smallWAL)
	ctx := context.Background()
	for _, c := range []struct {
		name          string
		writer, idle  *sqldb.Store
		writerCkpt    *checkpointer
		uid           db.UID
		rounds, batch int
	}{{"A writes", a, b, pa.ckpt, 1, 400, 20}, {"B writes", b, a, pb.ckpt, 2, 400, 20}} {
		t.Run(c.name, func(t *testing.T) {
			before := c.writerCkpt.checkpoints.Load()
			var largest int64
			for i := range c.rounds {
				postRecords(t, c.writer, c.uid, i, c.batch)
				largest = max(largest, walSize(t, path))
				var want db.Timestamp
				if err := c.writer.View(ctx, c.uid, func(tx db.Tx) error {
					var err error
					want, err = tx.StorageTimestamp()
					return err
				}); err != nil {
					t.Fatal(err)
				}
				got, _, err := c.idle.CollectionTimestamps(ctx, c.uid)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("round %d: the idle store answers %v, the database holds %v", i, got, want)
				}
			}
			if bound := walBound(smallWAL); largest > bound {
				t.Errorf("the WAL reached %d bytes; bound %d", largest, bound)
			}
			if c.writerCkpt.checkpoints.Load() == before {
				t.Error("the writing store's checkpointer never checkpointed")
			}
		})
	}
}

// TestKickWhileClosing: a commit that ends while the store closes still
// tells the checkpointer (kick reads the WAL's size through its mapping of
// the -shm file), and the goroutine unmapping the file meanwhile must not
// pull the mapping from under it. Such a read is recovered from a fault,
// but it races with the unmapping and could read whatever was mapped at
// that address next; under -race this test fails without the lock.
func TestKickWhileClosing(t *testing.T) {
	for i := range 30 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("k%d.db", i))
		s, p, err := open(context.Background(), path, Options{Synchronous: "OFF", wal: smallWAL})
		if err != nil {
			t.Fatal(err)
		}
		postRecords(t, s, 1, 0, 5)
		// Wait until the goroutine has mapped the file, so that closing
		// unmaps it.
		deadline := time.Now().Add(5 * time.Second)
		for !p.ckpt.mappedNow() {
			if time.Now().After(deadline) {
				t.Skip("the -shm file is not mapped here: nothing to race")
			}
			time.Sleep(time.Millisecond)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						p.ckpt.kick()
					}
				}
			}()
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		close(stop)
		wg.Wait()
	}
}

// mappedNow reports whether the goroutine has the -shm file mapped.
func (c *checkpointer) mappedNow() bool {
	c.mapMu.RLock()
	defer c.mapMu.RUnlock()
	return c.mapped != nil
}

// TestOpenCloseLogsNothing: a store opened and closed at once (what the
// syncserver commands do) stops its checkpointer before it has connected,
// and that is no failure to warn the operator of.
func TestOpenCloseLogsNothing(t *testing.T) {
	// Only the checkpointer's goroutine logs beside the test's, and Close
	// waits for it to end before the log is read.
	var logs bytes.Buffer
	for i := range 30 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("q%d.db", i))
		s, _, err := open(context.Background(), path, Options{Synchronous: "OFF", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if out := logs.String(); strings.Contains(out, "level=WARN") {
		t.Errorf("opening and closing a store logged:\n%s", out)
	}
}
