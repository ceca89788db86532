package sqldb

import (
	"container/list"
	"context"
	"database/sql"
	"maps"
	"sync"
	"sync/atomic"

	"syncserver/db"
)

// CollectionTimestamps answers info/collections. Firefox asks it on every
// sync of every device, mostly to learn that nothing changed, so the answer
// is kept in memory and served without reading the database as long as
// the user's data did not change.
//
// Changes come from two places. This process's own commits drop the
// user's entry. Other processes sharing the database (Apache mod_fcgid runs
// several) are noticed through Dialect.Changes: before trusting the cache,
// Version tells whether anything was committed since the cache was last
// known current; if so, and the commit cannot be proved to be one of ours,
// every entry is dropped. Our own commits are proved ours by the writer
// connection, whose WriterVersion moves only for other processes' commits.
func (s *Store) CollectionTimestamps(ctx context.Context, uid db.UID) (db.Timestamp, map[string]db.Timestamp, error) {
	if err := s.ready(ctx); err != nil {
		return 0, nil, err
	}
	if s.cache == nil {
		return s.readTimestamps(ctx, uid)
	}
	return s.cache.get(ctx, uid)
}

// CacheStats reports how many CollectionTimestamps calls were answered
// from memory (hits) and from the database (misses), for metrics and
// tests. Both are 0 when the cache is off.
func (s *Store) CacheStats() (hits, misses int64) {
	if !s.initialised.Load() || s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// readTimestamps reads info/collections from the database in one
// statement, consistent by itself and without a transaction around it:
// the user's collections, and, as a row without a name, the storage
// timestamp user_meta keeps (deletions move it).
func (s *Store) readTimestamps(ctx context.Context, uid db.UID) (storage db.Timestamp, colls map[string]db.Timestamp, err error) {
	err = s.retrying(ctx, "read", func() (error, bool) {
		var err error
		storage, colls, err = s.readTimestampsOnce(ctx, uid)
		return err, false
	})
	return storage, colls, err
}

func (s *Store) readTimestampsOnce(ctx context.Context, uid db.UID) (db.Timestamp, map[string]db.Timestamp, error) {
	conn, err := s.conn(ctx, s.reader)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, s.sqlTimestamps, int64(uid), int64(uid))
	if err != nil {
		return 0, nil, s.dbErr(err)
	}
	defer rows.Close()
	var storage db.Timestamp
	colls := make(map[string]db.Timestamp)
	for rows.Next() {
		var name sql.NullString
		var ts int64
		if err := rows.Scan(&name, &ts); err != nil {
			return 0, nil, s.dbErr(err)
		}
		storage = max(storage, db.Timestamp(ts))
		if name.Valid && name.String != "" {
			colls[name.String] = db.Timestamp(ts)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, s.dbErr(err)
	}
	return storage, colls, nil
}

// timestampsSQL is readTimestamps' statement: Tx.StorageTimestamp and
// Tx.CollectionTimestamps in one.
const timestampsSQL = `SELECT c.name, uc.last_modified FROM user_collections uc
	LEFT JOIN collections c ON c.collectionid = uc.collection WHERE uc.userid = ?
	UNION ALL SELECT NULL, last_modified FROM user_meta WHERE userid = ?`

// writeStripes spreads the own-write counters over a fixed number of
// slots, so memory stays bounded whatever the number of users.
const writeStripes = 256

// tsCache is a bounded LRU of users' info/collections answers.
type tsCache struct {
	s   *Store
	det ChangeDetector
	max int

	mu      sync.Mutex
	lru     *list.List // of *tsEntry, most recent first
	entries map[db.UID]*list.Element
	// epoch counts the times every entry was dropped; writes counts this
	// process's commits per stripe of users. A read that saw either move
	// while it was in the database does not store its answer.
	epoch  uint64
	writes [writeStripes]uint64
	// base is the Version at which every entry was known current; wLast
	// the last WriterVersion seen.
	base, wLast int64

	hits, misses atomic.Int64
}

type tsEntry struct {
	uid     db.UID
	storage db.Timestamp
	colls   map[string]db.Timestamp
}

// newTSCache returns nil (no cache) when size is negative or the dialect
// cannot detect other processes' commits.
func newTSCache(ctx context.Context, s *Store, size int) (*tsCache, error) {
	if size < 0 || s.d.Changes == nil {
		return nil, nil
	}
	c := &tsCache{s: s, det: s.d.Changes, max: size, lru: list.New(), entries: make(map[db.UID]*list.Element)}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return nil, s.dbErr(err)
	}
	defer conn.Close()
	if c.base, err = c.det.Version(ctx); err != nil {
		return nil, s.dbErr(err)
	}
	if c.wLast, err = c.det.WriterVersion(ctx, conn); err != nil {
		return nil, s.dbErr(err)
	}
	return c, nil
}

func (c *tsCache) get(ctx context.Context, uid db.UID) (db.Timestamp, map[string]db.Timestamp, error) {
	v, err := c.det.Version(ctx)
	if err != nil {
		c.misses.Add(1)
		return c.s.readTimestamps(ctx, uid)
	}
	c.mu.Lock()
	if v != c.base {
		// Something was committed that this cache has not accounted for.
		c.dropAllLocked()
		c.base = v
	}
	if el, ok := c.entries[uid]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*tsEntry)
		storage, colls := e.storage, maps.Clone(e.colls)
		c.mu.Unlock()
		c.hits.Add(1)
		return storage, colls, nil
	}
	epoch, writes := c.epoch, c.writes[stripe(uid)]
	c.mu.Unlock()
	c.misses.Add(1)

	storage, colls, err := c.s.readTimestamps(ctx, uid)
	if err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch == c.epoch && writes == c.writes[stripe(uid)] {
		if _, ok := c.entries[uid]; !ok {
			c.entries[uid] = c.lru.PushFront(&tsEntry{uid: uid, storage: storage, colls: maps.Clone(colls)})
			for c.lru.Len() > c.max {
				last := c.lru.Back()
				delete(c.entries, last.Value.(*tsEntry).uid)
				c.lru.Remove(last)
			}
		}
	}
	return storage, colls, nil
}

// afterCommit runs on the writer's connection right after each commit (or
// failed commit), before the connection serves another transaction, so
// that commits and their bookkeeping never interleave.
func (c *tsCache) afterCommit(ctx context.Context, conn *sql.Conn, changed *db.UID) {
	ctx = context.WithoutCancel(ctx)
	c.mu.Lock()
	if changed != nil {
		if el, ok := c.entries[*changed]; ok {
			delete(c.entries, *changed)
			c.lru.Remove(el)
		}
		c.writes[stripe(*changed)]++
	}
	c.mu.Unlock()

	// Version first, then WriterVersion: if the writer saw no other
	// process commit by now, nothing but our own commits (each of which
	// dropped its user above) happened up to v.
	v, errV := c.det.Version(ctx)
	w, errW := c.det.WriterVersion(ctx, conn)
	c.mu.Lock()
	defer c.mu.Unlock()
	if errV != nil || errW != nil || w != c.wLast {
		c.dropAllLocked()
	}
	if errV == nil {
		c.base = v
	}
	if errW == nil {
		c.wLast = w
	}
}

func (c *tsCache) dropAllLocked() {
	if len(c.entries) > 0 {
		clear(c.entries)
		c.lru.Init()
	}
	c.epoch++
}

func stripe(uid db.UID) int { return int(uint64(uid) % writeStripes) }
