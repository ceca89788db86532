package hawk

import (
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"time"
)

// Errors returned by NonceCache.Check. Callers answer them with a 401.
var (
	// ErrReplay reports a (token, nonce) pair that was already accepted:
	// somebody is replaying a captured request.
	ErrReplay = errors.New("hawk: replayed nonce")
	// ErrStaleTimestamp reports a ts too far from the server's clock.
	ErrStaleTimestamp = errors.New("hawk: stale timestamp")
)

// NonceCache rejects replayed requests: a nonce is accepted once per token
// while its timestamp is within the window of the server's clock. Neither
// legacy server checks this (neither the Python nor the Rust one), and clients' clocks are often
// wrong, so callers use a wide window (hours). Memory is strictly bounded:
// at most maxEntries nonces are remembered, each as a fixed-size hash, and
// when full the entry that would expire first is evicted. A NonceCache is
// safe for concurrent use.
type NonceCache struct {
	window int64 // seconds; 0 disables the timestamp check
	max    int

	mu      sync.Mutex
	entries map[nonceKey]struct{}
	byAge   expiryHeap
	seq     uint64
}

// nonceKey is SHA-256 of the id and the nonce, so that an entry costs the
// same whatever the client sends.
type nonceKey [sha256.Size]byte

type nonceEntry struct {
	key     nonceKey
	expires int64  // Unix seconds after which a replay is stale anyway
	seq     uint64 // insertion order, to evict the oldest among equals
}

// NewNonceCache returns a cache that accepts timestamps within window of the
// current time and remembers at most maxEntries nonces (at least 1).
// A window of 0 disables the timestamp check; nonces are then remembered
// until pushed out by newer ones. The window is used in whole seconds.
func NewNonceCache(window time.Duration, maxEntries int) *NonceCache {
	maxEntries = max(maxEntries, 1)
	return &NonceCache{
		window:  max(int64(window/time.Second), 0),
		max:     maxEntries,
		entries: make(map[nonceKey]struct{}),
	}
}

// Check records the nonce of a request authenticated with id and sent at ts
// (Unix seconds). It returns ErrStaleTimestamp if ts is more than the window
// away from now, ErrReplay if the pair was already recorded and has not
// expired, and nil otherwise. Call it only after Verify, so that
// unauthenticated requests cannot fill the cache.
func (c *NonceCache) Check(id, nonce string, ts int64, now time.Time) error {
	nowSec := now.Unix()
	expires := int64(math.MaxInt64)
	if c.window > 0 {
		// Comparing against bounds avoids overflow for absurd ts values.
		if ts < nowSec-c.window || ts > nowSec+c.window {
			return ErrStaleTimestamp
		}
		// A replay after ts+window would be stale, so the entry can go then.
		expires = ts + c.window
	}
	key := hashNonce(id, nonce)

	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byAge) > 0 && c.byAge[0].expires < nowSec {
		delete(c.entries, heap.Pop(&c.byAge).(nonceEntry).key)
	}
	if _, ok := c.entries[key]; ok {
		return ErrReplay
	}
	if len(c.entries) >= c.max {
		delete(c.entries, heap.Pop(&c.byAge).(nonceEntry).key)
	}
	c.seq++
	heap.Push(&c.byAge, nonceEntry{key: key, expires: expires, seq: c.seq})
	c.entries[key] = struct{}{}
	return nil
}

// Len returns the number of remembered nonces, for metrics and tests.
func (c *NonceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func hashNonce(id, nonce string) nonceKey {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(id))) // so ("ab","c") differs from ("a","bc")
	h.Write(n[:])
	h.Write([]byte(id))
	h.Write([]byte(nonce))
	var k nonceKey
	h.Sum(k[:0])
	return k
}

// expiryHeap orders entries by expiry, then by insertion, so the root is the
// first to expire (or, without a window, the oldest).
type expiryHeap []nonceEntry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].expires != h[j].expires {
		return h[i].expires < h[j].expires
	}
	return h[i].seq < h[j].seq
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(nonceEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
