package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"syncserver/db"
)

// Purging.
//
// Three things pile up that no client can see: records past their TTL
// (the legacy bundle never purged, so legacy databases hold years of
// them), batches abandoned before their commit, and the storage of uids
// left behind by key changes or retired. Purge deletes them in
// transactions of at most a chunk of rows (selected by key, then deleted
// by key with the selecting condition repeated, so a row revived in
// between stays), and rests between transactions so that SQLite's one
// writer, or the rows MySQL locks, are never held for long.

var _ db.Purger = (*Store)(nil)

// purgeClaimSetting records when a process last claimed the periodic purge.
const purgeClaimSetting = "syncserver.purge_claimed_at"

// Purge deletes expired records, abandoned batches and the storage of
// replaced and retired uids (see db.Purger).
func (s *Store) Purge(ctx context.Context, o db.PurgeOptions) (db.PurgeResult, error) {
	if o.Chunk <= 0 {
		o.Chunk = db.DefaultPurgeChunk
	}
	now := s.now()
	cut := purgeCutoffs{
		// The legacy "never" sentinel stays, whatever the date.
		ttl:   min(now.Add(-o.Grace).Unix(), db.LegacyNeverExpires),
		batch: now.Add(-o.Grace).UnixMilli() - int64(db.BatchLifetime),
	}
	if o.ReplacedGrace >= 0 {
		cut.replaced = now.Add(-o.ReplacedGrace).UnixMilli()
	}
	if o.DryRun {
		return s.purgeCounts(ctx, o, cut)
	}
	var res db.PurgeResult
	var err error
	if res.ExpiredRecords, err = s.purgeChunks(ctx, o, db.PurgeExpiredRecords, expiredRecords(cut.ttl)); err != nil {
		return res, err
	}
	if res.BatchItems, err = s.purgeChunks(ctx, o, db.PurgeBatchItems, abandonedItems(cut.batch)); err != nil {
		return res, err
	}
	if res.Batches, err = s.purgeChunks(ctx, o, db.PurgeBatches, abandonedBatches(cut.batch)); err != nil {
		return res, err
	}
	if res.Accounts, err = s.PurgeAccounts(ctx, now.UnixMilli()); err != nil {
		return res, err
	}
	if o.Progress != nil && res.Accounts > 0 {
		o.Progress(db.PurgeProgress{Kind: db.PurgeAccountsRows, Rows: res.Accounts})
	}
	if cut.replaced == 0 {
		return res, nil
	}
	var uids []db.UID
	err = s.read(ctx, func(q *querier) error {
		uids, err = s.replacedUIDs(q, cut.replaced)
		return err
	})
	if err != nil {
		return res, err
	}
	for _, uid := range uids {
		n, err := s.emptyStorage(ctx, o, uid, db.PurgeReplacedRows)
		res.ReplacedRecords += n
		if err != nil {
			return res, err
		}
		res.ReplacedUIDs = append(res.ReplacedUIDs, uid)
		if o.Progress != nil {
			o.Progress(db.PurgeProgress{Kind: db.PurgeReplacedUsers, Rows: 1})
		}
	}
	return res, nil
}

// purgeCutoffs are the limits of one purge: expiry in epoch seconds, batch
// ids and replaced_at in milliseconds (replaced 0: keep replaced storage).
type purgeCutoffs struct {
	ttl, batch, replaced int64
}

// chunkSpec names rows to delete a chunk at a time: the table, its key
// columns (every one but the last an integer), the condition that selects
// the rows and the order to take them in (an index's, so that a chunk is a
// range scan).
type chunkSpec struct {
	table  string
	prefix []string
	last   string
	where  string
	args   []any
	order  string
}

func expiredRecords(ttl int64) chunkSpec {
	return chunkSpec{table: "bso", prefix: []string{"userid", "collection"}, last: "id",
		where: "ttl < ?", args: []any{ttl}, order: "ttl"}
}

func abandonedItems(batch int64) chunkSpec {
	return chunkSpec{table: "batch_upload_items", prefix: []string{"batch", "userid"}, last: "id",
		where: "batch < ?", args: []any{batch}, order: "batch"}
}

func abandonedBatches(batch int64) chunkSpec {
	return chunkSpec{table: "batch_uploads", prefix: []string{"batch"}, last: "userid",
		where: "batch < ?", args: []any{batch}, order: "batch"}
}

func userRecords(uid db.UID) chunkSpec {
	return chunkSpec{table: "bso", prefix: []string{"userid", "collection"}, last: "id",
		where: "userid = ?", args: []any{int64(uid)}}
}

// leftovers are the records of uid's collection cid once the collection
// is deleted (its user_collections row gone): what DeleteCollection leaves
// for purgeCollection. The condition holds no more once the user writes
// to the collection again (dropLeftovers deleted them then).
func leftovers(uid db.UID, cid int64) chunkSpec {
	return chunkSpec{table: "bso", prefix: []string{"userid", "collection"}, last: "id",
		where: "userid = ? AND collection = ? AND NOT EXISTS (SELECT 1 FROM user_collections WHERE userid = ? AND collection = ?)",
		args:  []any{int64(uid), cid, int64(uid), cid}}
}

