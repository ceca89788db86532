package handlers

import (
	"container/list"
	"context"
	"sync"
	"time"

	"syncserver/db"
)

// DefaultBodyBufferBytes is the default of Options.BodyBufferBytes
// ([server:main] max_body_buffer_bytes): 32 MiB hold 15 bodies of the
// largest size a client may send (max_request_bytes, 2 MiB + 4 KiB) at once,
// or hundreds of the few-kilobyte uploads Firefox usually makes. Bodies are
// parsed while they are held, which about doubles what they cost, and the
// garbage collector lets the heap reach twice what is live: the bodies then
// stay within roughly 128 MiB however many clients upload at once.
const DefaultBodyBufferBytes = 32 << 20

// DefaultBodyBufferWait is the default of Options.BodyBufferWait: long
// enough for the uploads under way to finish on a busy server, short enough
// that a client is told to come back later before it gives up by itself.
const DefaultBodyBufferWait = 5 * time.Second

// bodyBudget bounds the bytes of request bodies that all requests together
// hold in memory. A request reserves the bytes of its body before reading
// them and gives them back when its response is done; a request that finds
// no room waits, in turn, for a bounded time.
//
// One user may hold at most perUser of it, so a user who opens many uploads
// at once (a loop in a broken client, or a stolen token) cannot lock every
// other user out: their waits are skipped over, not queued behind.
type bodyBudget struct {
	size    int64
	perUser int64

	mu      sync.Mutex
	used    int64
	users   map[db.UID]int64
	waiters list.List // of *budgetWaiter, oldest first
}

type budgetWaiter struct {
	uid   db.UID
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

// newBodyBudget makes a budget of size bytes of which one user holds at
// most half, or at least room for one body of maxRequest bytes and the
// byte past it that shows a body of unknown length is too large.
func newBodyBudget(size, maxRequest int64) *bodyBudget {
	return &bodyBudget{
		size:    size,
		perUser: min(size, max(size/2, maxRequest+1)),
		users:   make(map[db.UID]int64),
	}
}

// clamp is n limited to what one user can ever hold, so that a request
// larger than that (a small budget configured under max_request_bytes)
// waits for a whole share instead of waiting for ever.
func (b *bodyBudget) clamp(n int64) int64 { return min(n, b.perUser) }

// fits reports whether uid may take n more bytes now. b.mu is held.
func (b *bodyBudget) fits(uid db.UID, n int64) bool {
	return b.used+n <= b.size && b.users[uid]+n <= b.perUser
}

func (b *bodyBudget) take(uid db.UID, n int64) {
	b.used += n
	b.users[uid] += n
}

// acquire reserves n bytes (clamped) for uid, waiting at most wait, and
// returns how many it reserved. It fails when the wait ends or ctx does
// first; nothing is then reserved.
func (b *bodyBudget) acquire(ctx context.Context, uid db.UID, n int64, wait time.Duration) (int64, bool) {
	n = b.clamp(n)
	if n <= 0 {
		return 0, true
	}
	b.mu.Lock()
	// Only a request that would not pass anyone waiting for the same share
	// of the budget may go first; otherwise it queues, as a later reader of
	// a sync.RWMutex does, so that big bodies are not starved by small ones.
	if b.fits(uid, n) && !b.blocked(uid) {
		b.take(uid, n)
		b.mu.Unlock()
		return n, true
	}
	w := &budgetWaiter{uid: uid, n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return n, true
	case <-timer.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted while the timer fired: keep it
		return n, true
	default:
	}
	b.waiters.Remove(elem)
	// Leaving the queue may let the ones behind go.
	b.grant()
	return 0, false
}

// blocked reports whether a waiter is queued that uid must not overtake:
// any waiter stopped by the overall size, or one of uid's own. b.mu is held.
func (b *bodyBudget) blocked(uid db.UID) bool {
	for e := b.waiters.Front(); e != nil; e = e.Next() {
		w := e.Value.(*budgetWaiter)
		if w.uid == uid || b.users[w.uid]+w.n <= b.perUser {
			return true
		}
	}
	return false
}

// release gives back n bytes of uid's and lets waiters in.
func (b *bodyBudget) release(uid db.UID, n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.users[uid] -= n; b.users[uid] <= 0 {
		delete(b.users, uid)
	}
	b.grant()
}

// grant serves the queue in order. A waiter held back only by its own
// user's share is skipped, so that it does not hold up other users; one
// held back by the overall size stops the round, so that it is served
// before anyone behind it. b.mu is held.
func (b *bodyBudget) grant() {
	held := make(map[db.UID]bool)
	for e := b.waiters.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*budgetWaiter)
		switch {
		case held[w.uid] || b.users[w.uid]+w.n > b.perUser:
			held[w.uid] = true // the user's later requests stay behind this one
		case b.used+w.n > b.size:
			return
		default:
			b.take(w.uid, w.n)
			b.waiters.Remove(e)
			close(w.ready)
		}
		e = next
	}
}

// inUse reports the bytes reserved now; tests and metrics read it.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// BodyBytesInUse reports how many bytes of the body budget
// (Options.BodyBufferBytes) requests hold now.
func (s *Server) BodyBytesInUse() int64 { return s.budget.inUse() }
