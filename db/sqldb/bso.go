package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"syncserver/db"
)

// maxIDsPerStatement keeps "id IN (…)" lists well under every database's
// limit on bound parameters.
const maxIDsPerStatement = 500

// expires maps the stored ttl to BSO.Expires, reading the legacy "never"
// sentinel as never.
func expires(ttl int64) int64 {
	if ttl == db.LegacyNeverExpires {
		return db.NeverExpires
	}
	return ttl
}

// BSOTimestamp is the record's modified time, or 0 if it does not exist or
// has expired.
func (t *tx) BSOTimestamp(coll, id string) (db.Timestamp, error) {
	cid, ok, err := t.collectionID(coll, false)
	if err != nil || !ok {
		return 0, err
	}
	var ts int64
	live, liveArgs := t.liveCollection(cid)
	err = t.scan("SELECT modified FROM bso WHERE userid = ? AND collection = ? AND id = ? AND ttl > ?"+live,
		append([]any{int64(t.uid), cid, id, t.nowS}, liveArgs...), &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return db.Timestamp(ts), err
}

// GetBSO reads one live record.
func (t *tx) GetBSO(coll, id string) (db.BSO, error) {
	cid, ok, err := t.collectionID(coll, false)
	if err != nil {
		return db.BSO{}, err
	}
	if !ok {
		return db.BSO{}, fmt.Errorf("%w: collection %q", db.ErrNotFound, coll)
	}
	var b db.BSO
	var si sql.NullInt64
	var mod int64
	live, liveArgs := t.liveCollection(cid)
	err = t.scan("SELECT id, modified, sortindex, payload, ttl FROM bso WHERE userid = ? AND collection = ? AND id = ? AND ttl > ?"+live,
		append([]any{int64(t.uid), cid, id, t.nowS}, liveArgs...), &b.ID, &mod, &si, &b.Payload, &b.Expires)
	if errors.Is(err, sql.ErrNoRows) {
		return db.BSO{}, fmt.Errorf("%w: record %s/%s", db.ErrNotFound, coll, id)
	}
	if err != nil {
		return db.BSO{}, err
	}
	b.Modified = db.Timestamp(mod)
	b.Expires = expires(b.Expires)
	if si.Valid {
		b.SortIndex = &si.Int64
	}
	return b, nil
}

// FindBSOs lists live records of a collection, a page at a time. It fetches
// one record more than the limit to learn whether a next page exists.
// Timestamp sorts continue from a "<bound>:<n>" offset with a range
// condition on modified, so a deep page costs an index seek plus n rows,
// never an OFFSET over the whole collection.
func (t *tx) FindBSOs(coll string, q db.Query) (db.Page, error) {
	cid, ok, err := t.collectionID(coll, false)
	if err != nil || !ok {
		return db.Page{}, err
	}
	if q.IDs != nil && len(q.IDs) == 0 {
		return db.Page{}, nil
	}
	query, args := t.findSQL(cid, q)
	rows, err := t.query(query, args...)
	if err != nil {
		return db.Page{}, err
	}
	defer rows.Close()
	var items []db.BSO
	for rows.Next() {
		var it db.BSO
		var mod int64
		if q.Full {
			var si sql.NullInt64
			err = rows.Scan(&it.ID, &mod, &si, &it.Payload, &it.Expires)
			if si.Valid {
				it.SortIndex = &si.Int64
			}
			it.Expires = expires(it.Expires)
		} else {
			err = rows.Scan(&it.ID, &mod)
		}
		if err != nil {
			return db.Page{}, t.fail(err)
		}
		it.Modified = db.Timestamp(mod)
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return db.Page{}, t.fail(err)
	}
	var page db.Page
	if q.Limit >= 0 && len(items) > q.Limit {
		items = items[:q.Limit]
		page.Next = db.NextOffset(q, items)
	}
	if len(items) > 0 {
		page.Items = items
	}
	return page, nil
}

// findSQL is FindBSOs' statement for collection cid: every sort reads a
// page off an index of bso (see the plan test in growth_test.go). With
// Dialect.FindIndex, and no list of ids (which the primary key finds),
// the statement reads that index; a page of whole records that skips
// records (an offset) or sorts them (sort=index) chooses its keys off the
// index alone, in a derived table, so that only the rows of the page are
// read whole. A first page in timestamp order reads the rows it returns
// and no others, and needs no derived table.
func (t *tx) findSQL(cid int64, q db.Query) (string, []any) {
	var where strings.Builder
	args := []any{int64(t.uid), cid, t.nowS}
	where.WriteString(" WHERE userid = ? AND collection = ? AND ttl > ?")
	live, liveArgs := t.liveCollection(cid)
	where.WriteString(live)
	args = append(args, liveArgs...)
	if q.IDs != nil {
		where.WriteString(" AND id IN (" + placeholders(len(q.IDs)) + ")")
		for _, id := range q.IDs {
			args = append(args, id)
		}
	}
	if q.Newer > 0 {
		where.WriteString(" AND modified > ?")
		args = append(args, int64(q.Newer))
	}
	if q.HasOlder {
		where.WriteString(" AND modified < ?")
		args = append(args, int64(q.Older))
	}
	order := func(table string) string {
		switch q.Sort {
		case db.SortIndex:
			return " ORDER BY CASE WHEN " + table + "sortindex IS NULL THEN 1 ELSE 0 END, " +
				table + "sortindex DESC, " + table + "id DESC"
		case db.SortOldest:
			return " ORDER BY " + table + "modified ASC, " + table + "id ASC"
		default:
			return " ORDER BY " + table + "modified DESC, " + table + "id DESC"
		}
	}
	if q.Offset.HasBound && q.Sort != db.SortIndex {
		if q.Sort == db.SortOldest {
			where.WriteString(" AND modified >= ?")
		} else {
			where.WriteString(" AND modified <= ?")
		}
		args = append(args, int64(q.Offset.Bound))
	}
	limit := int64(math.MaxInt64)
	if q.Limit >= 0 {
		limit = int64(q.Limit) + 1
	}
	page := order("") + " LIMIT ?"
	args = append(args, limit)
	if q.Offset.Skip > 0 {
		page += " OFFSET ?"
		args = append(args, int64(q.Offset.Skip))
	}

	const full = "id, modified, sortindex, payload, ttl"
	from := " FROM bso"
	if t.s.d.FindIndex != "" && q.IDs == nil {
		from += " FORCE INDEX (" + t.s.d.FindIndex + ")"
		if q.Full && (q.Offset.Skip > 0 || q.Sort == db.SortIndex) {
			// The derived table's ORDER BY and LIMIT pick the page; the
			// outer one orders those rows alone, before the join reads
			// each through the primary key.
			keys := "SELECT id, modified, sortindex" + from + where.String() + page
			args = append(args, int64(t.uid), cid)
			return "SELECT b." + strings.ReplaceAll(full, ", ", ", b.") + " FROM (" + keys + ") k" +
				" JOIN bso b ON b.userid = ? AND b.collection = ? AND b.id = k.id" + order("k."), args
		}
	}
	cols := "id, modified"
	if q.Full {
		cols = full
	}
	return "SELECT " + cols + from + where.String() + page, args
}

// PutBSO creates or updates one record and bumps the collection.
func (t *tx) PutBSO(coll string, u db.BSOUpdate) error {
	return t.PostBSOs(coll, []db.BSOUpdate{u})
}

// PostBSOs creates or updates each record, field by field, all at the
// transaction's timestamp, and bumps the collection even when updates is
// empty. An id listed twice is merged, later fields winning, which is what
// applying the updates one after the other would give.
func (t *tx) PostBSOs(coll string, updates []db.BSOUpdate) error {
	if !t.write {
		return db.ErrReadOnly
	}
	cid, _, err := t.collectionID(coll, true)
	if err != nil {
		return err
	}
	// One statement per field mask and upsertRows records, not one per
	// record: a POST of 100 records is a few round trips to a database
	// server instead of a hundred.
	var byMask [8][]db.BSOUpdate
	for _, u := range mergeUpdates(updates) {
		m := updateMask(u)
		byMask[m] = append(byMask[m], u)
	}
	for mask, ups := range byMask {
		for chunk := range slices.Chunk(ups, upsertRows) {
			if err := t.upsertBSOs(cid, mask, chunk); err != nil {
				return err
			}
		}
	}
	if err := t.touchCollection(cid); err != nil {
		return err
	}
	t.wrote, t.changed = true, true
	return nil
}

// upsertRows bounds the records of one upsert statement: 800 bound
// parameters, and at most 100 records (a POST's limit) of 2 MiB in all.
const upsertRows = 100

// updateMask is the fields an update provides: 1 sortindex, 2 payload,
// 4 ttl.
func updateMask(u db.BSOUpdate) int {
	mask := 0
	if u.SortIndex != nil {
		mask |= 1
	}
	if u.Payload != nil {
		mask |= 2
	}
	if u.TTL != nil {
		mask |= 4
	}
	return mask
}

// upsertBSOs writes records that provide the fields of mask, in one
// statement. Only the provided fields change on an existing row (expired
// or not); a new row takes the defaults. modified moves only with the
// payload, or when the row is new. The ids are distinct (mergeUpdates).
func (t *tx) upsertBSOs(cid int64, mask int, ups []db.BSOUpdate) error {
	args := make([]any, 0, 8*len(ups))
	for _, u := range ups {
		var sortindex any
		payload, size := "", int64(0)
		ttl := db.NeverExpires
		if u.SortIndex != nil {
			sortindex = *u.SortIndex
		}
		if u.Payload != nil {
			payload, size = *u.Payload, u.PayloadSize()
		}
		if u.TTL != nil {
			ttl = t.ts.Seconds() + *u.TTL
		}
		args = append(args, int64(t.uid), cid, u.ID, sortindex, int64(t.ts), payload, size, ttl)
	}
	query := t.s.bsoUpsert[mask]
	if len(ups) > 1 {
		query = t.s.d.rebind(t.s.bsoUpsertSQL(mask, len(ups)))
	}
	_, err := t.exec(query, args...)
	return err
}

// bsoUpsertSQL is the upsert of rows records that updates the fields in
// mask (1 sortindex, 2 payload, 4 ttl) of an existing row.
func (s *Store) bsoUpsertSQL(mask, rows int) string {
	var sets []string
	if mask&1 != 0 {
		sets = append(sets, s.d.set("sortindex"))
	}
	if mask&2 != 0 {
		sets = append(sets, s.d.set("payload"), s.d.set("payload_size"), s.d.set("modified"))
	}
	if mask&4 != 0 {
		sets = append(sets, s.d.set("ttl"))
	}
	// With no field (only the id) a new row is created and an existing
	// one is left untouched.
	const row = "(?, ?, ?, ?, ?, ?, ?, ?)"
	return "INSERT INTO bso (userid, collection, id, sortindex, modified, payload, payload_size, ttl) VALUES " +
		valuesList(row, rows) + s.d.upsert([]string{"userid", "collection", "id"}, sets)
}

// valuesList is the VALUES list of a multi-row INSERT: row, the
// placeholders of one row, rows times.
func valuesList(row string, rows int) string {
	return strings.Repeat(row+", ", rows-1) + row
}

// mergeUpdates folds updates of the same id into one, in first-seen order.
func mergeUpdates(updates []db.BSOUpdate) []db.BSOUpdate {
	seen := make(map[string]int, len(updates))
	var out []db.BSOUpdate
	for i, u := range updates {
		j, dup := seen[u.ID]
		if !dup {
			if out != nil {
				out = append(out, u)
			}
			seen[u.ID] = len(seen)
			continue
		}
		if out == nil {
			out = append([]db.BSOUpdate(nil), updates[:i]...)
		}
		m := &out[j]
		if u.SortIndex != nil {
			m.SortIndex = u.SortIndex
		}
		if u.Payload != nil {
			m.Payload = u.Payload
		}
		if u.TTL != nil {
			m.TTL = u.TTL
		}
	}
	if out == nil {
		return updates
	}
	return out
}

// DeleteBSO deletes one live record and bumps the collection.
func (t *tx) DeleteBSO(coll, id string) error {
	if !t.write {
		return db.ErrReadOnly
	}
	cid, ok, err := t.collectionID(coll, false)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: collection %q", db.ErrNotFound, coll)
	}
	res, err := t.exec("DELETE FROM bso WHERE userid = ? AND collection = ? AND id = ? AND ttl > ?",
		int64(t.uid), cid, id, t.nowS)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.fail(err)
	} else if n == 0 {
		return fmt.Errorf("%w: record %s/%s", db.ErrNotFound, coll, id)
	}
	if err := t.touchCollection(cid); err != nil {
		return err
	}
	t.wrote, t.changed = true, true
	return nil
}

