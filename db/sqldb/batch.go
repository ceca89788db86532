package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"syncserver/db"
)

// CreateBatch opens a batch for the collection. Its id is the legacy
// server's: Timestamp() + uid%10 in milliseconds. Creating a batch does not
// touch the collection, but it counts as the user's last write so that the
// next transaction's timestamp, and so the next batch id, is later.
func (t *tx) CreateBatch(coll string) (int64, error) {
	if !t.write {
		return 0, db.ErrReadOnly
	}
	cid, _, err := t.collectionID(coll, true)
	if err != nil {
		return 0, err
	}
	id := int64(t.ts) + int64(t.uid)%10
	if _, err := t.exec("INSERT INTO batch_uploads (batch, userid, collection) VALUES (?, ?, ?)",
		id, int64(t.uid), cid); err != nil {
		return 0, err
	}
	t.wrote = true
	return id, nil
}

// checkBatch finds an open batch of this user and collection. A batch
// older than db.BatchLifetime is refused from its id alone (the id is its
// creation time), without a lookup; stale rows stay until purged.
func (t *tx) checkBatch(coll string, id int64) (int64, error) {
	if db.Timestamp(id)+db.BatchLifetime < t.now || id <= 0 {
		return 0, fmt.Errorf("%w: batch %d expired", db.ErrBatchNotFound, id)
	}
	cid, ok, err := t.collectionID(coll, false)
	if err != nil {
		return 0, err
	}
	var bcid int64
	if ok {
		err = t.scan("SELECT collection FROM batch_uploads WHERE batch = ? AND userid = ?",
			[]any{id, int64(t.uid)}, &bcid)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows) || !ok || bcid != cid:
		return 0, fmt.Errorf("%w: batch %d of %s", db.ErrBatchNotFound, id, coll)
	case err != nil:
		return 0, err
	}
	return cid, nil
}

// GetBatch returns what is staged in an open batch: the number of records
// and their summed payload_size, so that limits hold across the batch.
func (t *tx) GetBatch(coll string, id int64) (db.Batch, error) {
	if _, err := t.checkBatch(coll, id); err != nil {
		return db.Batch{}, err
	}
	b := db.Batch{ID: id}
	err := t.scan("SELECT COUNT(*), COALESCE(SUM(payload_size), 0) FROM batch_upload_items WHERE batch = ? AND userid = ?",
		[]any{id, int64(t.uid)}, &b.Records, &b.Bytes)
	return b, err
}

// AppendBatch stages updates in an open batch. A field that is not
// provided stays NULL (or keeps what an earlier append staged), so that
// the commit can tell "not provided" from a value.
func (t *tx) AppendBatch(coll string, id int64, updates []db.BSOUpdate) error {
	if !t.write {
		return db.ErrReadOnly
	}
	if _, err := t.checkBatch(coll, id); err != nil {
		return err
	}
	// One statement per upsertRows records, not one per record: each
	// statement is a round trip to a database server, and on SQLite a
	// parse, a plan and a call into C.
	for chunk := range slices.Chunk(mergeUpdates(updates), upsertRows) {
		if err := t.stageBSOs(id, chunk); err != nil {
			return err
		}
	}
	return nil
}

// stageBSOs stages records with distinct ids in one statement.
func (t *tx) stageBSOs(id int64, ups []db.BSOUpdate) error {
	args := make([]any, 0, stageColumns*len(ups))
	for _, u := range ups {
		var sortindex, payload, size, ttl any
		if u.SortIndex != nil {
			sortindex = *u.SortIndex
		}
		if u.Payload != nil {
			payload, size = *u.Payload, u.PayloadSize()
		}
		if u.TTL != nil {
			ttl = *u.TTL
		}
		args = append(args, id, int64(t.uid), u.ID, sortindex, payload, size, ttl)
	}
	query := t.s.sqlStage
	if len(ups) > 1 {
		query = t.s.d.rebind(t.s.buildStageSQL(len(ups)))
	}
	_, err := t.exec(query, args...)
	return err
}

// stageColumns is the number of values buildStageSQL binds per record.
const stageColumns = 7

// buildStageSQL stages rows records, merging each field by field into what
// is already staged under the same id.
func (s *Store) buildStageSQL(rows int) string {
	var sets []string
	for _, col := range []string{"sortindex", "payload", "payload_size", "ttl_offset"} {
		sets = append(sets, col+" = COALESCE("+s.d.excluded(col)+", batch_upload_items."+col+")")
	}
	const row = "(?, ?, ?, ?, ?, ?, ?)"
	return "INSERT INTO batch_upload_items (batch, userid, id, sortindex, payload, payload_size, ttl_offset) VALUES " +
		valuesList(row, rows) + s.d.upsert([]string{"batch", "userid", "id"}, sets)
}

// CommitBatch applies every staged record in one statement, inside the
// transaction (a crash leaves all of the batch or none): each field is the
// staged value, else the existing record's, else the default; every staged
// record gets modified = Timestamp(), and a staged TTL counts from it. Then
// the batch is deleted and the collection bumped.
func (t *tx) CommitBatch(coll string, id int64) error {
	if !t.write {
		return db.ErrReadOnly
	}
	cid, err := t.checkBatch(coll, id)
	if err != nil {
		return err
	}
	uid := int64(t.uid)
	if _, err := t.exec(t.s.sqlApply,
		uid, cid, int64(t.ts), t.ts.Seconds(), db.NeverExpires, uid, cid, id, uid); err != nil {
		return err
	}
	for _, table := range []string{"batch_upload_items", "batch_uploads"} {
		if _, err := t.exec("DELETE FROM "+table+" WHERE batch = ? AND userid = ?", id, uid); err != nil {
			return err
		}
	}
	if err := t.touchCollection(cid); err != nil {
		return err
	}
	t.wrote, t.changed = true, true
	return nil
}

// buildApplySQL merges a batch's staged records into bso.
func (s *Store) buildApplySQL() string {
	var sets []string
	for _, col := range []string{"sortindex", "modified", "payload", "payload_size", "ttl"} {
		sets = append(sets, s.d.set(col))
	}
	return `INSERT INTO bso (userid, collection, id, sortindex, modified, payload, payload_size, ttl)
		SELECT ?, ?, i.id, COALESCE(i.sortindex, b.sortindex), ?,
			COALESCE(i.payload, b.payload, ''), COALESCE(i.payload_size, b.payload_size, 0),
			COALESCE(i.ttl_offset + ?, b.ttl, ?)
		FROM batch_upload_items i
		LEFT JOIN bso b ON b.userid = ? AND b.collection = ? AND b.id = i.id
		WHERE i.batch = ? AND i.userid = ?` +
		s.d.upsert([]string{"userid", "collection", "id"}, sets)
}
