package handlers

// Fuzz targets for what a client uploads: POST and PUT bodies in every
// format we read, the record rules of SyncStorage 1.5, and the JSON we
// write back. Plain `go test` runs the seeds below and testdata/fuzz; `make
// fuzz` explores further.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"syncserver/db"
)

// fuzzLimits are small, so that short inputs reach "retry bso", "retry
// bytes" and "payload too large".
var fuzzLimits = Limits{
	MaxRequestBytes:       4096,
	MaxRecordPayloadBytes: 32,
	MaxPostRecords:        3,
	MaxPostBytes:          64,
	MaxTotalRecords:       10,
	MaxTotalBytes:         256,
}

// fuzzBodyTypes are the Content-Types the record parsers read.
var fuzzBodyTypes = []string{mimeJSON, mimeNewlines, "text/plain; charset=UTF-8"}

// bsoSeeds cover each record rule and each whole-request failure of a write.
var bsoSeeds = []string{
	``, `[]`, `{}`, "\n", "{}\n", "{}\n\n", `[{"id":"a"}]`, `{"id":"a"}` + "\n" + `{"id":"b"}`,
	`[{"id":"a","payload":"p","sortindex":1,"ttl":60,"modified":1.5,"collection":"c","payload_size":1}]`,
	`[{"id":"a","sortindex":"12"},{"id":"b","sortindex":12.7},{"id":"c","sortindex":"2.6"},{"id":"d","sortindex":1e9}]`,
	`[{"id":"a","ttl":-1},{"id":"b","ttl":31536001},{"id":"c","ttl":"4.2"},{"id":"d","ttl":null},{"id":"e","ttl":1e400}]`,
	`[{"id":"a","payload":1},{"id":"b","payload":"` + strings.Repeat("x", 40) + `"},{"id":"c","bogus\u0001":1}]`,
	`[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"},{"id":"e"}]`,
	`[{"id":"a","payload":"` + strings.Repeat("y", 30) + `"},{"id":"b","payload":"` + strings.Repeat("y", 30) + `"},{"id":"c","payload":"z"}]`,
	`[{"id":"a"},{"id":"a"}]`, `[{"id":1},{"id":true},{"id":null}]`, `[{"id":"a","x":[]}]`, `[1]`, `{"id":"a"}`,
	`[{"id":"keys","payload":"{\"IV\": \"AAAAAAAAAAAAAAAAAAAAAA==\"}"}]`,
	`[{"id":"` + strings.Repeat("i", 65) + `"},{"id":"tab\there"},{"id":"caf\u00e9"}]`,
	`[{"id":"a","payload":"\ud800\u2028\n\"\\"}] `, `[{"id":"a"}] x`, `[{"id":"a",}]`, "{\"id\":\"a\"}\r\n",
}

// FuzzBSOBody runs POST and PUT bodies of every readable type through the
// parsers and the record rules, with small limits so that short inputs
// reach every per-record failure.
func FuzzBSOBody(f *testing.F) {
	for _, body := range bsoSeeds {
		for i := range fuzzBodyTypes {
			f.Add(uint8(i), []byte(body))
		}
	}
	s := &Server{opts: Options{Limits: fuzzLimits}}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		ct := fuzzBodyTypes[int(sel)%len(fuzzBodyTypes)]
		checkParseRecords(t, ct, body)
		if objs, code := referenceRecords(ct, body); code == 0 {
			for _, coll := range []string{"bookmarks", "crypto"} {
				checkSortRecords(t, s, coll, ct, body, objs)
			}
		}
		checkParseRecord(t, s, ct, body)
	})
}

