package handlers

import (
	"context"
	"sync"
	"time"

	"syncserver/db"
)

// NodeBackoffTTL is how long a storage node trusts what it last read of
// its own row in the shared nodes table (syncserver nodes backoff, down):
// an operator's change reaches clients within it, and the table is read
// at most once per period whatever the traffic.
const NodeBackoffTTL = 10 * time.Second

// nodeStatusCache caches the node's row.
type nodeStatusCache struct {
	mu         sync.Mutex
	status     db.Node
	readAt     time.Time
	refreshing bool
}

// nodeStatus returns this node's backoff (seconds, sent as X-Backoff on
// its storage responses, which Firefox honours on any response) and
// whether it is downed. One caller at a time refreshes an expired value;
// the others keep the previous one meanwhile, and a failed read keeps it
// too.
func (s *Server) nodeStatus() db.Node {
	b := &s.storage.status
	now := s.now()
	b.mu.Lock()
	if b.refreshing || (!b.readAt.IsZero() && now.Sub(b.readAt) < NodeBackoffTTL) {
		v := b.status
		b.mu.Unlock()
		return v
	}
	b.refreshing = true
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	v, err := s.opts.Store.Users().NodeStatus(ctx, db.Service, s.storage.node)
	cancel()

	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshing = false
	b.readAt = now
	if err != nil {
		s.log.Debug("storage: could not read this node's row; keeping the last one", logError, err.Error())
		return b.status
	}
	b.status = v
	return v
}

// checkMoved turns away, on a downed node, the client of a uid whose
// record was replaced (syncserver nodes down unassigned it): the 401
// makes Firefox ask the tokenserver for a new token at once, which sends
// it to its new node, instead of syncing here until its token expires.
// A node that is only drained keeps its accounts, which are not replaced.
func (s *Server) checkMoved(ctx context.Context, c *call, uid db.UID, status db.Node) error {
	if !status.Downed {
		return nil
	}
	replaced, err := s.opts.Store.Users().Replaced(ctx, uid)
	if err != nil {
		s.log.Debug("storage: could not check whether the uid moved off this downed node", logUID, int64(uid), logError, err.Error())
		return nil
	}
	if replaced {
		return unauthorized(nil, "uid %d has moved off this downed node; its next token names its new node", uid)
	}
	return nil
}
