package handlers

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"syncserver/db"
)

// batchMode says what a POST does with batches (SyncStorage API 1.5, batch uploads).
type batchMode int

const (
	batchNone   batchMode = iota // a plain POST, written at once
	batchNew                     // batch=true: open a batch
	batchAppend                  // batch=<id>: add to an open batch
)

// batchParams are a POST's batch and commit parameters.
type batchParams struct {
	mode   batchMode
	id     int64
	commit bool
}

// parseBatchParams reads batch and commit before any database work.
// batch=true (any case) or an empty batch opens a batch; any other value
// must be a batch id, base64 of its decimal digits as this server and the
// legacy one hand them out, or the digits themselves. commit must be
// "true". With batch uploads disabled, batch=true is ignored and commit
// alone is a plain POST, as in the legacy server.
func (s *Server) parseBatchParams(c *call) (batchParams, error) {
	var p batchParams
	if vs, ok := c.query["commit"]; ok {
		if !strings.EqualFold(vs[0], "true") {
			return p, weaveError(http.StatusBadRequest, codeIllegal, "commit is %.20q, not true", vs[0])
		}
		p.commit = true
	}
	vs, hasBatch := c.query["batch"]
	opens := hasBatch && (vs[0] == "" || strings.EqualFold(vs[0], "true"))
	if !s.opts.BatchUploadEnabled {
		if hasBatch && !opens {
			return batchParams{}, weaveError(http.StatusBadRequest, codeIllegal, "batch uploads are disabled")
		}
		return batchParams{}, nil
	}
	switch {
	case !hasBatch && p.commit:
		return p, weaveError(http.StatusBadRequest, codeUnknown, "commit without batch")
	case !hasBatch:
		return p, nil
	case opens:
		p.mode = batchNew
		return p, nil
	}
	id, ok := parseBatchID(vs[0])
	if !ok {
		return p, weaveError(http.StatusBadRequest, codeIllegal, "invalid batch id %.40q", vs[0])
	}
	p.mode, p.id = batchAppend, id
	return p, nil
}

// parseBatchID decodes a batch id: base64 of decimal digits, or digits.
func parseBatchID(v string) (int64, bool) {
	if raw, err := base64.StdEncoding.DecodeString(v); err == nil && isDigits(string(raw)) {
		v = string(raw)
	}
	if !isDigits(v) {
		return 0, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}

// encodeBatchID is the form a batch id is handed to clients in.
func encodeBatchID(id int64) string {
	return base64.StdEncoding.EncodeToString(strconv.AppendInt(nil, id, 10))
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// postCollection writes records, directly or through a batch. Each record
// fails or succeeds alone (see sortRecords); the write, the preconditions
// (against the collection's timestamp) and the quota check share one
// transaction. A direct write or a commit answers 200 with modified = T
// and X-Last-Modified T; a batch that stays open answers 202 with its id
// and X-Last-Modified the collection's unchanged timestamp, since nothing
// is visible yet (Firefox needs X-Last-Modified on every POST answer).
func (s *Server) postCollection(ctx context.Context, c *storageCall) (*Response, error) {
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	bp, err := s.parseBatchParams(c.call)
	if err != nil {
		return nil, err
	}
	if err := s.checkPostHeaders(c.req.Header); err != nil {
		return nil, err
	}
	objs, err := parseRecords(c.req.Header.Get("Content-Type"), c.body)
	if err != nil {
		return nil, err
	}
	items, err := s.sortRecords(c.coll, objs)
	if err != nil {
		return nil, err
	}
	var t, collTS db.Timestamp
	var batchID int64
	var quotaLeft string
	err = s.opts.Store.Update(ctx, c.uid, func(tx db.Tx) error {
		var err error
		if collTS, err = tx.CollectionTimestamp(c.coll); err != nil {
			return err
		}
		if err := pre.check(collTS); err != nil {
			return err
		}
		if quotaLeft, err = s.checkQuota(tx, items.size); err != nil {
			return err
		}
		t = tx.Timestamp()
		switch bp.mode {
		case batchNone:
			return tx.PostBSOs(c.coll, items.valid)
		case batchNew:
			if bp.commit {
				// An immediate commit is a plain POST (DOC).
				return tx.PostBSOs(c.coll, items.valid)
			}
			if err := s.checkBatchTotals(db.Batch{}, items); err != nil {
				return err
			}
			if batchID, err = tx.CreateBatch(c.coll); err != nil {
				return err
			}
			return appendBatch(tx, c.coll, batchID, items.valid)
		}
		b, err := tx.GetBatch(c.coll, bp.id)
		if err != nil {
			return err
		}
		if err := s.checkBatchTotals(b, items); err != nil {
			return err
		}
		batchID = bp.id
		if err := appendBatch(tx, c.coll, batchID, items.valid); err != nil {
			return err
		}
		if bp.commit {
			return tx.CommitBatch(c.coll, batchID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var r *Response
	if bp.mode == batchNone || bp.commit {
		r = jsonResponse(http.StatusOK, appendResult(nil, t, "", items.success, items.failed))
		setLastModified(r, t)
	} else {
		r = jsonResponse(http.StatusAccepted, appendResult(nil, 0, encodeBatchID(batchID), items.success, items.failed))
		setLastModified(r, collTS)
	}
	if quotaLeft != "" {
		r.Header.Set("X-Weave-Quota-Remaining", quotaLeft)
	}
	return r, nil
}

func appendBatch(tx db.Tx, coll string, id int64, updates []db.BSOUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	return tx.AppendBatch(coll, id, updates)
}

// checkBatchTotals enforces max_total_records and max_total_bytes over the
// whole batch, what is staged plus this request, not only the totals the
// client announces in headers: a client cannot grow a batch
// without bound by sending many small POSTs. Over the limit is a 400 with
// 17 and nothing is staged.
func (s *Server) checkBatchTotals(b db.Batch, items *postItems) error {
	lim := s.opts.Limits
	if n := b.Records + int64(len(items.valid)); n > lim.MaxTotalRecords {
		return weaveError(http.StatusBadRequest, codeSizeExceeded, "batch would hold %d records, over max_total_records %d", n, lim.MaxTotalRecords)
	}
	if n := b.Bytes + items.size; n > lim.MaxTotalBytes {
		return weaveError(http.StatusBadRequest, codeSizeExceeded, "batch would hold %d payload bytes, over max_total_bytes %d", n, lim.MaxTotalBytes)
	}
	return nil
}
