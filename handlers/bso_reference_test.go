package handlers

// The decoding of write bodies as it was before bso_decode.go: encoding/json
// into generic maps, then the record rules field by field. It stays here
// as the reference FuzzBSODecodeDifferential holds the scanner to,
// unchanged but for its names and two things:
//   - it visits a record's fields in name order, where it used to visit
//     them in map order, which decided which non-scalar field a 400 names
//     in the log when there are several;
//   - a field with an empty name is an unknown field, as any other key is
//     (legacy: "unknown field ''"). It used to let it through: its
//     unknown == "" meant "none found", and depending on map order the
//     empty name also hid an unknown field found before it.

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"syncserver/db"
)

// refDecodeJSON decodes exactly one JSON value, keeping numbers as
// json.Number so that integers are read exactly.
func refDecodeJSON(b []byte) (any, error) {
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

func refParseRecords(contentType string, body []byte) ([]map[string]any, error) {
	switch mt := mediaType(contentType); mt {
	case mimeJSON, mimeText:
		v, err := refDecodeJSON(body)
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
			v, err := refDecodeJSON(line)
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

func (s *Server) refParseRecord(contentType string, body []byte, coll, id string) (db.BSOUpdate, error) {
	if mt := mediaType(contentType); mt != mimeJSON && mt != mimeText {
		return db.BSOUpdate{}, errUnsupportedType(contentType)
	}
	v, err := refDecodeJSON(body)
	if err != nil {
		return db.BSOUpdate{}, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return db.BSOUpdate{}, errInvalidBSO("body is not a JSON object")
	}
	if k, bad := refNonScalarField(obj); bad {
		return db.BSOUpdate{}, errInvalidBSO("field %.40q is not a scalar", k)
	}
	u, reason := s.refValidateBSO(obj)
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

func (s *Server) refSortRecords(coll string, objs []map[string]any) (*postItems, error) {
	lim := s.opts.Limits
	res := &postItems{failed: make(map[string]string)}
	seen := make(map[string]bool, len(objs))
	var payloadBytes int64
	for i, obj := range objs {
		if k, bad := refNonScalarField(obj); bad {
			return nil, errInvalidBSO("record %d: field %.40q is not a scalar", i, k)
		}
		idv := obj["id"]
		if idv == nil {
			return nil, errInvalidBSO("record %d has no id", i)
		}
		key := refFailedKey(idv)
		if s, ok := idv.(string); ok && seen[s] {
			return nil, errInvalidBSO("record %d repeats id %.70q", i, key)
		}
		u, reason := s.refValidateBSO(obj)
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

func (s *Server) refValidateBSO(obj map[string]any) (u db.BSOUpdate, reason string) {
	unknown, hasUnknown := "", false
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		// The smallest unknown name, so the reason does not vary.
		if v != nil && !knownFields[k] && (!hasUnknown || k < unknown) {
			unknown, hasUnknown = k, true
		}
	}
	if hasUnknown {
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

func refNonScalarField(obj map[string]any) (string, bool) {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch obj[k].(type) {
		case map[string]any, []any:
			return k, true
		}
	}
	return "", false
}

func refFailedKey(id any) string {
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