// DeleteBSOs deletes the listed records, expired ones included, and bumps
// the collection, creating it, even when none matched.
func (t *tx) DeleteBSOs(coll string, ids []string) error {
	if !t.write {
		return db.ErrReadOnly
	}
	cid, _, err := t.collectionID(coll, true)
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxIDsPerStatement)]
		ids = ids[len(chunk):]
		args := []any{int64(t.uid), cid}
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := t.exec("DELETE FROM bso WHERE userid = ? AND collection = ? AND id IN ("+placeholders(len(chunk))+")", args...); err != nil {
			return err
		}
	}
	if err := t.touchCollection(cid); err != nil {
		return err
	}
	t.wrote, t.changed = true, true
	return nil
}

// DeleteCollection deletes the collection's records, its user_collections
// row and its open batches; the storage timestamp moves to Timestamp().
// With Dialect.DeleteChunk, at most that many records go here: the rest,
// hidden from the user from the commit on (liveCollection), are deleted
// by Update after the commit, in short transactions.
func (t *tx) DeleteCollection(coll string) error {
	if !t.write {
		return db.ErrReadOnly
	}
	cid, ok, err := t.collectionID(coll, false)
	if err != nil {
		return err
	}
	if ok {
		uid := int64(t.uid)
		for _, stmt := range []string{
			"DELETE FROM user_collections WHERE userid = ? AND collection = ?",
			"DELETE FROM batch_upload_items WHERE userid = ? AND batch IN (SELECT batch FROM batch_uploads WHERE userid = ? AND collection = ?)",
			"DELETE FROM batch_uploads WHERE userid = ? AND collection = ?",
		} {
			args := []any{uid, cid}
			if strings.Count(stmt, "?") == 3 {
				args = []any{uid, uid, cid}
			}
			if _, err := t.exec(stmt, args...); err != nil {
				return err
			}
		}
		if t.s.d.DeleteChunk <= 0 {
			if _, err := t.exec("DELETE FROM bso WHERE userid = ? AND collection = ?", uid, cid); err != nil {
				return err
			}
		} else {
			selected, _, err := t.s.deleteChunk(t.querier, leftovers(t.uid, cid), t.s.d.DeleteChunk)
			if err != nil {
				return err
			}
			if selected == t.s.d.DeleteChunk && !slices.Contains(t.purge, cid) {
				t.purge = append(t.purge, cid)
			}
			// A later write of this transaction to the collection
			// must delete what is left first.
			t.clean = slices.DeleteFunc(t.clean, func(c int64) bool { return c == cid })
		}
	}
	t.wrote, t.changed = true, true
	return nil
}

// DeleteStorage deletes all of the user's records, collections and open
// batches; the storage timestamp moves to Timestamp().
func (t *tx) DeleteStorage() error {
	if !t.write {
		return db.ErrReadOnly
	}
	for _, table := range []string{"bso", "user_collections", "batch_upload_items", "batch_uploads"} {
		if _, err := t.exec("DELETE FROM "+table+" WHERE userid = ?", int64(t.uid)); err != nil {
			return err
		}
	}
	t.wrote, t.changed = true, true
	return nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
