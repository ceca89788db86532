package sqldb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/internal/testdb"
)

// TestWritesRunInArrivalOrder: with one writer connection (SQLite),
// writes that queue behind a running one run in the order they arrived,
// not in the random order database/sql hands its connection out in.
func TestWritesRunInArrivalOrder(t *testing.T) {
	s := testdb.OpenURI(t, testdb.NewURI(t, "sqlite"), testdb.Options{})
	ctx := context.Background()
	hold, held := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, 1, func(db.Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held

	const n = 12
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, db.UID(i+2), func(db.Tx) error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
		// The next write arrives only once this one waits.
		deadline := time.Now().Add(10 * time.Second)
		for s.WritesWaiting() != int64(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("write %d never queued (%d waiting)", i, s.WritesWaiting())
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("writes ran in the order %v, want arrival order", order)
		}
	}
}

// TestWriteGateHonoursCancellation: a write waiting its turn gives up
// when its request is cancelled, and the writes after it still run.
func TestWriteGateHonoursCancellation(t *testing.T) {
	s := testdb.OpenURI(t, testdb.NewURI(t, "sqlite"), testdb.Options{})
	ctx := context.Background()
	hold, held := make(chan struct{}), make(chan struct{})
	go s.Update(ctx, 1, func(db.Tx) error {
		close(held)
		<-hold
		return nil
	})
	<-held
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- s.Update(cctx, 2, func(db.Tx) error { return nil }) }()
	for s.WritesWaiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gaveUp; err == nil || !errors.Is(err, context.Canceled) && !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("cancelled write: %v", err)
	}
	close(hold)
	if err := s.Update(ctx, 3, func(db.Tx) error { return nil }); err != nil {
		t.Errorf("write after a cancelled one: %v", err)
	}
}
