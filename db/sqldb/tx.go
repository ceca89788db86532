package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"syncserver/db"
)

// tx is one transaction over one user's storage (db.Tx).
type tx struct {
	*querier
	uid   db.UID
	write bool
	// ts is the transaction's timestamp, fixed at begin.
	ts db.Timestamp
	// now is the clock at begin, in milliseconds (batch expiry); nowS is
	// it in whole epoch seconds: a record is live while its ttl is greater.
	now  db.Timestamp
	nowS int64
	// metaModified is user_meta.last_modified as read at begin.
	metaModified int64
	// wrote is set by any write; changed by a write of the user's data
	// (records or collections), which moves the storage timestamp.
	wrote, changed bool
	// purge lists the collections DeleteCollection left records of, for
	// Update to delete after the commit (Dialect.DeleteChunk).
	purge []int64
	// clean lists the collections whose leftover records this write
	// transaction has already deleted (dropLeftovers).
	clean []int64
}

var _ db.Tx = (*tx)(nil)

// begin fixes the write timestamp: the clock rounded up to 10 ms, or the
// user's last write + 10 ms when the clock is not later, so that a user's
// timestamps strictly increase even when two writes share a 10 ms step or
// the clock steps back. The last write is the later of user_meta (which
// also remembers deletions and batch creations) and the collections' own
// timestamps (which a legacy server may have written without user_meta).
func (t *tx) begin() error {
	now := t.s.now()
	t.now, t.nowS = db.Timestamp(now.UnixMilli()), now.Unix()
	uid := int64(t.uid)
	if t.s.d.LockUser != "" {
		// Make sure there is a row for the lock below to hold.
		if _, err := t.exec("INSERT INTO user_meta (userid, last_modified, last_write) VALUES (?, 0, 0)"+
			t.s.d.upsert([]string{"userid"}, nil), uid); err != nil {
			return err
		}
	}
	var lastWrite int64
	err := t.scan("SELECT last_modified, last_write FROM user_meta WHERE userid = ?"+t.s.d.LockUser,
		[]any{uid}, &t.metaModified, &lastWrite)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var maxColl sql.NullInt64
	if err := t.scan("SELECT MAX(last_modified) FROM user_collections WHERE userid = ?", []any{uid}, &maxColl); err != nil {
		return err
	}
	last := db.Timestamp(max(lastWrite, t.metaModified, maxColl.Int64))
	t.ts = db.TimestampOf(now)
	if t.ts <= last {
		t.ts = (last + 1).Ceil10()
	}
	return nil
}

// finish records the transaction's timestamp as the user's last write, and
// as the storage timestamp when the user's data changed.
func (t *tx) finish() error {
	if !t.wrote {
		return nil
	}
	modified := t.metaModified
	if t.changed {
		modified = int64(t.ts)
		uid := t.uid
		t.changedUser = &uid
	}
	_, err := t.exec("INSERT INTO user_meta (userid, last_modified, last_write) VALUES (?, ?, ?)"+
		t.s.d.upsert([]string{"userid"}, []string{t.s.d.set("last_modified"), t.s.d.set("last_write")}),
		int64(t.uid), modified, int64(t.ts))
	return err
}

// Timestamp is the transaction's time, fixed at begin.
func (t *tx) Timestamp() db.Timestamp { return t.ts }

// checkWrite refuses writes in a View and notes that the transaction wrote.
func (t *tx) checkWrite(changesData bool) error {
	if !t.write {
		return db.ErrReadOnly
	}
	t.wrote = true
	if changesData {
		t.changed = true
	}
	return nil
}

// StorageTimestamp is the time of the user's last change, deletions
// included: the later of user_meta and the collections' timestamps.
func (t *tx) StorageTimestamp() (db.Timestamp, error) {
	if t.changed {
		return t.ts, nil
	}
	var ts sql.NullInt64
	err := t.scan(`SELECT MAX(m) FROM (
		SELECT last_modified AS m FROM user_meta WHERE userid = ?
		UNION ALL SELECT last_modified AS m FROM user_collections WHERE userid = ?) x`,
		[]any{int64(t.uid), int64(t.uid)}, &ts)
	return db.Timestamp(ts.Int64), err
}

// CollectionTimestamps maps each of the user's collections to its
// last-modified time.
func (t *tx) CollectionTimestamps() (map[string]db.Timestamp, error) {
	rows, err := t.query(`SELECT c.name, uc.last_modified FROM user_collections uc
		JOIN collections c ON c.collectionid = uc.collection
		WHERE uc.userid = ? AND c.name <> ''`, int64(t.uid))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := make(map[string]db.Timestamp)
	for rows.Next() {
		var name string
		var ts int64
		if err := rows.Scan(&name, &ts); err != nil {
			return nil, t.fail(err)
		}
		m[name] = db.Timestamp(ts)
	}
	return m, t.fail(rows.Err())
}

