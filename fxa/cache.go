package fxa

import (
	"slices"
	"sync"
	"time"
)

// resultCache remembers successful verifications, keyed by SHA-256 of the
// token (the token itself is never kept), so that a client fetching
// several storage tokens does not cost an RSA check or an FxA round trip
// each time. It never holds more than max entries nor, by its estimate,
// more than maxBytes.
type resultCache struct {
	mu       sync.Mutex
	max      int
	maxBytes int64
	bytes    int64
	m        map[[32]byte]cachedToken
}

type cachedToken struct {
	tok   Token
	until time.Time
	size  int64
}

func newResultCache(max int, maxBytes int64) *resultCache {
	return &resultCache{max: max, maxBytes: maxBytes, m: make(map[[32]byte]cachedToken)}
}

// entryOverhead estimates what an entry costs besides its strings: the
// key, the Token and expiry, and the map's own share (buckets, tophash).
const entryOverhead = 32 + 160 + 48

// tokenSize estimates the bytes an entry for tok holds.
func tokenSize(tok Token) int64 {
	n := entryOverhead + len(tok.UID) + len(tok.ClientID) + len(tok.Issuer)
	for _, s := range tok.Scope {
		n += 16 + len(s)
	}
	return int64(n)
}

func (c *resultCache) get(key [32]byte, now time.Time) (Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return Token{}, false
	}
	if !now.Before(e.until) {
		c.deleteLocked(key, e)
		return Token{}, false
	}
	t := e.tok
	t.Scope = slices.Clone(t.Scope) // callers own what they get
	return t, true
}

func (c *resultCache) put(key [32]byte, tok Token, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	tok.Scope = slices.Clone(tok.Scope)
	e := cachedToken{tok: tok, until: until, size: tokenSize(tok)}
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.deleteLocked(key, old)
	}
	if len(c.m) >= c.max || c.bytes+e.size > c.maxBytes {
		c.evictLocked(now, e.size)
	}
	c.m[key] = e
	c.bytes += e.size
}

func (c *resultCache) deleteLocked(key [32]byte, e cachedToken) {
	delete(c.m, key)
	c.bytes -= e.size
}

// evictLocked makes room for an entry of size bytes: it drops expired
// entries and, if that is not enough, arbitrary ones until a tenth of
// the bounds is free: cheap, and enough to keep them.
func (c *resultCache) evictLocked(now time.Time, size int64) {
	for k, e := range c.m {
		if !now.Before(e.until) {
			c.deleteLocked(k, e)
		}
	}
	maxN, maxBytes := c.max-max(1, c.max/10), c.maxBytes-max(size, c.maxBytes/10)
	for k, e := range c.m {
		if len(c.m) <= maxN && c.bytes <= maxBytes {
			break
		}
		c.deleteLocked(k, e)
	}
}

// len is the number of entries, for tests.
func (c *resultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// size is the estimated bytes held, for tests.
func (c *resultCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
