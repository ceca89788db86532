package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		rows, err := q.query(`SELECT n.id, n.node, n.available, n.current_load, n.capacity, n.downed, n.backoff,
			(SELECT COUNT(*) FROM users u WHERE u.nodeid = n.id AND u.replaced_at IS NULL)
			FROM nodes n JOIN services sv ON sv.id = n.service WHERE sv.service = ? ORDER BY n.node`, service)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n db.Node
			var downed, backoff int64
			if err := rows.Scan(&n.ID, &n.URL, &n.Available, &n.CurrentLoad, &n.Capacity, &downed, &backoff, &n.Users); err != nil {
				return q.fail(err)
			}
			n.Downed, n.Backoff = downed != 0, backoff != 0
			nodes = append(nodes, n)
		}
		return q.fail(rows.Err())
	})
	return nodes, err
}

// nodeURL is the stored form of a node URL: without trailing slash, as
// node_url is kept.
func nodeURL(url string) string { return strings.TrimRight(strings.TrimSpace(url), "/") }

// AddNode adds a node with the capacity, all of it available.
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
			sid, url, capacity, capacity)
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
