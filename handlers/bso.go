package handlers

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"syncserver/db"
)

// Record validation follows the legacy Python server (server-syncstorage's
// bso.py), which is what existing clients were written against: sortindex and
// ttl go through Python's int() (so "12" and 12.7 pass), a ttl over a year
// is dropped, null means absent, and the POST failure reasons are its
// strings.

// Per-record failure reasons reported in a POST's "failed" map.
const (
	reasonInvalidID        = "invalid id"
	reasonInvalidTTL       = "invalid ttl"
	reasonInvalidSortIndex = "invalid sortindex"
	reasonPayloadNotString = "payload not a string"
	reasonPayloadTooLarge  = "payload too large"
	reasonRetryBSO         = "retry bso"
	reasonRetryBytes       = "retry bytes"
)

// Bounds of sortindex, inclusive.
const (
	minSortIndex = -999_999_999
	maxSortIndex = 999_999_999
)

// maxIDs is the most ids a GET or DELETE may list (legacy BATCH_MAX_IDS).
const maxIDs = 100

// knownFields are the keys a record may carry. modified, collection and
// payload_size are accepted and ignored: Firefox echoes modified back, and
// older clients sent the others.
var knownFields = map[string]bool{
	"id": true, "sortindex": true, "payload": true, "ttl": true,
	"modified": true, "collection": true, "payload_size": true,
}

// knownBadIV is the IV a broken client release used for every record; such
// crypto/keys would be unreadable by every other device, so they are refused.
var knownBadIV = regexp.MustCompile(`"IV":\s*"AAAAAAAAAAAAAAAAAAAAAA=="`)

// Body errors: 6 for JSON that does not parse, 8 for JSON of the wrong shape.
func errInvalidJSON(format string, args ...any) error {
	return weaveError(http.StatusBadRequest, codeInvalidJSON, format, args...)
}

func errInvalidBSO(format string, args ...any) error {
	return weaveError(http.StatusBadRequest, codeInvalidBSO, format, args...)
}

// parseRecords opens a POST body: a JSON list of objects
// (application/json, or text/plain, which Firefox sends), or one JSON
// object per line (application/newlines, where one trailing newline ends
// the last line and any other empty line is an error). Anything else is
// 415. The records are read, and the body's own errors found, as
// sortRecords goes.
func parseRecords(contentType string, body []byte) (*recordReader, error) {
	switch mt := mediaType(contentType); mt {
	case mimeJSON, mimeText:
		return newListReader(body), nil
	case mimeNewlines:
		return newLinesReader(body), nil
	default:
		return nil, errUnsupportedType(contentType)
	}
}

// parseRecord reads a PUT body: one JSON object, as application/json or
// text/plain. A field that breaks the rules is a 400 with 8, except a
// payload over the size limit (400 with 17). The URL's id wins over any id
// in the body, which is only validated.
func (s *Server) parseRecord(contentType string, body []byte, coll, id string) (db.BSOUpdate, error) {
	if mt := mediaType(contentType); mt != mimeJSON && mt != mimeText {
		return db.BSOUpdate{}, errUnsupportedType(contentType)
	}
	var rec bsoInput
	switch newBSODecoder(body).object(&rec) {
	case jsonInvalid:
		return db.BSOUpdate{}, errInvalidJSON("body is not JSON")
	case jsonTrailing:
		return db.BSOUpdate{}, errInvalidJSON("data after the JSON value")
	case jsonWrongType:
		return db.BSOUpdate{}, errInvalidBSO("body is not a JSON object")
	}
	if rec.hasNonScalar {
		return db.BSOUpdate{}, errInvalidBSO("field %.40q is not a scalar", rec.nonScalar)
	}
	u, reason := s.validateBSO(&rec, nil)
	switch reason {
	case "":
	case reasonPayloadTooLarge:
		return db.BSOUpdate{}, weaveError(http.StatusBadRequest, codeSizeExceeded, "payload over max_record_payload_bytes")
	default:
		return db.BSOUpdate{}, errInvalidBSO("invalid record: %s", reason)
	}
	u.ID = id
	if err := checkKnownBadPayload(coll, u); err != nil {
		return db.BSOUpdate{}, err
	}
	return u, nil
}