// CollectionUsage maps each collection with live records to their count
// and summed payload_size.
func (t *tx) CollectionUsage() (map[string]db.Usage, error) {
	rows, err := t.query(`SELECT c.name, COUNT(*), COALESCE(SUM(b.payload_size), 0) FROM bso b
		JOIN collections c ON c.collectionid = b.collection
		WHERE b.userid = ? AND b.ttl > ? AND c.name <> ''
		GROUP BY c.name`, int64(t.uid), t.nowS)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := make(map[string]db.Usage)
	for rows.Next() {
		var name string
		var u db.Usage
		if err := rows.Scan(&name, &u.Count, &u.Bytes); err != nil {
			return nil, t.fail(err)
		}
		m[name] = u
	}
	return m, t.fail(rows.Err())
}

// StorageUsage is the summed payload_size of the user's live records.
func (t *tx) StorageUsage() (int64, error) {
	var n int64
	err := t.scan("SELECT COALESCE(SUM(payload_size), 0) FROM bso WHERE userid = ? AND ttl > ?",
		[]any{int64(t.uid), t.nowS}, &n)
	return n, err
}

// CollectionTimestamp is the collection's last-modified time, or 0.
func (t *tx) CollectionTimestamp(coll string) (db.Timestamp, error) {
	cid, ok, err := t.collectionID(coll, false)
	if err != nil || !ok {
		return 0, err
	}
	var ts int64
	err = t.scan("SELECT last_modified FROM user_collections WHERE userid = ? AND collection = ?",
		[]any{int64(t.uid), cid}, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return db.Timestamp(ts), err
}

// touchCollection sets the collection's last-modified time to the
// transaction's timestamp, creating the user's row if needed.
func (t *tx) touchCollection(cid int64) error {
	_, err := t.exec("INSERT INTO user_collections (userid, collection, last_modified) VALUES (?, ?, ?)"+
		t.s.d.upsert([]string{"userid", "collection"}, []string{t.s.d.set("last_modified")}),
		int64(t.uid), cid, int64(t.ts))
	return err
}

// collectionID resolves a collection name to the legacy database's id,
// which is whatever the name got when it was first written (never a fixed
// table). With create, an unknown name is registered under the next id.
// ok is false when the name is unknown and create is false.
func (t *tx) collectionID(name string, create bool) (id int64, ok bool, err error) {
	id, ok, err = t.lookupCollection(name, create)
	if err == nil && ok && t.write && t.s.d.DeleteChunk > 0 {
		err = t.dropLeftovers(id)
	}
	return id, ok, err
}

// dropLeftovers deletes the records of collection cid that a
// DeleteCollection left for after its commit and that are not deleted
// yet, before this write transaction touches the collection: a new write
// must not find them (an update of one would revive it). They are the
// records of a collection the user has no user_collections row for. That
// row is looked up first: the DELETE alone walks every record of the
// collection to test a condition that holds for none of them, which made
// each write to a collection of thousands of records take milliseconds,
// with the write lock held.
func (t *tx) dropLeftovers(cid int64) error {
	if slices.Contains(t.clean, cid) {
		return nil
	}
	uid := int64(t.uid)
	var live int
	err := t.scan("SELECT 1 FROM user_collections WHERE userid = ? AND collection = ?", []any{uid, cid}, &live)
	if err == nil {
		t.clean = append(t.clean, cid)
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := t.exec(`DELETE FROM bso WHERE userid = ? AND collection = ?
		AND NOT EXISTS (SELECT 1 FROM user_collections WHERE userid = ? AND collection = ?)`, uid, cid, uid, cid); err != nil {
		return err
	}
	t.clean = append(t.clean, cid)
	return nil
}

// liveCollection is the condition, added to a statement over bso b of
// collection cid, that hides the records a DeleteCollection left for
// after its commit (Dialect.DeleteChunk): the collection is deleted, to
// its user, from that commit on. Empty, with no arguments, where
// collections are deleted whole.
func (t *tx) liveCollection(cid int64) (string, []any) {
	if t.s.d.DeleteChunk <= 0 {
		return "", nil
	}
	return " AND EXISTS (SELECT 1 FROM user_collections uc WHERE uc.userid = ? AND uc.collection = ?)", []any{int64(t.uid), cid}
}

// lookupCollection is collectionID without dropLeftovers.
func (t *tx) lookupCollection(name string, create bool) (id int64, ok bool, err error) {
	if id, ok := t.s.names.get(name); ok {
		return id, true, nil
	}
	for _, n := range t.newNames {
		if n.name == name {
			return n.id, true, nil
		}
	}
	err = t.scan("SELECT collectionid FROM collections WHERE name = ?", []any{name}, &id)
	switch {
	case err == nil:
		// A committed row: names are never deleted, so caching is safe.
		t.s.names.add(name, id)
		return id, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, false, err
	case !create:
		return 0, false, nil
	case !t.write:
		return 0, false, db.ErrReadOnly
	}
	// Insert-if-absent then read back, so that a concurrent writer that
	// registers the same name (MySQL, PostgreSQL) is not an error.
	if _, err := t.exec("INSERT INTO collections (name) VALUES (?)"+
		t.s.d.upsert([]string{"name"}, nil), name); err != nil {
		return 0, false, err
	}
	if err := t.scan("SELECT collectionid FROM collections WHERE name = ?", []any{name}, &id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = fmt.Errorf("%w: collection %q missing after insert", db.ErrUnavailable, name)
		}
		return 0, false, err
	}
	t.newNames = append(t.newNames, nameID{name, id})
	return id, true, nil
}
