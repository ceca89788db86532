package token

import (
	"math"
	"strings"
	"sync"
)

// Cache remembers successfully parsed tokens so that the many requests a
// client makes with one token skip base64, HMAC, JSON and HKDF work. Only
// valid tokens are cached, so a client sending garbage cannot evict real
// entries. Memory is bounded by two generations, each holding at most half
// the cache's bound: when the current generation fills up it becomes the
// old one and the previous old one is dropped (a cheap approximation of
// LRU). The bound is a number of entries (NewCache) or of bytes
// (NewCacheBytes), an entry's bytes being what it holds — the token, its
// derived key and the payload's strings — plus entryOverhead.
// A Cache is safe for concurrent use.
type Cache struct {
	secrets *Secrets
	// halfEntries and halfBytes bound one generation; the one not given
	// to the constructor is unlimited.
	halfEntries int
	halfBytes   int64

	mu       sync.RWMutex
	cur      map[string]cacheEntry
	old      map[string]cacheEntry
	curBytes int64
	oldBytes int64
}

type cacheEntry struct {
	p   Payload
	key string
}

// entryOverhead is what an entry costs beside the bytes of its strings: the
// map's slot (eight string headers, two integers), its share of the map's
// growth slack, and the rounding of each string to its allocation size
// class. Measured with runtime.MemStats on 1,000 to 30,000 cached tokens of
// Firefox's shape (400 bytes): 250 to 360 bytes.
const entryOverhead = 368

// NewCache returns a cache over s holding at most size tokens (at least 2).
func NewCache(s *Secrets, size int) *Cache {
	return &Cache{
		secrets:     s,
		halfEntries: max(size/2, 1),
		halfBytes:   math.MaxInt64,
		cur:         make(map[string]cacheEntry),
		old:         make(map[string]cacheEntry),
	}
}

// NewCacheBytes returns a cache over s whose entries take at most about
// maxBytes of memory (counted as entryBytes does), whatever the size of
// the tokens. It always keeps the last token parsed.
func NewCacheBytes(s *Secrets, maxBytes int64) *Cache {
	return &Cache{
		secrets:     s,
		halfEntries: math.MaxInt,
		halfBytes:   max(maxBytes/2, 1),
		cur:         make(map[string]cacheEntry),
		old:         make(map[string]cacheEntry),
	}
}

// entryBytes is the memory an entry of tok takes: its strings, and the
// map slot and bookkeeping around them.
func entryBytes(tok string, e cacheEntry) int64 {
	p := e.p
	return int64(entryOverhead + len(tok) + len(e.key) + len(p.Node) + len(p.FxAUID) + len(p.FxAKID) +
		len(p.HashedFxAUID) + len(p.HashedDeviceID) + len(p.Salt))
}

// Parse is Secrets.Parse with memoisation; its results and errors are the same.
func (c *Cache) Parse(tok string) (Payload, string, error) {
	c.mu.RLock()
	e, ok := c.cur[tok]
	c.mu.RUnlock()
	if ok {
		return e.p, e.key, nil
	}

	c.mu.Lock()
	if e, ok := c.cur[tok]; ok {
		c.mu.Unlock()
		return e.p, e.key, nil
	}
	if e, ok := c.old[tok]; ok {
		// Still in use: promote it so that it survives the next rotation.
		// Cloned for the same reason as below.
		c.insertLocked(strings.Clone(tok), e)
		c.mu.Unlock()
		return e.p, e.key, nil
	}
	c.mu.Unlock()

	p, key, err := c.secrets.Parse(tok)
	if err != nil {
		return Payload{}, "", err
	}
	c.mu.Lock()
	// Clone: tok may share memory with a much larger request header.
	c.insertLocked(strings.Clone(tok), cacheEntry{p: p, key: key})
	c.mu.Unlock()
	return p, key, nil
}

// insertLocked adds an entry to the current generation, rotating first when
// it is full. c.mu must be held for writing.
func (c *Cache) insertLocked(tok string, e cacheEntry) {
	if old, ok := c.old[tok]; ok { // a racing insert may have left it there
		c.oldBytes -= entryBytes(tok, old)
		delete(c.old, tok)
	}
	n := entryBytes(tok, e)
	if prev, ok := c.cur[tok]; ok {
		c.curBytes -= entryBytes(tok, prev)
	} else if len(c.cur) > 0 && (len(c.cur) >= c.halfEntries || c.curBytes+n > c.halfBytes) {
		c.old, c.oldBytes = c.cur, c.curBytes
		c.cur, c.curBytes = make(map[string]cacheEntry), 0
	}
	c.cur[tok] = e
	c.curBytes += n
}

// Bytes returns the memory the cached entries take, as counted against a
// NewCacheBytes bound, for metrics and tests.
func (c *Cache) Bytes() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.curBytes + c.oldBytes
}
