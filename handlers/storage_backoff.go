package handlers

import (
	"context"
	"sync"
	"time"

	"syncserver/db"
)

// NodeBackoffTTL is how long a storage node trusts what it last read of
// its own backoff (syncserver nodes backoff, kept in the shared nodes
// table): an operator's change reaches clients within it, and the table
// is read at most once per period whatever the traffic.
const NodeBackoffTTL = 10 * time.Second

// backoffState caches the node's backoff seconds.
type backoffState struct {
	mu         sync.Mutex
	seconds    int64
	readAt     time.Time
	refreshing bool
}

// nodeBackoff returns the seconds this node tells its clients to back
// off through X-Backoff on its storage responses (Firefox honours it on
// any response), 0 for none. One caller at a time refreshes an expired value; the
// others keep the previous one meanwhile, and a failed read keeps it too.
func (s *Server) nodeBackoff() int64 {
	b := &s.storage.backoff
	now := s.now()
	b.mu.Lock()
	if b.refreshing || (!b.readAt.IsZero() && now.Sub(b.readAt) < NodeBackoffTTL) {
		v := b.seconds
		b.mu.Unlock()
		return v
	}
	b.refreshing = true
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	v, err := s.opts.Store.Users().NodeBackoff(ctx, db.Service, s.storage.node)
	cancel()

	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshing = false
	b.readAt = now
	if err != nil {
		s.log.Debug("storage: could not read this node's backoff; keeping the last value", logError, err.Error())
		return b.seconds
	}
	b.seconds = v
	return v
}
