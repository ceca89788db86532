package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"syncserver/db"
)

// Storage nodes, in Mozilla's nodes table, for setups where several
// servers (or Mozilla's tokenserver tools) share one database.

// Nodes lists the service's nodes with the number of current records
// assigned to each.
func (s *Store) Nodes(ctx context.Context, service string) ([]db.Node, error) {
	if err := s.usersReady(ctx); err != nil {
		return nil, err
	}
	var nodes []db.Node
	err := s.read(ctx, func(q *querier) error {
		nodes = nil // a retry starts again
		rows, err := q.query(`SELECT n.id, n.node, n.available, n.current_load, n.capacity, n.downed, n.backoff,
			(SELECT COUNT(*) FROM users u WHERE u.nodeid = n.id AND u.replaced_at IS NULL)
			FROM nodes n JOIN services sv ON sv.id = n.service WHERE sv.service = ? ORDER BY n.node`, service)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n db.Node
			var downed int64
			if err := rows.Scan(&n.ID, &n.URL, &n.Available, &n.CurrentLoad, &n.Capacity, &downed, &n.Backoff, &n.Users); err != nil {
				return q.fail(err)
			}
			n.Downed = downed != 0
			nodes = append(nodes, n)
		}
		return q.fail(rows.Err())
	})
	return nodes, err
}

// nodeURL is the stored form of a node URL: without trailing slash, as
// node_url is kept.
func nodeURL(url string) string { return strings.TrimRight(strings.TrimSpace(url), "/") }

