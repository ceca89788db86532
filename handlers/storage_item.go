package handlers

import (
	"context"
	"net/http"

	"syncserver/db"
)

// getItem returns one live record; 404 when it is missing or expired.
// The preconditions compare with the record's modified (0 when missing).
func (s *Server) getItem(ctx context.Context, c *storageCall) (*Response, error) {
	if err := acceptJSONOnly(c.call); err != nil {
		return nil, err
	}
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	var bso db.BSO
	err = s.opts.Store.View(ctx, c.uid, func(tx db.Tx) error {
		ts, err := tx.BSOTimestamp(c.coll, c.item)
		if err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		bso, err = tx.GetBSO(c.coll, c.item)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := jsonResponse(http.StatusOK, appendBSO(make([]byte, 0, 96+len(bso.Payload)), &bso))
	setLastModified(r, bso.Modified)
	return r, nil
}

// putItem creates or updates one record: only the fields sent change. The
// answer is the write's timestamp T as a bare number, also in
// X-Last-Modified (and so X-Weave-Timestamp), which clients store as the
// record's modified. X-If-Unmodified-Since: 0 succeeds only when the record
// does not exist yet, which is how Firefox uploads meta/global and keys.
func (s *Server) putItem(ctx context.Context, c *storageCall) (*Response, error) {
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	u, err := s.parseRecord(c.req.Header.Get("Content-Type"), c.body, c.coll, c.item)
	if err != nil {
		return nil, err
	}
	var t db.Timestamp
	var quotaLeft string
	err = s.opts.Store.Update(ctx, c.uid, func(tx db.Tx) error {
		ts, err := tx.BSOTimestamp(c.coll, c.item)
		if err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		if quotaLeft, err = s.checkQuota(tx, u.PayloadSize()); err != nil {
			return err
		}
		t = tx.Timestamp()
		return tx.PutBSO(c.coll, u)
	})
	if err != nil {
		return nil, err
	}
	r := jsonResponse(http.StatusOK, t.AppendTo(nil))
	setLastModified(r, t)
	if quotaLeft != "" {
		r.Header.Set("X-Weave-Quota-Remaining", quotaLeft)
	}
	return r, nil
}

// deleteItem deletes one live record and answers {"modified": T}; 404 when
// it is missing or expired.
func (s *Server) deleteItem(ctx context.Context, c *storageCall) (*Response, error) {
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	var t db.Timestamp
	err = s.opts.Store.Update(ctx, c.uid, func(tx db.Tx) error {
		ts, err := tx.BSOTimestamp(c.coll, c.item)
		if err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		t = tx.Timestamp()
		return tx.DeleteBSO(c.coll, c.item)
	})
	if err != nil {
		return nil, err
	}
	return modifiedResponse(t), nil
}
