package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// fileSize is the database's size on disk, WAL included.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// fillExpired writes n records of 1 KB that expire after a minute.
func fillExpired(t *testing.T, s *sqliteStore, uid db.UID, n int) {
	t.Helper()
	payload := strings.Repeat("x", 1000)
	for i := 0; i < n; i += 500 {
		var ups []db.BSOUpdate
		for j := i; j < min(i+500, n); j++ {
			ups = append(ups, db.BSOUpdate{ID: fmt.Sprint(j), Payload: &payload, TTL: dbtest.Int(60)})
		}
		if err := s.Update(context.Background(), uid, func(tx db.Tx) error { return tx.PostBSOs("history", ups) }); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLegacyDatabaseShrinks: a database full of expired rows, as the
// legacy server left them, loses them to a purge, and the file shrinks
// with Compact.
func TestLegacyDatabaseShrinks(t *testing.T) {
	ctx := context.Background()
	clock := dbtest.NewClock(dbtest.StartTime())
	s, path := openFile(t, clock.Now, sqlite.Options{Synchronous: "OFF"})
	fillExpired(t, s, 1, 5000)
	if err := s.Update(ctx, 2, func(tx db.Tx) error { return tx.PutBSO("meta", dbtest.Rec("global", "keep")) }); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	full := fileSize(t, path)

	st, err := s.Stats(ctx)
	if err != nil || st.ExpiredRecords != 5000 || st.Records != 1 || st.DatabaseBytes <= 0 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	res, err := s.Purge(ctx, db.PurgeOptions{Grace: 24 * time.Hour, ReplacedGrace: -1})
	if err != nil || res.ExpiredRecords != 5000 {
		t.Fatalf("Purge = %+v, %v", res, err)
	}
	st, err = s.Stats(ctx)
	if err != nil || st.ExpiredRecords != 0 || st.Records != 1 || st.FreeBytes < 4_000_000 {
		t.Fatalf("Stats after the purge = %+v, %v; want about 5 MB free", st, err)
	}
	var steps []string
	if err := s.Compact(ctx, func(step string) { steps = append(steps, step) }); err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 {
		t.Error("Compact reported no step")
	}
	if got := fileSize(t, path); got > full/4 {
		t.Errorf("after purge and compaction the database takes %d bytes, before %d", got, full)
	}
	st, err = s.Stats(ctx)
	if err != nil || st.FreeBytes != 0 {
		t.Errorf("Stats after Compact = %+v, %v", st, err)
	}
	var payload string
	if err := s.View(ctx, 2, func(tx db.Tx) error {
		b, err := tx.GetBSO("meta", "global")
		payload = b.Payload
		return err
	}); err != nil || payload != "keep" {
		t.Errorf("live record after compaction: %q, %v", payload, err)
	}
}

// TestPurgeLetsWritersIn: a purge of a large backlog runs in many short
// transactions, and a client's writes commit between them instead of
// waiting for the whole purge.
func TestPurgeLetsWritersIn(t *testing.T) {
	ctx := context.Background()
	clock := dbtest.NewClock(dbtest.StartTime())
	s, _ := openFile(t, clock.Now, sqlite.Options{Synchronous: "OFF"})
	fillExpired(t, s, 1, 6000)
	clock.Advance(time.Hour)

	var chunks, writesDuringPurge atomic.Int64
	var purging atomic.Bool
	purging.Store(true)
	done := make(chan error)
	go func() {
		defer close(done)
		for i := 0; purging.Load(); i++ {
			err := s.Update(ctx, 2, func(tx db.Tx) error { return tx.PutBSO("tabs", dbtest.Rec(fmt.Sprint(i%10), "x")) })
			if err != nil {
				done <- err
				return
			}
			if c := chunks.Load(); c > 0 && c < 6 {
				writesDuringPurge.Add(1)
			}
		}
	}()
	res, err := s.Purge(ctx, db.PurgeOptions{ReplacedGrace: -1, Progress: func(p db.PurgeProgress) {
		if p.Kind == db.PurgeExpiredRecords {
			chunks.Add(1)
		}
	}})
	purging.Store(false)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil || res.ExpiredRecords != 6000 {
		t.Fatalf("Purge = %+v, %v", res, err)
	}
	if chunks.Load() != 6 {
		t.Errorf("%d transactions, want 6 of 1000 rows", chunks.Load())
	}
	if writesDuringPurge.Load() == 0 {
		t.Error("no write committed while the purge ran")
	}
}

func TestCompactMemory(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Compact(context.Background(), nil); err != nil {
		t.Errorf("Compact of an in-memory database: %v", err)
	}
}