// AddNode adds a node with the capacity, of which it makes available
// what a release would (capacity * capacity_release_rate, rounded up), as
// Mozilla's add_node does: newcomers spread over the nodes in steps of
// that size rather than filling the emptiest node first.
func (s *Store) AddNode(ctx context.Context, service, url string, capacity int64) error {
	url = nodeURL(url)
	return s.write(ctx, func(q *querier) error {
		sid, err := s.ensureService(q, service)
		if err != nil {
			return err
		}
		var id int64
		err = q.scan("SELECT id FROM nodes WHERE service = ? AND node = ?", []any{sid, url}, &id)
		switch {
		case err == nil:
			return fmt.Errorf("%w: node %s", db.ErrExists, url)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = q.exec("INSERT INTO nodes (service, node, available, current_load, capacity, downed, backoff) VALUES (?, ?, ?, 0, ?, 0, 0)",
			sid, url, s.released(capacity), capacity)
		return err
	})
}

// findNode returns the id of the service's node url, db.ErrNotFound when
// there is none.
func (s *Store) findNode(q *querier, service, url string) (int64, error) {
	var id int64
	err := q.scan("SELECT n.id FROM nodes n JOIN services sv ON sv.id = n.service WHERE sv.service = ? AND n.node = ?",
		[]any{service, url}, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: node %s", db.ErrNotFound, url)
	}
	return id, err
}

// RemoveNode removes a node no current record is assigned to.
func (s *Store) RemoveNode(ctx context.Context, service, url string) error {
	url = nodeURL(url)
	return s.write(ctx, func(q *querier) error {
		id, err := s.findNode(q, service, url)
		if err != nil {
			return err
		}
		var users int64
		if err := q.scan("SELECT COUNT(*) FROM users WHERE nodeid = ? AND replaced_at IS NULL", []any{id}, &users); err != nil {
			return err
		}
		if users > 0 {
			return fmt.Errorf("%w: node %s has %d users", db.ErrInUse, url, users)
		}
		_, err = q.exec("DELETE FROM nodes WHERE id = ?", id)
		return err
	})
}

// SetNodeCapacity changes a node's capacity; what is available follows,
// so that the node accepts newcomers up to the new capacity.
func (s *Store) SetNodeCapacity(ctx context.Context, service, url string, capacity int64) error {
	url = nodeURL(url)
	return s.write(ctx, func(q *querier) error {
		id, err := s.findNode(q, service, url)
		if err != nil {
			return err
		}
		_, err = q.exec(`UPDATE nodes SET capacity = ?,
			available = CASE WHEN ? > current_load THEN ? - current_load ELSE 0 END WHERE id = ?`,
			capacity, capacity, capacity, id)
		return err
	})
}

// errNoNode is the wrapped db.ErrUnavailable of assignNode when no node
// accepts newcomers.
var errNoNode = fmt.Errorf("%w: no node available", db.ErrUnavailable)

// DefaultCapacityReleaseRate is the share of a node's capacity made
// available again when every node is full: the default of Mozilla's
// capacity_release_rate.
const DefaultCapacityReleaseRate = 0.1

// SetCapacityReleaseRate sets Mozilla's capacity_release_rate, the share
// (above 0, at most 1) of a full node's capacity released when no node
// has room for a newcomer.
func (s *Store) SetCapacityReleaseRate(rate float64) {
	if rate > 0 && rate <= 1 {
		s.releaseRate.Store(int64(math.Round(rate * 1e6)))
	}
}

// released is how much of capacity a release makes available: capacity *
// rate rounded up, computed in millionths so that 30 * 0.1 is 3, not the
// 4 a float would round 3.0000000000000004 up to.
func (s *Store) released(capacity int64) int64 {
	rate := s.releaseRate.Load()
	if rate == 0 {
		rate = int64(DefaultCapacityReleaseRate * 1e6)
	}
	return (capacity*rate + 999_999) / 1_000_000
}

// assignNode picks the node of a newcomer of service sid: the only node
// when there is one (whatever its load: the single-node case), else the
// one Mozilla's tokenserver would (get_best_node): available > 0,
// capacity > current_load, not downed and not backed off, the lowest
// current_load/capacity. When none qualifies, capacity is released once
// (available = min(ceil(capacity * capacity_release_rate), capacity -
// current_load) on every
// node not downed with spare capacity) and the choice retried. It returns
// errNoNode when still none qualifies. The caller counts the user in
// (countNodeUser).
func (s *Store) assignNode(q *querier, sid int64) (int64, string, error) {
	var n int64
	if err := q.scan("SELECT COUNT(*) FROM nodes WHERE service = ?", []any{sid}, &n); err != nil {
		return 0, "", err
	}
	switch n {
	case 0:
		return 0, "", errNoNode
	case 1:
		var id int64
		var url string
		// Whatever its load, but not when it is downed or backing off.
		err := q.scan("SELECT id, node FROM nodes WHERE service = ? AND downed = 0 AND backoff = 0", []any{sid}, &id, &url)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, "", errNoNode
		}
		return id, url, err
	}
	for attempt := 0; ; attempt++ {
		var id int64
		var url string
		// current_load * 1.0 makes the ratio a fraction in every
		// dialect (integer division would tie all nodes below 100%).
		err := q.scan(`SELECT id, node FROM nodes WHERE service = ? AND available > 0 AND capacity > current_load
			AND downed = 0 AND backoff = 0 ORDER BY current_load * 1.0 / capacity, id LIMIT 1`, []any{sid}, &id, &url)
		switch {
		case err == nil:
			return id, url, nil
		case !errors.Is(err, sql.ErrNoRows):
			return 0, "", err
		case attempt > 0:
			return 0, "", errNoNode
		}
		released, err := s.releaseCapacity(q, sid)
		if err != nil {
			return 0, "", err
		}
		if !released {
			return 0, "", errNoNode
		}
	}
}

// releaseCapacity makes part of the spare capacity of full nodes
// available again; it reports whether it changed any node. The amounts
// are computed here rather than in SQL, where integer division differs
// between dialects.
func (s *Store) releaseCapacity(q *querier, sid int64) (bool, error) {
	rows, err := q.query(`SELECT id, capacity, current_load FROM nodes
		WHERE service = ? AND available <= 0 AND capacity > current_load AND downed = 0`, sid)
	if err != nil {
		return false, err
	}
	type release struct{ id, available int64 }
	var todo []release
	for rows.Next() {
		var id, capacity, load int64
		if err := rows.Scan(&id, &capacity, &load); err != nil {
			rows.Close()
			return false, q.fail(err)
		}
		todo = append(todo, release{id, min(s.released(capacity), capacity-load)})
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return false, q.fail(err)
	}
	rows.Close()
	for _, r := range todo {
		if _, err := q.exec("UPDATE nodes SET available = ? WHERE id = ?", r.available, r.id); err != nil {
			return false, err
		}
	}
	return len(todo) > 0, nil
}

