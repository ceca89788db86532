package sqldb

import (
	"context"

	"syncserver/db"
)

// FindSQL is the statement and arguments FindBSOs runs for uid's
// collection coll, in the dialect's placeholders, for the plan tests.
func (s *Store) FindSQL(ctx context.Context, uid db.UID, coll string, q db.Query) (query string, args []any, err error) {
	err = s.View(ctx, uid, func(dtx db.Tx) error {
		t := dtx.(*tx)
		cid, _, err := t.collectionID(coll, false)
		if err != nil {
			return err
		}
		query, args = t.findSQL(cid, q)
		query = s.d.rebind(query)
		return nil
	})
	return query, args, err
}

// KeepLeftovers stops Update from deleting, after the commit, the records
// DeleteCollection left: the state a concurrent request sees meanwhile.
func (s *Store) KeepLeftovers() { s.keepLeftovers = true }

// WritesWaiting is how many writes wait at the write gate.
func (s *Store) WritesWaiting() int64 { return s.gateWaiting.Load() }
