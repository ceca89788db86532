package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

func TestPurge(t *testing.T) {
	ctx := context.Background()
	clock := dbtest.NewClock(dbtest.StartTime())
	s, path := openFile(t, clock.Now, sqlite.Options{Synchronous: "OFF"})
	// 2,500 records sharing one expiry (as a batch commit leaves them),
	// some expiring later, some never.
	var ups []db.BSOUpdate
	for i := range 2500 {
		ups = append(ups, db.BSOUpdate{ID: fmt.Sprint(i), Payload: dbtest.Str("x"), TTL: dbtest.Int(60)})
	}
	var oldBatch int64
	err := s.Update(ctx, 1, func(tx db.Tx) error {
		if err := tx.PostBSOs("history", ups); err != nil {
			return err
		}
		var err error
		oldBatch, err = tx.CreateBatch("history")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	err = s.Update(ctx, 1, func(tx db.Tx) error {
		return tx.PostBSOs("history", []db.BSOUpdate{
			{ID: "later", Payload: dbtest.Str("x"), TTL: dbtest.Int(3600)},
			dbtest.Rec("never", "x"),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	before, beforeColls, _ := s.CollectionTimestamps(ctx, 1)

	clock.Advance(3 * time.Hour)
	var newBatch int64
	if err := s.Update(ctx, 2, func(tx db.Tx) error {
		var err error
		newBatch, err = tx.CreateBatch("tabs")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A grace of a day keeps everything.
	if res, err := s.Purge(ctx, 24*time.Hour); err != nil || res != (sqldbPurgeResult{}) {
		t.Errorf("Purge(1 day) = %+v, %v; want nothing", res, err)
	}
	res, err := s.Purge(ctx, 0)
	if err != nil || res.Records != 2501 || res.Batches != 1 {
		t.Errorf("Purge(0) = %+v, %v; want 2501 records and 1 batch", res, err)
	}
	if got := rawQuery(t, path, "SELECT id FROM bso"); len(got) != 1 || got[0][0] != "never" {
		t.Errorf("left: %v", got)
	}
	if got := rawQuery(t, path, "SELECT batch FROM batch_uploads"); len(got) != 1 || got[0][0] != newBatch || newBatch == oldBatch {
		t.Errorf("batches left: %v (new %d)", got, newBatch)
	}
	after, afterColls, _ := s.CollectionTimestamps(ctx, 1)
	if after != before || len(afterColls) != len(beforeColls) {
		t.Errorf("purge changed timestamps: %v %v → %v %v", before, beforeColls, after, afterColls)
	}
}
