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

// Errors returned by NonceCache.Check. Callers answer ErrReplay,
// ErrForgotten and ErrStaleTimestamp with a 401, ErrFull with a 503.
var (
	// ErrReplay reports a (token, nonce) pair that was already accepted:
	// somebody is replaying a captured request.
	ErrReplay = errors.New("hawk: replayed nonce")
	// ErrForgotten reports a request whose ts is not later than that of a
	// nonce its owner's partition had to forget to stay within its bound:
	// it may be a replay of that request, so it is refused. A genuine
	// client gets this only after a flood of its own user's requests.
	ErrForgotten = errors.New("hawk: timestamp not after a forgotten nonce")
	// ErrStaleTimestamp reports a ts too far from the server's clock, or
	// credentials that expired.
	ErrStaleTimestamp = errors.New("hawk: stale timestamp")
	// ErrFull reports that the cache holds its maximum of owners and no
	// nonce it could forget: it cannot take a new owner without forgetting
	// what protects another. Nothing is known about the request.
	ErrFull = errors.New("hawk: nonce cache full")
)

// NonceCache rejects replayed requests: a nonce is accepted once per token
// while the request could still authenticate, that is while its timestamp
// is within the window of the server's clock and its credentials have not
// expired. Neither legacy server checks this (neither the Python nor the Rust one), and clients'
// clocks are often wrong, so callers use a wide window.
//
// Memory is strictly bounded: the cache holds at most max units, a unit
// being one remembered nonce (a fixed-size hash, whatever the client
// sends); an owner costs ownerUnits more. The cache is partitioned by owner (the user the
// credentials belong to), so that one user's requests can never make
// another user's nonces forgettable:
//
//   - When the cache is full, the nonce forgotten is the oldest (by ts)
//     one of the owner holding the most nonces — the flooder, not its
//     victims. The oldest, not the first to expire: the floor below
//     refuses every ts up to the forgotten one's, and a genuine client's
//     next requests carry its newest ts. (The nonce of a request that
//     expires first may be a second old: a write's, next to polls whose
//     expired token is still accepted for a while. Forgetting it refused
//     the rest of that second's requests of its user.)
//   - A partition that forgets a nonce remembers the highest ts it forgot
//     (its floor) for as long as a forgotten nonce could still be
//     replayed, and refuses every request of that owner with a ts not
//     after it (ErrForgotten). So no forgotten nonce is ever accepted
//     again: a user's own flood costs that user refusals, never a replay.
//   - A new owner is refused (ErrFull) only when the cache holds
//     max/ownerUnits owners, none with a nonce left to forget: that many
//     distinct owners were active within the lifetime of their
//     credentials. Only then does a user who floods with many accounts
//     delay others, and never by making a replay succeed.
//
// A NonceCache is safe for concurrent use.
type NonceCache struct {
	window int64 // seconds; 0 disables the timestamp check
	max    int   // units: nonces plus ownerUnits per owner

	mu        sync.Mutex
	owners    map[int64]*partition
	bySize    sizeHeap // every partition; the largest first
	units     int
	nextSweep int64 // Unix seconds of the next sweep of every partition
}

// ownerUnits is what an owner costs, in nonces: its partition's map,
// heap and bookkeeping take about five times the memory of a nonce.
const ownerUnits = 4

// sweepInterval is how often every partition is swept of expired nonces,
// so that owners who stopped sending requests give back their room.
const sweepInterval = 60

// nonceKey is a truncated SHA-256 of the id and the nonce, so that an entry
// costs the same whatever the client sends. A collision matters only within
// one owner's partition, and can only refuse that owner's request as a
// replay, never accept one: with at most 65,536 nonces in a partition, 64
// bits make that less likely than 1 in 2^48 for any request. 128 bits
// would make no difference but to the memory, of which the cache is most
// of what the server keeps.
type nonceKey uint64

type nonceEntry struct {
	key     nonceKey
	expires int64 // Unix seconds after which a replay is refused anyway
	ts      int64 // the request's ts, which the floor keeps
}