// checkParseRecords: a POST body parses exactly as encoding/json reads it,
// or fails with 6 (not JSON) or 8 (JSON of the wrong shape) from the first
// offending record; what parses survives a re-encoding in either format.
func checkParseRecords(t *testing.T, ct string, body []byte) {
	t.Helper()
	recs, err := readRecords(ct, body)
	want, wantCode := referenceRecords(ct, body)
	if err != nil {
		if wantCode == 0 {
			t.Fatalf("parseRecords(%s, %q): %v; encoding/json reads %v", ct, body, err, want)
		}
		wantWeave(t, err, http.StatusBadRequest, wantCode)
		return
	}
	if wantCode != 0 {
		t.Fatalf("parseRecords(%s, %q) = %v, want code %d", ct, body, recs, wantCode)
	}
	checkInputs(t, fmt.Sprintf("parseRecords(%s, %q)", ct, body), recs, want)
	// Serialize what encoding/json read and parse it again, as a list and
	// as lines.
	var lines [][]byte
	for _, o := range want {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("re-encoding %v: %v", o, err)
		}
		lines = append(lines, b)
	}
	for _, again := range []struct{ ct, body string }{
		{mimeJSON, "[" + string(bytes.Join(lines, []byte{','})) + "]"},
		{mimeNewlines, string(bytes.Join(lines, []byte{'\n'}))},
	} {
		got, err := readRecords(again.ct, []byte(again.body))
		if err != nil {
			t.Fatalf("round trip of %v as %s %q: %v", want, again.ct, again.body, err)
		}
		checkInputs(t, fmt.Sprintf("round trip of %v as %s %q", want, again.ct, again.body), got, want)
	}
}

// checkInputs: the records read are the objects encoding/json reads, as far
// as the record rules look at them.
func checkInputs(t *testing.T, what string, recs []bsoInput, want []map[string]any) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%s: %d records, encoding/json reads %d", what, len(recs), len(want))
	}
	for i, o := range want {
		if w := inputFromMap(o); recs[i] != w {
			t.Fatalf("%s: record %d is %+v, encoding/json reads %v (%+v)", what, i, recs[i], o, w)
		}
	}
}

// inputFromMap is what the record rules should see of an object
// encoding/json decoded.
func inputFromMap(o map[string]any) bsoInput {
	val := func(v any) jsonValue {
		switch x := v.(type) {
		case string:
			return jsonValue{kindString, x}
		case json.Number:
			return jsonValue{kindNumber, string(x)}
		case bool:
			return jsonValue{kindBool, strconv.FormatBool(x)}
		case []any:
			return jsonValue{kind: kindList}
		case map[string]any:
			return jsonValue{kind: kindObject}
		}
		return jsonValue{}
	}
	rec := bsoInput{id: val(o["id"]), sortIndex: val(o["sortindex"]), ttl: val(o["ttl"]), payload: val(o["payload"])}
	for k, v := range o {
		switch v.(type) {
		case []any, map[string]any:
			if !rec.hasNonScalar || k < rec.nonScalar {
				rec.nonScalar, rec.hasNonScalar = k, true
			}
		}
		if v != nil && k != "" && !knownFields[k] && (!rec.hasUnknown || k < rec.unknown) {
			rec.unknown, rec.hasUnknown = k, true
		}
	}
	return rec
}

// referenceRecords reads a POST body with encoding/json alone: the records,
// or the Weave code the body deserves.
func referenceRecords(ct string, body []byte) ([]map[string]any, int) {
	decode := func(b []byte) (any, bool) {
		if !json.Valid(b) {
			return nil, false
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		d.Decode(&v)
		return v, true
	}
	var out []map[string]any
	if mediaType(ct) == mimeNewlines {
		if len(body) == 0 {
			return nil, 0
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
			v, ok := decode(line)
			if !ok {
				return nil, codeInvalidJSON
			}
			o, ok := v.(map[string]any)
			if !ok {
				return nil, codeInvalidBSO
			}
			out = append(out, o)
		}
		return out, 0
	}
	v, ok := decode(body)
	if !ok {
		return nil, codeInvalidJSON
	}
	list, ok := v.([]any)
	if !ok {
		return nil, codeInvalidBSO
	}
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, codeInvalidBSO
		}
		out = append(out, o)
	}
	return out, 0
}

