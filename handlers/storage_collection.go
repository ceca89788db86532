package handlers

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strconv"

	"syncserver/db"
)

// parseQuery reads the listing parameters of GET collection (SyncStorage
// API 1.5). Every malformed value is a 400 with 1; unknown
// parameters are ignored.
func parseQuery(c *call) (db.Query, error) {
	q := db.Query{Limit: -1}
	bad := func(name, v string) error {
		return weaveError(http.StatusBadRequest, codeIllegal, "bad %s %.40q", name, v)
	}
	params := c.query
	if vs, ok := params["ids"]; ok {
		ids, err := parseIDs(vs[0])
		if err != nil {
			return q, err
		}
		q.IDs = ids
	}
	if vs, ok := params["newer"]; ok {
		t, err := db.ParseTimestamp(vs[0])
		if err != nil {
			return q, bad("newer", vs[0])
		}
		q.Newer = t
	}
	if vs, ok := params["older"]; ok {
		t, err := db.ParseTimestamp(vs[0])
		if err != nil {
			return q, bad("older", vs[0])
		}
		q.Older, q.HasOlder = t, true
	}
	_, q.Full = params["full"] // any value, even full=0, as the legacy server did
	if vs, ok := params["limit"]; ok {
		n, ok := parseLimit(vs[0])
		if !ok {
			return q, bad("limit", vs[0])
		}
		q.Limit = n
	}
	if vs, ok := params["sort"]; ok {
		switch vs[0] {
		case "newest":
			q.Sort = db.SortNewest
		case "oldest":
			q.Sort = db.SortOldest
		case "index":
			q.Sort = db.SortIndex
		default:
			return q, bad("sort", vs[0])
		}
	}
	if vs, ok := params["offset"]; ok {
		o, err := db.ParseOffset(vs[0], q)
		if err != nil {
			return q, bad("offset", vs[0])
		}
		q.Offset = o
	}
	return q, nil
}

// parseLimit accepts a non-negative decimal integer; larger than an int
// means no limit in practice.
func parseLimit(v string) (int, bool) {
	n, ok := pyInt(v)
	if !ok || n < 0 {
		return 0, false
	}
	return int(min(n, math.MaxInt32)), true
}

// getCollection lists a collection: ids, or whole records with full, as a
// JSON list or as application/newlines. A collection the user does not have
// is empty, not missing. X-Last-Modified is the collection's timestamp.
func (s *Server) getCollection(ctx context.Context, c *storageCall) (*Response, error) {
	format := negotiate(c.req.Header, mimeJSON, mimeNewlines)
	if format == "" {
		return nil, errNotAcceptable
	}
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	q, err := parseQuery(c.call)
	if err != nil {
		return nil, err
	}
	var ts db.Timestamp
	var page db.Page
	err = s.opts.Store.View(ctx, c.uid, func(tx db.Tx) error {
		var err error
		if ts, err = tx.CollectionTimestamp(c.coll); err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		page, err = tx.FindBSOs(c.coll, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := newResponse(http.StatusOK)
	r.Header.Set("Content-Type", format)
	r.Body = encodeListing(format, q.Full, page.Items)
	setLastModified(r, ts)
	r.Header.Set("X-Weave-Records", strconv.Itoa(len(page.Items)))
	if page.Next != "" {
		r.Header.Set("X-Weave-Next-Offset", page.Next)
	}
	return r, nil
}

// encodeListing writes records as a JSON list, or one JSON value per line
// for application/newlines (no literal newline can appear inside a line:
// appendJSONString escapes it).
func encodeListing(format string, full bool, items []db.BSO) []byte {
	per := 16
	if full {
		per = 96
		if len(items) > 0 {
			per += len(items[0].Payload)
		}
	}
	b := make([]byte, 0, 2+len(items)*per)
	newlines := format == mimeNewlines
	if !newlines {
		b = append(b, '[')
	}
	for i := range items {
		if i > 0 && !newlines {
			b = append(b, ',')
		}
		start := len(b)
		if full {
			b = appendBSO(b, &items[i])
		} else {
			b = appendJSONString(b, items[i].ID)
		}
		if newlines {
			if bytes.IndexByte(b[start:], '\n') >= 0 {
				line := bytes.ReplaceAll(b[start:], []byte{'\n'}, []byte(`\u000a`))
				b = append(b[:start], line...)
			}
			b = append(b, '\n')
		}
	}
	if !newlines {
		b = append(b, ']')
	}
	return b
}

// deleteCollection deletes the listed records (ids=…) or the whole
// collection. Both answer {"modified": T}; the preconditions compare with
// the collection's timestamp, so any change to it since the client looked
// gives 412. The store keeps the user's timestamps moving forward, so
// X-If-Modified-Since on info/collections sees the deletion.
func (s *Server) deleteCollection(ctx context.Context, c *storageCall) (*Response, error) {
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	var ids []string
	vs, hasIDs := c.query["ids"]
	if hasIDs {
		if ids, err = parseIDs(vs[0]); err != nil {
			return nil, err
		}
	}
	var t db.Timestamp
	err = s.opts.Store.Update(ctx, c.uid, func(tx db.Tx) error {
		ts, err := tx.CollectionTimestamp(c.coll)
		if err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		t = tx.Timestamp()
		if hasIDs {
			return tx.DeleteBSOs(c.coll, ids)
		}
		return tx.DeleteCollection(c.coll)
	})
	if err != nil {
		return nil, err
	}
	return modifiedResponse(t), nil
}

// deleteStorage deletes everything the user has (DELETE /1.5/{uid} and
// /1.5/{uid}/storage). Firefox does this when it starts over, before
// uploading new keys.
func (s *Server) deleteStorage(ctx context.Context, c *storageCall) (*Response, error) {
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	var t db.Timestamp
	err = s.opts.Store.Update(ctx, c.uid, func(tx db.Tx) error {
		ts, err := tx.StorageTimestamp()
		if err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		t = tx.Timestamp()
		return tx.DeleteStorage()
	})
	if err != nil {
		return nil, err
	}
	return modifiedResponse(t), nil
}