// partition is the nonces of one owner.
type partition struct {
	owner   int64
	entries map[nonceKey]struct{}
	byAge   ageHeap
	// peak is the size entries and byAge were allocated for; they are
	// rebuilt when the partition shrinks well below it, as neither a map
	// nor a slice gives memory back by itself.
	peak int
	// floor is the highest ts of a forgotten nonce; requests with a ts not
	// after it are refused until floorUntil, when every forgotten nonce
	// would be refused anyway. hasFloor is false until one is forgotten.
	floor      int64
	floorUntil int64
	hasFloor   bool
	index      int // in NonceCache.bySize
}

// NewNonceCache returns a cache that accepts timestamps within window of
// the current time and holds at most maxUnits units (at least
// ownerUnits+1): one per nonce plus ownerUnits per owner. Full, it takes
// about 70 bytes a unit (measured), 210 at worst (every map and slice at
// the end of its growth). A window of 0 disables the timestamp check;
// nonces are then remembered until their credentials expire. The window
// is used in whole seconds.
func NewNonceCache(window time.Duration, maxUnits int) *NonceCache {
	return &NonceCache{
		window: max(int64(window/time.Second), 0),
		max:    max(maxUnits, ownerUnits+1),
		owners: make(map[int64]*partition),
	}
}

// Check records the nonce of a request authenticated with the token id,
// sent at ts (Unix seconds), for owner (the user the token is for), with
// credentials accepted until the Unix second until (0 for no limit). It
// returns ErrStaleTimestamp if ts is more than the window away from now or
// until has passed, ErrReplay if the pair was already recorded and could
// still authenticate, ErrForgotten if ts is not after a nonce of this owner
// the cache had to forget, ErrFull if there is no room for a new owner,
// and nil otherwise. Call it only after the credentials are verified, so
// that unauthenticated requests cannot fill the cache.
func (c *NonceCache) Check(owner int64, id, nonce string, ts, until int64, now time.Time) error {
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
	if until > 0 {
		if until < nowSec {
			return ErrStaleTimestamp
		}
		// Nor can a replay authenticate once the credentials expired.
		expires = min(expires, until)
	}
	key := hashNonce(id, nonce)

	c.mu.Lock()
	defer c.mu.Unlock()
	if nowSec >= c.nextSweep {
		c.sweep(nowSec)
	}
	p := c.owners[owner]
	if p != nil && c.dropExpired(p, nowSec) {
		p = nil
	}
	if p != nil {
		if _, ok := p.entries[key]; ok {
			return ErrReplay
		}
		if p.hasFloor && ts <= p.floor {
			return ErrForgotten
		}
	}
	need := 1
	if p == nil {
		need += ownerUnits
	}
	for c.units+need > c.max {
		if !c.evict(nowSec) {
			return ErrFull
		}
	}
	if p == nil {
		p = &partition{owner: owner, entries: make(map[nonceKey]struct{})}
		c.owners[owner] = p
		heap.Push(&c.bySize, p)
		c.units += ownerUnits
	}
	p.byAge.push(nonceEntry{key: key, expires: expires, ts: ts})
	p.entries[key] = struct{}{}
	p.peak = max(p.peak, len(p.entries))
	c.units++
	heap.Fix(&c.bySize, p.index)
	return nil
}

// Len returns the number of remembered nonces, for metrics and tests.
func (c *NonceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.units - ownerUnits*len(c.owners)
}

// Owners returns the number of partitions, for metrics and tests.
func (c *NonceCache) Owners() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.owners)
}

// evict makes room for one unit: it forgets the oldest nonce of the
// largest partition, raising that partition's floor so the forgotten
// nonce stays refused, unless it expired already. First it sweeps expired
// nonces, at most once a second. It reports false when no partition holds
// a nonce.
func (c *NonceCache) evict(nowSec int64) bool {
	if nowSec >= c.nextSweep-sweepInterval+1 {
		before := c.units
		c.sweep(nowSec)
		if c.units < before {
			return true
		}
	}
	if len(c.bySize) == 0 || len(c.bySize[0].entries) == 0 {
		return false
	}
	p := c.bySize[0]
	e := p.byAge.pop()
	delete(p.entries, e.key)
	c.units--
	// An expired nonce's replay is refused anyway (Check's window and
	// credentials checks), so it needs no floor.
	if e.expires >= nowSec {
		if !p.hasFloor || e.ts > p.floor {
			p.floor = e.ts
		}
		p.floorUntil = max(p.floorUntil, e.expires)
		p.hasFloor = true
	}
	c.shrink(p)
	heap.Fix(&c.bySize, p.index)
	return true
}