// checkSortRecords: the records a POST accepts obey every record rule and
// the limits; every record is either accepted or listed as failed with one
// of the legacy reasons; a whole-request failure is 400 with 8.
func checkSortRecords(t *testing.T, s *Server, coll, ct string, body []byte, objs []map[string]any) {
	t.Helper()
	recs, err := parseRecords(ct, body)
	if err != nil {
		t.Fatalf("parseRecords(%s): %v", ct, err)
	}
	res, err := s.sortRecords(coll, recs)
	if err != nil {
		wantWeave(t, err, http.StatusBadRequest, codeInvalidBSO)
		return
	}
	lim := s.opts.Limits
	if len(res.valid) != len(res.success) || int64(len(res.valid)) > lim.MaxPostRecords {
		t.Fatalf("%d valid, %d success, limit %d", len(res.valid), len(res.success), lim.MaxPostRecords)
	}
	seen := map[string]bool{}
	var payloadBytes int64
	for i, u := range res.valid {
		if u.ID != res.success[i] || seen[u.ID] {
			t.Fatalf("success %q does not match valid %q (or repeats)", res.success, u.ID)
		}
		seen[u.ID] = true
		checkUpdate(t, s, u)
		if u.Payload != nil {
			payloadBytes += int64(len(*u.Payload))
			if coll == "crypto" && knownBadIV.MatchString(*u.Payload) {
				t.Fatalf("known-bad crypto payload accepted: %q", *u.Payload)
			}
		}
		checkFromSource(t, u, objs)
		checkBSORoundTrip(t, s, u)
	}
	if payloadBytes > lim.MaxPostBytes {
		t.Fatalf("%d payload bytes accepted, over %d", payloadBytes, lim.MaxPostBytes)
	}
	for id, reason := range res.failed {
		if !knownReason(reason) {
			t.Fatalf("failed[%q] = %q, not a legacy reason", id, reason)
		}
	}
	for _, o := range objs {
		if k := refFailedKey(o["id"]); !seen[k] && res.failed[k] == "" {
			t.Fatalf("record %v is neither in success nor in failed", o)
		}
	}
}

func knownReason(r string) bool {
	switch r {
	case reasonInvalidID, reasonInvalidTTL, reasonInvalidSortIndex, reasonPayloadNotString,
		reasonPayloadTooLarge, reasonRetryBSO, reasonRetryBytes:
		return true
	}
	return strings.HasPrefix(r, "unknown field '") && strings.HasSuffix(r, "'")
}

// checkUpdate: an accepted record obeys the record rules, checked without the code
// under test.
func checkUpdate(t *testing.T, s *Server, u db.BSOUpdate) {
	t.Helper()
	if u.ID != "" && !legalID(u.ID) {
		t.Fatalf("accepted id %q", u.ID)
	}
	if u.SortIndex != nil && (*u.SortIndex < -999_999_999 || *u.SortIndex > 999_999_999) {
		t.Fatalf("accepted sortindex %d", *u.SortIndex)
	}
	if u.TTL != nil && (*u.TTL < 0 || *u.TTL > 31_536_000) {
		t.Fatalf("kept ttl %d", *u.TTL)
	}
	if u.Payload != nil && int64(len(*u.Payload)) > s.opts.Limits.MaxRecordPayloadBytes {
		t.Fatalf("accepted a payload of %d bytes", len(*u.Payload))
	}
}

// legalID is the BSO id rule: 1 to 64 characters, each 0x20 to 0x7E.
func legalID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkFromSource: the accepted values are the ones the client sent; an
// integer sortindex or ttl is taken exactly, a ttl over a year is dropped.
func checkFromSource(t *testing.T, u db.BSOUpdate, objs []map[string]any) {
	t.Helper()
	var src map[string]any
	for _, o := range objs {
		if id, _ := o["id"].(string); id == u.ID {
			src = o // the last record with the id is the accepted one
		}
	}
	if src == nil {
		t.Fatalf("accepted id %q is in no record", u.ID)
	}
	if p, ok := src["payload"].(string); ok != (u.Payload != nil) || ok && p != *u.Payload {
		t.Fatalf("payload %v accepted as %v", src["payload"], u.Payload)
	}
	if n, ok := src["sortindex"].(json.Number); ok {
		if want, err := strconv.ParseInt(string(n), 10, 64); err == nil && *u.SortIndex != want {
			t.Fatalf("sortindex %s accepted as %d", n, *u.SortIndex)
		}
	}
	if n, ok := src["ttl"].(json.Number); ok {
		if want, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			if want > db.MaxTTL && u.TTL != nil || want <= db.MaxTTL && (u.TTL == nil || *u.TTL != want) {
				t.Fatalf("ttl %s kept as %v", n, u.TTL)
			}
		}
	}
}

