package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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

// decodeJSON decodes exactly one JSON value, keeping numbers as
// json.Number so that integers are read exactly.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errInvalidJSON("body is not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errInvalidJSON("data after the JSON value")
	}
	return v, nil
}

// parseRecords reads a POST body: a JSON list of objects
// (application/json, or text/plain, which Firefox sends), or one JSON
// object per line (application/newlines, where one trailing newline ends
// the last line and any other empty line is an error). Anything else is 415.
func parseRecords(contentType string, body []byte) ([]map[string]any, error) {
	switch mt := mediaType(contentType); mt {
	case mimeJSON, mimeText:
		v, err := decodeJSON(body)
		if err != nil {
			return nil, err
		}
		list, ok := v.([]any)
		if !ok {
			return nil, errInvalidBSO("body is not a JSON list")
		}
		objs := make([]map[string]any, len(list))
		for i, e := range list {
			if objs[i], ok = e.(map[string]any); !ok {
				return nil, errInvalidBSO("element %d is not an object", i)
			}
		}
		return objs, nil
	case mimeNewlines:
		if len(body) == 0 {
			return nil, nil
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte{'\n'}), []byte{'\n'})
		objs := make([]map[string]any, len(lines))
		for i, line := range lines {
			v, err := decodeJSON(line)
			if err != nil {
				return nil, errInvalidJSON("line %d is not JSON", i+1)
			}
			var ok bool
			if objs[i], ok = v.(map[string]any); !ok {
				return nil, errInvalidBSO("line %d is not an object", i+1)
			}
		}
		return objs, nil
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
	v, err := decodeJSON(body)
	if err != nil {
		return db.BSOUpdate{}, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return db.BSOUpdate{}, errInvalidBSO("body is not a JSON object")
	}
	if k, bad := nonScalarField(obj); bad {
		return db.BSOUpdate{}, errInvalidBSO("field %.40q is not a scalar", k)
	}
	u, reason := s.validateBSO(obj)
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
// payload fails the whole request with 400 and 8 (legacy rules).
func (s *Server) sortRecords(coll string, objs []map[string]any) (*postItems, error) {
	lim := s.opts.Limits
	res := &postItems{failed: make(map[string]string)}
	seen := make(map[string]bool, len(objs))
	var payloadBytes int64
	for i, obj := range objs {
		if k, bad := nonScalarField(obj); bad {
			return nil, errInvalidBSO("record %d: field %.40q is not a scalar", i, k)
		}
		idv := obj["id"]
		if idv == nil {
			return nil, errInvalidBSO("record %d has no id", i)
		}
		key := failedKey(idv)
		if s, ok := idv.(string); ok && seen[s] {
			return nil, errInvalidBSO("record %d repeats id %.70q", i, key)
		}
		u, reason := s.validateBSO(obj)
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

// validateBSO checks the fields of one record and converts them; reason is
// the legacy failure string, "" when the record is valid. Null fields are
// absent.
func (s *Server) validateBSO(obj map[string]any) (u db.BSOUpdate, reason string) {
	unknown := ""
	for k, v := range obj {
		// The smallest unknown name, so the reason does not vary.
		if v != nil && !knownFields[k] && (unknown == "" || k < unknown) {
			unknown = k
		}
	}
	if unknown != "" {
		return u, "unknown field " + pyRepr(unknown)
	}
	if v := obj["id"]; v != nil {
		id, ok := v.(string)
		if !ok || !db.ValidID(id) {
			return u, reasonInvalidID
		}
		u.ID = id
	}
	if v := obj["sortindex"]; v != nil {
		n, ok := pyInt(v)
		if !ok || n < minSortIndex || n > maxSortIndex {
			return u, reasonInvalidSortIndex
		}
		u.SortIndex = &n
	}
	if v := obj["ttl"]; v != nil {
		n, ok := pyInt(v)
		if !ok || n < 0 {
			return u, reasonInvalidTTL
		}
		// Longer TTLs are ignored, not refused: a client bug once sent
		// them (Mozilla bug 977397).
		if n <= db.MaxTTL {
			u.TTL = &n
		}
	}
	if v := obj["payload"]; v != nil {
		p, ok := v.(string)
		if !ok {
			return u, reasonPayloadNotString
		}
		if int64(len(p)) > s.opts.Limits.MaxRecordPayloadBytes {
			return u, reasonPayloadTooLarge
		}
		u.Payload = &p
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

// nonScalarField returns the name of a field whose value is a list or an
// object, which no record field may be.
func nonScalarField(obj map[string]any) (string, bool) {
	for k, v := range obj {
		switch v.(type) {
		case map[string]any, []any:
			return k, true
		}
	}
	return "", false
}

// failedKey is how a record's id appears in the failed map: the string, or
// the JSON text of an id that is not one.
func failedKey(id any) string {
	switch v := id.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// pyInt converts a field value as Python's int() did in the legacy server:
// integers, floats truncated toward zero, and decimal strings (surrounding
// space allowed). Out-of-range values saturate so range checks still fail
// them (and an absurd ttl is dropped like any ttl over a year).
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		return truncate(f), true
	case string:
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
	return 0, false
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