// postItems is a POST body sorted into what will be written and what failed.
type postItems struct {
	valid   []db.BSOUpdate
	success []string
	failed  map[string]string
	// size is the payload size of the valid records as usage counts it.
	size int64
}

// sortRecords validates a POST's records in order. Records that break a
// field rule, or come after max_post_records valid records or past
// max_post_bytes of payload, fail alone; a non-scalar field, a record
// without id, an id repeated after it was accepted, or a known-bad crypto
// payload fails the whole request with 400 and 8 (legacy rules). A body
// that is not JSON (6) or not a list of objects (8) fails before all that,
// wherever the fault is.
func (s *Server) sortRecords(coll string, recs *recordReader) (*postItems, error) {
	items, err := s.sortRecordsUntil(coll, recs)
	// Drain the body: an error of its own, even after the records'
	// first, is the one to answer.
	var rec bsoInput
	for recs.read(&rec) {
	}
	if recs.err != nil {
		return nil, recs.err
	}
	return items, err
}

func (s *Server) sortRecordsUntil(coll string, recs *recordReader) (*postItems, error) {
	lim := s.opts.Limits
	n := max(min(int64(recs.most), lim.MaxPostRecords), 0)
	res := &postItems{
		failed:  make(map[string]string),
		valid:   make([]db.BSOUpdate, 0, n),
		success: make([]string, 0, n),
	}
	seen := make(map[string]bool, n)
	slab := newUpdateSlab(int(n))
	var payloadBytes int64
	var rec bsoInput
	for i := 0; recs.read(&rec); i++ {
		if rec.hasNonScalar {
			return nil, errInvalidBSO("record %d: field %.40q is not a scalar", i, rec.nonScalar)
		}
		if rec.id.kind == kindNull {
			return nil, errInvalidBSO("record %d has no id", i)
		}
		key := failedKey(rec.id)
		if rec.id.kind == kindString && seen[key] {
			return nil, errInvalidBSO("record %d repeats id %.70q", i, key)
		}
		u, reason := s.validateBSO(&rec, slab)
		if reason != "" {
			res.failed[key] = reason
			continue
		}
		if int64(len(res.valid)) >= lim.MaxPostRecords {
			res.failed[key] = reasonRetryBSO
			continue
		}
		if u.Payload != nil {
			payloadBytes += int64(len(*u.Payload))
		}
		if payloadBytes > lim.MaxPostBytes {
			res.failed[key] = reasonRetryBytes
			continue
		}
		seen[u.ID] = true
		res.valid = append(res.valid, u)
		res.success = append(res.success, u.ID)
		res.size += u.PayloadSize()
	}
	for _, u := range res.valid {
		if err := checkKnownBadPayload(coll, u); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// updateSlab holds the values a batch of updates points to, so that a
// POST allocates them a chunk at a time rather than one by one.
type updateSlab struct {
	ints  []int64
	strs  []string
	chunk int
}

func newUpdateSlab(n int) *updateSlab {
	return &updateSlab{chunk: max(n, 8)}
}

// int returns a pointer to a copy of n, on the heap with a nil slab.
func (sl *updateSlab) int(n int64) *int64 {
	if sl == nil {
		p := new(int64) // not &n, which would put every n on the heap
		*p = n
		return p
	}
	if len(sl.ints) == cap(sl.ints) {
		// A new chunk: the pointers into the old one stay good.
		sl.ints = make([]int64, 0, 2*sl.chunk)
	}
	sl.ints = append(sl.ints, n)
	return &sl.ints[len(sl.ints)-1]
}

func (sl *updateSlab) str(s string) *string {
	if sl == nil {
		p := new(string)
		*p = s
		return p
	}
	if len(sl.strs) == cap(sl.strs) {
		sl.strs = make([]string, 0, sl.chunk)
	}
	sl.strs = append(sl.strs, s)
	return &sl.strs[len(sl.strs)-1]
}

// validateBSO checks the fields of one record and converts them; reason is
// the legacy failure string, "" when the record is valid. Null fields are
// absent. The update's pointers point into slab (nil: each its own).
func (s *Server) validateBSO(rec *bsoInput, slab *updateSlab) (u db.BSOUpdate, reason string) {
	if rec.hasUnknown {
		return u, "unknown field " + pyRepr(rec.unknown)
	}
	if v := rec.id; v.kind != kindNull {
		if v.kind != kindString || !db.ValidID(v.text) {
			return u, reasonInvalidID
		}
		u.ID = v.text
	}
	if v := rec.sortIndex; v.kind != kindNull {
		n, ok := v.pyInt()
		if !ok || n < minSortIndex || n > maxSortIndex {
			return u, reasonInvalidSortIndex
		}
		u.SortIndex = slab.int(n)
	}
	if v := rec.ttl; v.kind != kindNull {
		n, ok := v.pyInt()
		if !ok || n < 0 {
			return u, reasonInvalidTTL
		}
		// Longer TTLs are ignored, not refused: a client bug once sent
		// them (Mozilla bug 977397).
		if n <= db.MaxTTL {
			u.TTL = slab.int(n)
		}
	}
	if v := rec.payload; v.kind != kindNull {
		if v.kind != kindString {
			return u, reasonPayloadNotString
		}
		if int64(len(v.text)) > s.opts.Limits.MaxRecordPayloadBytes {
			return u, reasonPayloadTooLarge
		}
		u.Payload = slab.str(v.text)
	}
	return u, ""
}

// checkKnownBadPayload refuses crypto records encrypted with the IV of a
// known broken client.
func checkKnownBadPayload(coll string, u db.BSOUpdate) error {
	if coll == "crypto" && u.Payload != nil && knownBadIV.MatchString(*u.Payload) {
		return errInvalidBSO("known-bad IV in crypto/%.70q", u.ID)
	}
	return nil
}

// failedKey is how a record's id appears in the failed map: the string, or
// the JSON text of an id that is not one.
func failedKey(id jsonValue) string {
	switch id.kind {
	case kindString, kindNumber, kindBool:
		return id.text
	}
	return ""
}

// pyInt converts a field value as Python's int() did in the legacy server.
func (v jsonValue) pyInt() (int64, bool) {
	switch v.kind {
	case kindNumber:
		return pyIntNumber(v.text)
	case kindString:
		return pyIntString(v.text)
	}
	return 0, false
}

// pyInt converts a field value as Python's int() did in the legacy server:
// integers, floats truncated toward zero, and decimal strings (surrounding
// space allowed). Out-of-range values saturate so range checks still fail
// them (and an absurd ttl is dropped like any ttl over a year).
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		return pyIntNumber(string(x))
	case string:
		return pyIntString(x)
	}
	return 0, false
}

// pyIntNumber converts the literal of a JSON number.
func pyIntNumber(x string) (int64, bool) {
	if n, err := strconv.ParseInt(x, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(x, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return truncate(f), true
}

// pyIntString converts a string of decimal digits.
func pyIntString(x string) (int64, bool) {
	s := strings.TrimSpace(x)
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if strings.HasPrefix(s, "-") {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	return n, true
}

// truncate converts f to an integer toward zero, saturating.
func truncate(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// pyRepr quotes a field name the way the legacy server's messages did.
func pyRepr(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// parseIDs reads the ids parameter: comma-separated, each trimmed, at most
// 100, each a legal id. An empty element (ids=, a,,b) is a 400 like any
// malformed id: a DELETE must never read it as "no filter".
func parseIDs(v string) ([]string, error) {
	parts := strings.Split(v, ",")
	if len(parts) > maxIDs {
		return nil, weaveError(http.StatusBadRequest, codeIllegal, "%d ids, more than %d", len(parts), maxIDs)
	}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !db.ValidID(p) {
			return nil, weaveError(http.StatusBadRequest, codeIllegal, "invalid id %.70q in ids", p)
		}
		parts[i] = p
	}
	return parts, nil
}
