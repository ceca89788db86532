package handlers

import (
	"sync"
	"time"

	"syncserver/db"
)

// UserCacheTTL bounds how long the tokenserver trusts a user record it
// read, for requests that would change nothing in it: a change made by
// another process sharing the database (another token server, or an
// operator's command: users retire, nodes down, a key change presented
// to another server) takes effect on this one within it. It is the
// storage node's bound for learning its own row (NodeBackoffTTL).
const UserCacheTTL = NodeBackoffTTL

// DefaultUserCacheBytes is TokenOptions.UserCacheBytes' default: about
// 3,000 users' records, those who asked for a token in the last
// UserCacheTTL.
const DefaultUserCacheBytes = 1 << 20

// userCache remembers the current user record of emails for UserCacheTTL,
// so that a token request presenting exactly the recorded state
// (readOnlyToken) costs no database round trip. Every write of this
// process to a user's records goes through invalidate, and a record read
// while any write was under way is not kept (the epoch), so this
// process's own changes are never hidden by what it read before them.
type userCache struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	epoch    uint64 // bumped by every invalidate
	m        map[string]cachedUser
}

type cachedUser struct {
	u      db.User
	readAt time.Time // when the read that found it started
	size   int64
}

// newUserCache returns a cache of maxBytes, nil (no caching) when
// maxBytes is negative.
func newUserCache(maxBytes int64) *userCache {
	if maxBytes < 0 {
		return nil
	}
	if maxBytes == 0 {
		maxBytes = DefaultUserCacheBytes
	}
	return &userCache{maxBytes: maxBytes, m: make(map[string]cachedUser)}
}

// userEntryOverhead estimates what an entry costs besides its strings:
// the key's header, db.User, the times and the map's share.
const userEntryOverhead = 16 + 160 + 24 + 48

func userSize(email string, u db.User) int64 {
	n := userEntryOverhead + 2*len(email) + len(u.ClientState) + len(u.Node)
	for _, s := range u.OldClientStates {
		n += 16 + len(s)
	}
	return int64(n)
}

// get returns email's record if it was read less than UserCacheTTL ago.
func (c *userCache) get(email string, now time.Time) (db.User, bool) {
	if c == nil {
		return db.User{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[email]
	if !ok {
		return db.User{}, false
	}
	if !fresh(e.readAt, now) {
		c.deleteLocked(email, e)
		return db.User{}, false
	}
	return e.u, true // OldClientStates is never modified: sharing it is safe
}

func fresh(readAt, now time.Time) bool {
	age := now.Sub(readAt)
	return age >= 0 && age < UserCacheTTL
}

// begin returns the epoch to give put for a read starting now.
func (c *userCache) begin() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// put keeps u, read from the database from readAt on, unless this
// process wrote a user record since begin returned epoch: the read may
// then predate that write.
func (c *userCache) put(email string, u db.User, epoch uint64, readAt, now time.Time) {
	if c == nil || !fresh(readAt, now) {
		return
	}
	e := cachedUser{u: u, readAt: readAt, size: userSize(email, u)}
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if old, ok := c.m[email]; ok {
		c.deleteLocked(email, old)
	}
	if c.bytes+e.size > c.maxBytes {
		c.evictLocked(now, e.size)
	}
	c.m[email] = e
	c.bytes += e.size
}

// invalidate forgets email's record; this process has just written (or
// tried to write) its records.
func (c *userCache) invalidate(email string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if e, ok := c.m[email]; ok {
		c.deleteLocked(email, e)
	}
}

func (c *userCache) deleteLocked(email string, e cachedUser) {
	delete(c.m, email)
	c.bytes -= e.size
}

// evictLocked makes room for size bytes: it drops expired entries and,
// if that is not enough, arbitrary ones until a tenth of the bound is
// free.
func (c *userCache) evictLocked(now time.Time, size int64) {
	for k, e := range c.m {
		if !fresh(e.readAt, now) {
			c.deleteLocked(k, e)
		}
	}
	limit := c.maxBytes - max(size, c.maxBytes/10)
	for k, e := range c.m {
		if c.bytes <= limit {
			break
		}
		c.deleteLocked(k, e)
	}
}

// readOnlyToken reports whether a request presenting generation gen,
// keys_changed_at kca and client state cs gets a token for u's current
// record u without any change to it: exactly the requests tokenUser
// answers with u unchanged. Any other request (a new generation or
// key, a stale one, a retired account, a move off a downed node) goes
// to the database, whatever the cache holds.
func (st *tokenState) readOnlyToken(u db.User, gen, kca int64, cs string) bool {
	return u.Generation != db.RetiredGeneration &&
		!(st.opts.MultiNode && (u.ReplacedAt != 0 || u.Node == "")) &&
		cs == u.ClientState && kca == u.KeysChangedAt &&
		(gen == 0 || gen == u.Generation)
}
