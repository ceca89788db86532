package token

import (
	"strings"
	"sync"
)

// Cache remembers successfully parsed tokens so that the many requests a
// client makes with one token skip base64, HMAC, JSON and HKDF work. Only
// valid tokens are cached, so a client sending garbage cannot evict real
// entries. Memory is bounded by two generations of at most size/2
// entries each: when the current generation fills up it becomes the old one
// and the previous old one is dropped (a cheap approximation of LRU).
// A Cache is safe for concurrent use.
type Cache struct {
	secrets *Secrets
	half    int

	mu  sync.RWMutex
	cur map[string]cacheEntry
	old map[string]cacheEntry
}

type cacheEntry struct {
	p   Payload
	key string
}

// NewCache returns a cache over s holding at most size tokens (at least 2).
func NewCache(s *Secrets, size int) *Cache {
	half := max(size/2, 1)
	return &Cache{
		secrets: s,
		half:    half,
		cur:     make(map[string]cacheEntry),
		old:     make(map[string]cacheEntry),
	}
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
		c.insertLocked(tok, e)
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
	delete(c.old, tok) // a racing insert may have left it there
	if _, ok := c.cur[tok]; !ok && len(c.cur) >= c.half {
		c.old = c.cur
		c.cur = make(map[string]cacheEntry, c.half)
	}
	c.cur[tok] = e
}