// sweep drops the expired nonces of every partition (those dropExpired
// reaches), and the partitions left with neither a nonce nor a floor that
// still matters.
func (c *NonceCache) sweep(nowSec int64) {
	c.nextSweep = nowSec + sweepInterval
	for _, p := range c.owners {
		c.dropExpired(p, nowSec)
	}
}

// dropExpired forgets p's nonces that could no longer authenticate, and
// p itself when nothing is left in it; it reports whether p went. It
// looks only at the oldest nonces: one that expired behind an older one
// still valid (a write's, behind a poll that an expired token may still
// make) is dropped when it becomes the oldest, or forgotten by evict.
func (c *NonceCache) dropExpired(p *partition, nowSec int64) bool {
	n := len(p.entries)
	for len(p.byAge) > 0 && p.byAge[0].expires < nowSec {
		delete(p.entries, p.byAge.pop().key)
	}
	c.units -= n - len(p.entries)
	if p.hasFloor && p.floorUntil < nowSec {
		p.hasFloor = false
	}
	if len(p.entries) == 0 && !p.hasFloor {
		heap.Remove(&c.bySize, p.index)
		delete(c.owners, p.owner)
		c.units -= ownerUnits
		return true
	}
	if len(p.entries) != n {
		c.shrink(p)
		heap.Fix(&c.bySize, p.index)
	}
	return false
}

// shrink reallocates p's map and heap once it holds less than half of
// what they were grown for, so that a flood's memory is given back and a
// partition never holds more than about twice what its nonces need.
func (c *NonceCache) shrink(p *partition) {
	const minPeak = 64
	if p.peak <= minPeak || len(p.entries) >= p.peak/2 {
		return
	}
	entries := make(map[nonceKey]struct{}, len(p.entries))
	for k := range p.entries {
		entries[k] = struct{}{}
	}
	p.entries = entries
	p.byAge = append(make(ageHeap, 0, len(p.byAge)), p.byAge...)
	p.peak = len(p.entries)
}

func hashNonce(id, nonce string) nonceKey {
	// One buffer hashed at once: on the stack for the usual sizes (a
	// Firefox token is about 400 bytes), where a streaming hash.Hash and
	// its writes would cost allocations on every request.
	b := make([]byte, 0, 640)
	b = binary.BigEndian.AppendUint64(b, uint64(len(id))) // so ("ab","c") differs from ("a","bc")
	b = append(b, id...)
	b = append(b, nonce...)
	sum := sha256.Sum256(b)
	return nonceKey(binary.BigEndian.Uint64(sum[:8]))
}

// ageHeap orders a partition's entries by ts, then by expiry, so the root
// is the oldest.
type ageHeap []nonceEntry

func (h ageHeap) Len() int { return len(h) }
func (h ageHeap) Less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts < h[j].ts
	}
	return h[i].expires < h[j].expires
}
func (h ageHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

// push adds e. It is container/heap's Push without the interface, which
// boxed every entry: an allocation on every authenticated request.
func (h *ageHeap) push(e nonceEntry) {
	*h = append(*h, e)
	for j := len(*h) - 1; j > 0; {
		i := (j - 1) / 2
		if !h.Less(j, i) {
			break
		}
		h.Swap(i, j)
		j = i
	}
}

// pop removes and returns the root, the oldest entry.
func (h *ageHeap) pop() nonceEntry {
	old := *h
	n := len(old) - 1
	old.Swap(0, n)
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && old.Less(r, j) {
			j = r
		}
		if !old.Less(j, i) {
			break
		}
		old.Swap(i, j)
		i = j
	}
	e := old[n]
	*h = old[:n]
	return e
}

// sizeHeap orders the partitions by number of nonces, the largest first:
// the one to forget a nonce of when the cache is full.
type sizeHeap []*partition

func (h sizeHeap) Len() int           { return len(h) }
func (h sizeHeap) Less(i, j int) bool { return len(h[i].entries) > len(h[j].entries) }
func (h sizeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *sizeHeap) Push(x any) {
	p := x.(*partition)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *sizeHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
