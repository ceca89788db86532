package handlers

import (
	"context"
	"net/http"
	"strconv"

	"syncserver/db"
)

// infoCollections answers GET info/collections, which every client sends
// before every sync: it is the hot path. It reads the store's cached
// timestamps without a transaction, so an unchanged user costs no query,
// and a client that already knows them gets a 304. A new user gets 200 {}
// (Firefox treats a 404 here as a login failure).
func (s *Server) infoCollections(ctx context.Context, c *storageCall) (*Response, error) {
	if err := acceptJSONOnly(c.call); err != nil {
		return nil, err
	}
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	ts, colls, err := s.opts.Store.CollectionTimestamps(ctx, c.uid)
	if err != nil {
		return nil, err
	}
	if err := pre.check(ts); err != nil {
		return nil, err
	}
	r := jsonResponse(http.StatusOK, appendTimestampMap(make([]byte, 0, 32+32*len(colls)), colls))
	setLastModified(r, ts)
	r.Header.Set("X-Weave-Records", strconv.Itoa(len(colls)))
	return r, nil
}

// viewInfo runs an info endpoint's read in one transaction, after the
// preconditions checked against the storage timestamp, and returns the
// body with X-Last-Modified set to that timestamp.
func (s *Server) viewInfo(ctx context.Context, c *storageCall, read func(tx db.Tx) ([]byte, int, error)) (*Response, error) {
	if err := acceptJSONOnly(c.call); err != nil {
		return nil, err
	}
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	var ts db.Timestamp
	var body []byte
	records := -1
	err = s.opts.Store.View(ctx, c.uid, func(tx db.Tx) error {
		var err error
		if ts, err = tx.StorageTimestamp(); err != nil {
			return err
		}
		if err := pre.check(ts); err != nil {
			return err
		}
		body, records, err = read(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := jsonResponse(http.StatusOK, body)
	setLastModified(r, ts)
	if records >= 0 {
		r.Header.Set("X-Weave-Records", strconv.Itoa(records))
	}
	return r, nil
}

// infoQuota answers [used KB, quota KB or null], what the legacy server
// reported.
func (s *Server) infoQuota(ctx context.Context, c *storageCall) (*Response, error) {
	return s.viewInfo(ctx, c, func(tx db.Tx) ([]byte, int, error) {
		used, err := tx.StorageUsage()
		if err != nil {
			return nil, 0, err
		}
		quota, err := s.quotaOf(tx)
		if err != nil {
			return nil, 0, err
		}
		b := append([]byte{'['}, formatKB(used)...)
		if quota > 0 {
			b = append(append(b, ','), formatKB(quota)...)
		} else {
			b = append(b, ",null"...)
		}
		// The legacy server counted the elements of any JSON list.
		return append(b, ']'), 2, nil
	})
}

// infoUsage answers {collection: KB} for collections with live records.
func (s *Server) infoUsage(ctx context.Context, c *storageCall) (*Response, error) {
	return s.viewInfo(ctx, c, func(tx db.Tx) ([]byte, int, error) {
		usage, err := tx.CollectionUsage()
		if err != nil {
			return nil, 0, err
		}
		return appendUsage(usage, func(u db.Usage) string { return formatKB(u.Bytes) })
	})
}

// infoCounts answers {collection: number of live records}.
func (s *Server) infoCounts(ctx context.Context, c *storageCall) (*Response, error) {
	return s.viewInfo(ctx, c, func(tx db.Tx) ([]byte, int, error) {
		usage, err := tx.CollectionUsage()
		if err != nil {
			return nil, 0, err
		}
		return appendUsage(usage, func(u db.Usage) string { return strconv.FormatInt(u.Count, 10) })
	})
}

// appendUsage writes one number per collection that has live records.
func appendUsage(usage map[string]db.Usage, value func(db.Usage) string) ([]byte, int, error) {
	b := []byte{'{'}
	n := 0
	for _, name := range sortedKeys(usage) {
		u := usage[name]
		if u.Count <= 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = append(b, value(u)...)
		n++
	}
	return append(b, '}'), n, nil
}

// formatKB formats bytes as kilobytes, the unit of the usage endpoints.
func formatKB(bytes int64) string {
	return strconv.FormatFloat(float64(bytes)/1024, 'f', -1, 64)
}

// infoConfiguration tells clients the limits they must respect. Without
// batch uploads only the two per-request limits apply, as in the legacy
// server.
func (s *Server) infoConfiguration(ctx context.Context, c *storageCall) (*Response, error) {
	if err := acceptJSONOnly(c.call); err != nil {
		return nil, err
	}
	pre, err := parsePreconditions(c.req.Header)
	if err != nil {
		return nil, err
	}
	ts, _, err := s.opts.Store.CollectionTimestamps(ctx, c.uid)
	if err != nil {
		return nil, err
	}
	if err := pre.check(ts); err != nil {
		return nil, err
	}
	l := s.opts.Limits
	fields := []struct {
		name  string
		value int64
	}{
		{"max_request_bytes", l.MaxRequestBytes},
		{"max_record_payload_bytes", l.MaxRecordPayloadBytes},
		{"max_post_records", l.MaxPostRecords},
		{"max_post_bytes", l.MaxPostBytes},
		{"max_total_records", l.MaxTotalRecords},
		{"max_total_bytes", l.MaxTotalBytes},
	}
	if !s.opts.BatchUploadEnabled {
		fields = fields[:2]
	}
	b := []byte{'{'}
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, f.value, 10)
	}
	r := jsonResponse(http.StatusOK, append(b, '}'))
	setLastModified(r, ts)
	return r, nil
}
