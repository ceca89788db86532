package fxa

import (
	"slices"
	"sync"
	"time"
)

// resultCache remembers successful verifications for a short time, keyed
// by SHA-256 of the token (the token itself is never kept), so that a
// client fetching several storage tokens does not cost an RSA check or an
// FxA round trip each time. It never holds more than max entries.
type resultCache struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]cachedToken
}

type cachedToken struct {
	tok   Token
	until time.Time
}

func newResultCache(max int) *resultCache {
	return &resultCache{max: max, m: make(map[[32]byte]cachedToken)}
}

func (c *resultCache) get(key [32]byte, now time.Time) (Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return Token{}, false
	}
	if !now.Before(e.until) {
		delete(c.m, key)
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		c.evictLocked(now)
	}
	tok.Scope = slices.Clone(tok.Scope)
	c.m[key] = cachedToken{tok: tok, until: until}
}

// evictLocked drops expired entries and, if the cache is still full, an
// arbitrary tenth of it: cheap, and enough to keep the bound.
func (c *resultCache) evictLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, k)
		}
	}
	n := len(c.m) - c.max + 1
	if n <= 0 {
		return
	}
	if tenth := c.max / 10; n < tenth {
		n = tenth
	}
	for k := range c.m {
		if n == 0 {
			break
		}
		delete(c.m, k)
		n--
	}
}

// len is the number of entries, for tests.
func (c *resultCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