// checkBSORoundTrip: a record written out as a GET shows it (one line, as
// application/newlines needs) reads back as the same record.
func checkBSORoundTrip(t *testing.T, s *Server, u db.BSOUpdate) {
	t.Helper()
	o := db.BSO{ID: u.ID, Modified: 1700000000120, SortIndex: u.SortIndex}
	if u.Payload != nil {
		o.Payload = *u.Payload
	}
	b := appendBSO(nil, &o)
	if bytes.ContainsAny(b, "\n\r") {
		t.Fatalf("appendBSO(%+v) = %q spans lines", o, b)
	}
	back, err := s.parseRecord(mimeJSON, b, "bookmarks", u.ID)
	if err != nil {
		t.Fatalf("appendBSO(%+v) = %s does not read back: %v", o, b, err)
	}
	if back.Payload == nil || *back.Payload != o.Payload || !reflect.DeepEqual(back.SortIndex, o.SortIndex) {
		t.Fatalf("appendBSO(%+v) = %s reads back as %+v", o, b, back)
	}
}

// checkParseRecord: a PUT body is one object in JSON or text/plain (any
// other type is 415); it fails with 6 when it is not JSON, else with 8, or
// 17 for a payload over the limit; the URL's id always wins.
func checkParseRecord(t *testing.T, s *Server, ct string, body []byte) {
	t.Helper()
	u, err := s.parseRecord(ct, body, "bookmarks", "url-id")
	if mediaType(ct) == mimeNewlines {
		wantWeave(t, err, http.StatusUnsupportedMediaType, codeUnknown)
		return
	}
	if err != nil {
		code := codeInvalidBSO
		switch {
		case !json.Valid(body):
			code = codeInvalidJSON
		case tooLargePayload(body, s.opts.Limits.MaxRecordPayloadBytes):
			code = codeSizeExceeded
		}
		wantWeave(t, err, http.StatusBadRequest, code)
		return
	}
	if !json.Valid(body) {
		t.Fatalf("PUT body %q accepted but is not JSON", body)
	}
	if u.ID != "url-id" {
		t.Fatalf("PUT record id %q, want the URL's", u.ID)
	}
	checkUpdate(t, s, u)
}

// tooLargePayload tells whether body is an object that would be a valid
// record but for a string payload longer than max.
func tooLargePayload(body []byte, max int64) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var o map[string]any
	if d.Decode(&o) != nil {
		return false
	}
	p, ok := o["payload"].(string)
	if !ok || int64(len(p)) <= max {
		return false
	}
	delete(o, "payload")
	b, _ := json.Marshal(o)
	s := &Server{opts: Options{Limits: Limits{MaxRecordPayloadBytes: max}}}
	_, err := s.parseRecord(mimeJSON, b, "bookmarks", "url-id")
	return err == nil
}

// wantWeave fails unless err is an API error with that status and code.
func wantWeave(t *testing.T, err error, status, code int) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want %d with body %d", err, status, code)
	}
	if ae.status != status || ae.code != code {
		t.Fatalf("error %v, want %d with body %d", err, status, code)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\x00\x1f\x7f", "\"\\", "\n\r\t", "<&>", "\xff\xfe", "\u2028\u2029", "é€😀", "\xed\xa0\x80", "a\xc3", "0123456789abcdef\"ghijklm\\nopqrstu\x01vwxyz", "base64+/AAAAAAAAé€😀\xffzzzzzzzz\u2028zzzzzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: %v", s, b, err)
		}
		// Each byte of invalid UTF-8 becomes one U+FFFD.
		var want strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r)
			i += n
		}
		if got != want.String() {
			t.Fatalf("appendJSONString(%q) = %s reads back as %q", s, b, got)
		}
		for _, c := range b {
			if c < 0x20 {
				t.Fatalf("appendJSONString(%q) = %q has a raw control character", s, b)
			}
		}
		if bytes.Contains(b, []byte("\u2028")) || bytes.Contains(b, []byte("\u2029")) {
			t.Fatalf("appendJSONString(%q) = %q has a raw line separator", s, b)
		}
	})
}