// purgeCollection deletes the records DeleteCollection left of uid's
// collections cids, Dialect.DeleteChunk per transaction, resting between
// transactions as Purge does so that other writers get the lock. The
// client's request ending does not stop it; an error leaves the rest
// hidden, for the next write to the collection (dropLeftovers) or the
// next delete of it.
func (s *Store) purgeCollection(ctx context.Context, uid db.UID, cids []int64) error {
	ctx = context.WithoutCancel(ctx)
	o := db.PurgeOptions{Chunk: s.d.DeleteChunk}
	for _, cid := range cids {
		if _, err := s.purgeChunks(ctx, o, db.PurgeExpiredRecords, leftovers(uid, cid)); err != nil {
			return err
		}
	}
	return nil
}

// purgeChunks deletes the rows of c a chunk per transaction until none is
// left, resting between transactions, and returns how many went.
func (s *Store) purgeChunks(ctx context.Context, o db.PurgeOptions, kind string, c chunkSpec) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		start := time.Now()
		var selected int
		var n int64
		err := s.write(ctx, func(q *querier) error {
			var err error
			selected, n, err = s.deleteChunk(q, c, o.Chunk)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n > 0 && o.Progress != nil {
			o.Progress(db.PurgeProgress{Kind: kind, Rows: n})
		}
		if selected < o.Chunk || n == 0 {
			return total, nil
		}
		if err := rest(ctx, o.PurgePause(time.Since(start))); err != nil {
			return total, err
		}
	}
}

// rest waits for d or until ctx ends.
func rest(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// deleteChunk selects the keys of up to limit rows of c and deletes them,
// one statement per value of the key's prefix (a user's collection, a
// batch): portable, and every DELETE a primary-key lookup. It returns how
// many rows it selected and how many it deleted.
func (s *Store) deleteChunk(q *querier, c chunkSpec, limit int) (int, int64, error) {
	query := "SELECT " + strings.Join(append(slices.Clone(c.prefix), c.last), ", ") +
		" FROM " + c.table + " WHERE " + c.where
	if c.order != "" {
		query += " ORDER BY " + c.order
	}
	query += " LIMIT " + strconv.Itoa(limit)
	rows, err := q.query(query, c.args...)
	if err != nil {
		return 0, 0, err
	}
	type group struct {
		prefix []any
		lasts  []any
	}
	var groups []*group
	byPrefix := make(map[string]*group)
	selected := 0
	for rows.Next() {
		pre := make([]int64, len(c.prefix))
		dest := make([]any, 0, len(pre)+1)
		for i := range pre {
			dest = append(dest, &pre[i])
		}
		var last any
		dest = append(dest, &last)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return 0, 0, q.fail(err)
		}
		if b, ok := last.([]byte); ok {
			last = string(b)
		}
		selected++
		key := fmt.Sprint(pre)
		g := byPrefix[key]
		if g == nil {
			g = &group{}
			for _, p := range pre {
				g.prefix = append(g.prefix, p)
			}
			byPrefix[key] = g
			groups = append(groups, g)
		}
		g.lasts = append(g.lasts, last)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, 0, q.fail(err)
	}
	rows.Close()

	var cond strings.Builder
	for _, p := range c.prefix {
		cond.WriteString(p + " = ? AND ")
	}
	var deleted int64
	for _, g := range groups {
		for part := range slices.Chunk(g.lasts, maxIDsPerStatement) {
			stmt := "DELETE FROM " + c.table + " WHERE " + cond.String() + c.last +
				" IN (" + placeholders(len(part)) + ") AND (" + c.where + ")"
			args := slices.Concat(g.prefix, part, c.args)
			r, err := q.exec(stmt, args...)
			if err != nil {
				return 0, 0, err
			}
			n, err := r.RowsAffected()
			if err != nil {
				return 0, 0, q.fail(err)
			}
			deleted += n
		}
	}
	return selected, deleted, nil
}

// replacedUIDs lists the uids whose storage a purge empties: records
// replaced before cutoff (ms) that still have storage, and that are not
// the current record of their account, unless the account is retired. (A
// Mozilla tokenserver marks a current record replaced when it moves the
// user to another node; until the user comes back, that uid is in use.)
func (s *Store) replacedUIDs(q *querier, cutoff int64) ([]db.UID, error) {
	rows, err := q.query(`SELECT u.uid FROM users u
		WHERE u.replaced_at IS NOT NULL AND u.replaced_at < ?
		AND (u.generation = ? OR EXISTS (SELECT 1 FROM users n WHERE n.email = u.email AND n.service = u.service
			AND (n.created_at > u.created_at OR (n.created_at = u.created_at AND n.uid > u.uid))))
		AND (EXISTS (SELECT 1 FROM bso b WHERE b.userid = u.uid)
			OR EXISTS (SELECT 1 FROM user_collections c WHERE c.userid = u.uid)
			OR EXISTS (SELECT 1 FROM user_meta m WHERE m.userid = u.uid))
		ORDER BY u.uid`, cutoff, db.RetiredGeneration)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var uids []db.UID
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, q.fail(err)
		}
		uids = append(uids, db.UID(uid))
	}
	return uids, q.fail(rows.Err())
}

