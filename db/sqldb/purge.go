package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"syncserver/db"
)

// purgeChunk bounds the rows one purge transaction deletes, so that the
// write lock is never held long: clients keep syncing while a purge of a
// legacy database's years of expired history runs.
const purgeChunk = 1000

// PurgeResult counts what Purge deleted.
type PurgeResult struct {
	Records, Batches int64
}

// Purge deletes records that expired more than grace ago and batches
// older than db.BatchLifetime + grace, in short transactions. Expired
// records are invisible already; purging only reclaims space (the legacy
// bundle never purged, so legacy databases hold years of them). Run it
// periodically, e.g. hourly with a grace of a day, as the legacy purgettl
// script did.
func (s *Store) Purge(ctx context.Context, grace time.Duration) (PurgeResult, error) {
	var res PurgeResult
	now := s.now()
	ttlLimit := now.Add(-grace).Unix()
	batchLimit := now.Add(-grace).UnixMilli() - int64(db.BatchLifetime)
	for {
		var n int64
		err := s.write(ctx, func(q *querier) error {
			// Delete up to the purgeChunk-th smallest expiry (and its
			// ties): a range on bso_ttl_idx, portable where DELETE …
			// LIMIT is not.
			del, arg := "DELETE FROM bso WHERE ttl < ?", ttlLimit
			var cut int64
			err := q.scan("SELECT ttl FROM bso WHERE ttl < ? ORDER BY ttl LIMIT 1 OFFSET ?", []any{ttlLimit, purgeChunk - 1}, &cut)
			switch {
			case err == nil:
				del, arg = "DELETE FROM bso WHERE ttl <= ?", cut
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			r, err := q.exec(del, arg)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return q.fail(err)
		})
		if err != nil {
			return res, err
		}
		res.Records += n
		if n == 0 || ctx.Err() != nil {
			break
		}
	}
	err := s.write(ctx, func(q *querier) error {
		if _, err := q.exec("DELETE FROM batch_upload_items WHERE batch < ?", batchLimit); err != nil {
			return err
		}
		r, err := q.exec("DELETE FROM batch_uploads WHERE batch < ?", batchLimit)
		if err != nil {
			return err
		}
		res.Batches, err = r.RowsAffected()
		return q.fail(err)
	})
	return res, err
}