// countNodeUser counts a new record in on node nid.
func (s *Store) countNodeUser(q *querier, nid int64) error {
	_, err := q.exec("UPDATE nodes SET current_load = current_load + 1, "+
		"available = CASE WHEN available > 0 THEN available - 1 ELSE 0 END WHERE id = ?", nid)
	return err
}

// SetNodeState sets what Mozilla's tokenserver tools change on a node
// besides its capacity: available, downed and backoff (from n; the other
// fields are ignored).
func (s *Store) SetNodeState(ctx context.Context, service, url string, n db.Node) error {
	url = nodeURL(url)
	return s.write(ctx, func(q *querier) error {
		id, err := s.findNode(q, service, url)
		if err != nil {
			return err
		}
		flag := func(b bool) int {
			if b {
				return 1
			}
			return 0
		}
		_, err = q.exec("UPDATE nodes SET available = ?, downed = ?, backoff = ? WHERE id = ?",
			n.Available, flag(n.Downed), n.Backoff, id)
		return err
	})
}

// SetNodeDowned sets or clears the downed flag of a node.
func (s *Store) SetNodeDowned(ctx context.Context, service, url string, downed bool) error {
	v := 0
	if downed {
		v = 1
	}
	return s.updateNode(ctx, service, url, "downed = ?", v)
}

// SetNodeBackoff sets the seconds a node tells its clients to back off.
func (s *Store) SetNodeBackoff(ctx context.Context, service, url string, seconds int64) error {
	return s.updateNode(ctx, service, url, "backoff = ?", max(seconds, 0))
}

func (s *Store) updateNode(ctx context.Context, service, url, set string, arg any) error {
	url = nodeURL(url)
	return s.write(ctx, func(q *querier) error {
		id, err := s.findNode(q, service, url)
		if err != nil {
			return err
		}
		_, err = q.exec("UPDATE nodes SET "+set+" WHERE id = ?", arg, id)
		return err
	})
}

// UnassignNode marks the node's current records replaced (Mozilla's
// unassign_node); their accounts are reassigned at their next token
// request (users.ReassignUser). current_load is left as Mozilla leaves it.
func (s *Store) UnassignNode(ctx context.Context, service, url string) (int64, error) {
	url = nodeURL(url)
	var n int64
	err := s.write(ctx, func(q *querier) error {
		id, err := s.findNode(q, service, url)
		if err != nil {
			return err
		}
		res, err := q.exec("UPDATE users SET replaced_at = ? WHERE nodeid = ? AND replaced_at IS NULL", s.now().UnixMilli(), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return q.fail(err)
	})
	return n, err
}

// NodeStatus returns the backoff and downed flag of the node url, the
// zero db.Node when the node is not in the table.
func (u users) NodeStatus(ctx context.Context, service, url string) (db.Node, error) {
	var n db.Node
	err := u.s.readOne(ctx, func(q *querier) error {
		var downed int64
		err := q.scan(`SELECT n.backoff, n.downed FROM nodes n JOIN services sv ON sv.id = n.service
			WHERE sv.service = ? AND n.node = ?`, []any{service, nodeURL(url)}, &n.Backoff, &downed)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		n.Downed = downed != 0
		return err
	})
	return n, err
}

// Replaced reports whether uid's record is marked replaced.
func (u users) Replaced(ctx context.Context, uid db.UID) (bool, error) {
	var n int64
	err := u.s.readOne(ctx, func(q *querier) error {
		return q.scan("SELECT COUNT(*) FROM users WHERE uid = ? AND replaced_at IS NOT NULL", []any{int64(uid)}, &n)
	})
	return n > 0, err
}