// emptyStorage deletes all of uid's storage: its records a chunk at a time,
// then, in one last transaction, its collections, batches and user_meta.
// It is for uids nobody uses any more.
func (s *Store) emptyStorage(ctx context.Context, o db.PurgeOptions, uid db.UID, kind string) (int64, error) {
	n, err := s.purgeChunks(ctx, o, kind, userRecords(uid))
	if err != nil {
		return n, err
	}
	err = s.write(ctx, func(q *querier) error {
		for _, table := range []string{"bso", "user_collections", "batch_upload_items", "batch_uploads", "user_meta"} {
			r, err := q.exec("DELETE FROM "+table+" WHERE userid = ?", int64(uid))
			if err != nil {
				return err
			}
			if table == "bso" {
				// Records written since the chunks ran.
				k, err := r.RowsAffected()
				if err != nil {
					return q.fail(err)
				}
				n += k
			}
		}
		q.changedUser = &uid
		return nil
	})
	return n, err
}

// purgeCounts is a dry run: it counts what Purge would delete now.
func (s *Store) purgeCounts(ctx context.Context, o db.PurgeOptions, cut purgeCutoffs) (db.PurgeResult, error) {
	var res db.PurgeResult
	nowMS := s.now().UnixMilli()
	err := s.read(ctx, func(q *querier) error {
		for _, c := range []struct {
			kind  string
			query string
			arg   int64
			n     *int64
		}{
			{db.PurgeExpiredRecords, "SELECT COUNT(*) FROM bso WHERE ttl < ?", cut.ttl, &res.ExpiredRecords},
			{db.PurgeBatchItems, "SELECT COUNT(*) FROM batch_upload_items WHERE batch < ?", cut.batch, &res.BatchItems},
			{db.PurgeBatches, "SELECT COUNT(*) FROM batch_uploads WHERE batch < ?", cut.batch, &res.Batches},
		} {
			if err := q.scan(c.query, []any{c.arg}, c.n); err != nil {
				return err
			}
			if o.Progress != nil {
				o.Progress(db.PurgeProgress{Kind: c.kind, Rows: *c.n})
			}
		}
		for _, a := range accountsPurge {
			var n int64
			if err := q.scan("SELECT COUNT(*) FROM "+a.table+" WHERE "+a.where, []any{nowMS}, &n); err != nil {
				return err
			}
			res.Accounts += n
		}
		if o.Progress != nil {
			o.Progress(db.PurgeProgress{Kind: db.PurgeAccountsRows, Rows: res.Accounts})
		}
		if cut.replaced == 0 {
			return nil
		}
		uids, err := s.replacedUIDs(q, cut.replaced)
		if err != nil {
			return err
		}
		res.ReplacedUIDs = uids
		for _, uid := range uids {
			var n int64
			if err := q.scan("SELECT COUNT(*) FROM bso WHERE userid = ?", []any{int64(uid)}, &n); err != nil {
				return err
			}
			res.ReplacedRecords += n
		}
		if o.Progress != nil {
			o.Progress(db.PurgeProgress{Kind: db.PurgeReplacedUsers, Rows: int64(len(uids))})
			o.Progress(db.PurgeProgress{Kind: db.PurgeReplacedRows, Rows: res.ReplacedRecords})
		}
		return nil
	})
	return res, err
}

// ClaimPurge reports whether this process should run the periodic purge
// now: true, and the claim recorded, unless a process sharing the database
// claimed one less than period ago. A claim from the future (a clock
// stepped back) does not count.
func (s *Store) ClaimPurge(ctx context.Context, period time.Duration) (bool, error) {
	claimed := false
	err := s.write(ctx, func(q *querier) error {
		now := s.now().UnixMilli()
		if _, err := q.exec("INSERT INTO settings (name, value) VALUES (?, ?)"+s.d.upsert([]string{"name"}, nil),
			purgeClaimSetting, "0"); err != nil {
			return err
		}
		var v string
		err := q.scan("SELECT value FROM settings WHERE name = ?"+s.d.LockUser, []any{purgeClaimSetting}, &v)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: setting %q missing after insert", db.ErrUnavailable, purgeClaimSetting)
		}
		if err != nil {
			return err
		}
		last, _ := strconv.ParseInt(v, 10, 64)
		if last <= now && now-last < period.Milliseconds() {
			return nil
		}
		claimed = true
		_, err = q.exec("UPDATE settings SET value = ? WHERE name = ?", strconv.FormatInt(now, 10), purgeClaimSetting)
		return err
	})
	return claimed && err == nil, err
}
