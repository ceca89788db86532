package handlers

// Fuzz targets for the listing parameters of GET collection: the parser
// alone, and whole requests through a Server over a real store, which must
// never answer 5xx.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

// querySeeds cover each listing parameter, valid and not.
var querySeeds = []string{
	"", "full", "full=0&sort=oldest", "sort=newest&limit=3", "sort=index&limit=2&offset=2", "sort=bogus",
	"ids=r00,r01", "ids=r00%2C%20r03", "ids=", "ids=a,,b", "ids=" + strings.Repeat("x,", 100) + "x",
	"newer=1700000000.01", "older=1700000001&newer=1700000000", "newer=-1", "older=1e3", "newer=NaN", "older=",
	"limit=0", "limit=-1", "limit=5.0", "limit=%2B4", "limit=99999999999999999999", "limit= 2 ",
	"limit=2&offset=1700000000000:1", "limit=2&offset=1700000000020:1&sort=oldest", "offset=abc", "offset=-3",
	"offset=5:x", "sort=index&offset=1700000000000:1", "newer=1700000000.05&offset=1:0", "limit=1&full=&sort=oldest",
	"a=%zz", "limit=2&limit=3", ";",
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range querySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := url.ParseQuery(raw)
		if err != nil {
			return // the core answers 400 with 1 before any endpoint (FuzzGetCollection)
		}
		q, err := parseQuery(&call{query: params})
		if err != nil {
			wantWeave(t, err, http.StatusBadRequest, codeIllegal)
			return
		}
		checkQuery(t, params, q)
	})
}

// checkQuery compares an accepted query with what SyncStorage 1.5 says each parameter
// means, computed without the parser under test.
func checkQuery(t *testing.T, params url.Values, q db.Query) {
	t.Helper()
	first := func(name string) (string, bool) {
		vs, ok := params[name]
		if !ok {
			return "", false
		}
		return vs[0], true
	}
	if v, ok := first("limit"); !ok {
		if q.Limit != -1 {
			t.Fatalf("no limit parsed as %d", q.Limit)
		}
	} else if want, ok := referenceLimit(v); !ok || q.Limit != want {
		t.Fatalf("limit %q parsed as %d, want %d (valid %v)", v, q.Limit, want, ok)
	}
	if v, ok := first("ids"); ok {
		parts := strings.Split(v, ",")
		if len(q.IDs) != len(parts) || len(parts) > 100 {
			t.Fatalf("ids %q parsed as %d ids", v, len(q.IDs))
		}
		for i, id := range q.IDs {
			if id != strings.TrimSpace(parts[i]) || !legalID(id) {
				t.Fatalf("ids %q parsed as %q", v, q.IDs)
			}
		}
	} else if q.IDs != nil {
		t.Fatalf("no ids parsed as %q", q.IDs)
	}
	for _, tc := range []struct {
		name string
		ts   db.Timestamp
		set  bool
	}{{"newer", q.Newer, q.Newer != 0}, {"older", q.Older, q.HasOlder}} {
		v, ok := first(tc.name)
		if ok != tc.set && !(ok && tc.ts == 0) {
			t.Fatalf("%s %q (given %v) parsed as %d", tc.name, v, ok, tc.ts)
		}
		if tc.ts < 0 || tc.ts%10 != 0 {
			t.Fatalf("%s %q parsed as %d ms, not a 10 ms step", tc.name, v, tc.ts)
		}
		if back, err := db.ParseTimestamp(tc.ts.String()); err != nil || back != tc.ts {
			t.Fatalf("%s %d does not survive its wire form %s: %d, %v", tc.name, tc.ts, tc.ts, back, err)
		}
	}
	wantSort := map[string]db.Sort{"newest": db.SortNewest, "oldest": db.SortOldest, "index": db.SortIndex}
	if v, ok := first("sort"); ok && q.Sort != wantSort[v] || !ok && q.Sort != 0 {
		t.Fatalf("sort %q parsed as %v", v, q.Sort)
	}
	if _, ok := params["full"]; ok != q.Full {
		t.Fatalf("full given %v, parsed %v", ok, q.Full)
	}
	o := q.Offset
	if o.Skip < 0 || o.HasBound && (o.Bound < q.Newer || q.HasOlder && o.Bound > q.Older || q.Sort == db.SortIndex) {
		t.Fatalf("offset %+v accepted for %+v", o, q)
	}
	if v, ok := first("offset"); ok && v != "" {
		if back, err := db.ParseOffset(o.String(), q); err != nil || back != o {
			t.Fatalf("offset %q = %+v does not survive its token %q: %+v, %v", v, o, o.String(), back, err)
		}
	} else if o != (db.Offset{}) {
		t.Fatalf("no offset parsed as %+v", o)
	}
}

// referenceLimit is the protocol's limit: Python's int() of a non-negative decimal,
// so " 5 " and "+5" pass and "5.0" and "-1" do not; values past what an int
// holds mean no limit in practice.
func referenceLimit(v string) (int, bool) {
	s := strings.TrimSpace(v)
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	if len(s)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	if neg {
		return 0, strings.Trim(digits, "0") == ""
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt32 {
		return math.MaxInt32, true
	}
	return int(n), true
}

// fuzzRecord is a seeded record of collection "fuzz", as the store keeps it.
type fuzzRecord struct {
	modified  db.Timestamp
	sortIndex *int64
}

// seedCollection uploads 12 records at three timestamps, four each, with
// repeated and missing sortindexes, so that every sort has ties to page
// through.
func seedCollection(f *testing.F, c *fuzzClient) map[string]fuzzRecord {
	recs := map[string]fuzzRecord{}
	for batch := 0; batch < 3; batch++ {
		var parts []string
		for i := 0; i < 4; i++ {
			id := fmt.Sprintf("r%02d", batch*4+i)
			si := ""
			if i != 3 {
				si = fmt.Sprintf(`,"sortindex":%d`, (batch*4+i)%5)
			}
			parts = append(parts, fmt.Sprintf(`{"id":%q,"payload":"p%d\n\u2028"%s}`, id, i, si))
		}
		r := c.do(http.MethodPost, "/storage/1.5/1/storage/fuzz", "["+strings.Join(parts, ",")+"]")
		if r.Status != http.StatusOK {
			f.Fatalf("seeding: %d %s", r.Status, r.Body)
		}
		c.ts.Clock.Advance(time.Second)
	}
	r := c.do(http.MethodGet, "/storage/1.5/1/storage/fuzz?full", "")
	var got []struct {
		ID        string       `json:"id"`
		Modified  json.Number  `json:"modified"`
		SortIndex *json.Number `json:"sortindex"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || len(got) != 12 {
		f.Fatalf("seeded collection: %s %v", r.Body, err)
	}
	for _, g := range got {
		m, _ := db.ParseTimestamp(string(g.Modified))
		rec := fuzzRecord{modified: m}
		if g.SortIndex != nil {
			n, _ := g.SortIndex.Int64()
			rec.sortIndex = &n
		}
		recs[g.ID] = rec
	}
	return recs
}

func FuzzGetCollection(f *testing.F) {
	for _, s := range querySeeds {
		f.Add(s, "", "")
	}
	f.Add("full&sort=oldest&limit=5", "application/newlines", "")
	f.Add("limit=1&sort=index", "application/json;q=0.5, application/newlines;q=0.6", "")
	f.Add("", "text/plain", "")
	f.Add("", "*/*;q=0", "")
	f.Add("newer=1700000000", "", "1700000002")
	f.Add("", "", "1700000000.5")
	f.Add("", "", "soon")
	c := newFuzzClient(f)
	recs := seedCollection(f, c)
	const path = "/storage/1.5/1/storage/fuzz"
	f.Fuzz(func(t *testing.T, raw, accept, ims string) {
		if !requestTarget(raw) || strings.ContainsAny(accept+ims, "\r\n\x00") {
			return // no web server would pass it on
		}
		var hdr []string
		if accept != "" {
			hdr = append(hdr, "Accept", accept)
		}
		if ims != "" {
			hdr = append(hdr, "X-If-Modified-Since", ims)
		}
		r := c.do(http.MethodGet, path+"?"+raw, "", hdr...)
		switch {
		case r.Status == http.StatusOK:
		case r.Status == http.StatusNotModified && ims != "" && len(r.Body) == 0:
			return
		case r.Status == http.StatusBadRequest && string(r.Body) == "1":
			return
		case r.Status == http.StatusNotAcceptable && string(r.Body) == "0" && accept != "":
			return
		default:
			t.Fatalf("GET ?%s (Accept %q, X-If-Modified-Since %q): %d %q; last error logged: %s",
				raw, accept, ims, r.Status, r.Body, c.errs)
		}
		params, _ := url.ParseQuery(raw) // it parsed, or the answer was 400
		items := checkListing(t, r, params, recs)
		// Following X-Weave-Next-Offset from the first page must give the
		// same records as one request without a limit.
		next := r.Header.Get("X-Weave-Next-Offset")
		if _, ok := params["offset"]; ok || next == "" || len(items) == 0 {
			return
		}
		all := url.Values{}
		for k, vs := range params {
			all[k] = vs
		}
		all.Del("limit")
		want := checkListing(t, c.do(http.MethodGet, path+"?"+all.Encode(), ""), all, recs)
		got := items
		for page := 0; next != ""; page++ {
			if page > len(recs) {
				t.Fatalf("GET ?%s: still paging after %d pages", raw, page)
			}
			params.Set("offset", next)
			r := c.do(http.MethodGet, path+"?"+params.Encode(), "")
			if r.Status != http.StatusOK {
				t.Fatalf("GET ?%s: %d %q", params.Encode(), r.Status, r.Body)
			}
			got = append(got, checkListing(t, r, params, recs)...)
			next = r.Header.Get("X-Weave-Next-Offset")
		}
		if !slices.Equal(got, want) {
			t.Fatalf("GET ?%s: paged %q, want %q", raw, got, want)
		}
	})
}

// requestTarget reports whether raw may appear as the query of a
// request-target (printable ASCII, no space or "#").
func requestTarget(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f || raw[i] == '#' {
			return false
		}
	}
	return true
}

// checkListing checks a 200 listing against the seeded records and the
// parameters, and returns the ids in order.
func checkListing(t *testing.T, r *Response, params url.Values, recs map[string]fuzzRecord) []string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("GET ?%s: %d %q", params.Encode(), r.Status, r.Body)
	}
	var raws []json.RawMessage
	switch ct := r.Header.Get("Content-Type"); ct {
	case mimeJSON:
		if err := json.Unmarshal(r.Body, &raws); err != nil {
			t.Fatalf("GET ?%s: body %q: %v", params.Encode(), r.Body, err)
		}
	case mimeNewlines:
		if len(r.Body) > 0 {
			if r.Body[len(r.Body)-1] != '\n' {
				t.Fatalf("newlines body %q does not end in a newline", r.Body)
			}
			for _, line := range strings.Split(string(r.Body[:len(r.Body)-1]), "\n") {
				raws = append(raws, json.RawMessage(line))
			}
		}
	default:
		t.Fatalf("Content-Type %q", ct)
	}
	if got := r.Header.Get("X-Weave-Records"); got != strconv.Itoa(len(raws)) {
		t.Fatalf("X-Weave-Records %s for %d records", got, len(raws))
	}
	if v, ok := params["limit"]; ok {
		if n, _ := referenceLimit(v[0]); len(raws) > n {
			t.Fatalf("limit %s: %d records", v[0], len(raws))
		}
	}
	_, full := params["full"]
	var ids []string
	for _, raw := range raws {
		var id string
		if full {
			var o map[string]any
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("record %s: %v", raw, err)
			}
			id, _ = o["id"].(string)
			if _, ok := o["payload"].(string); !ok || o["modified"] == nil {
				t.Fatalf("record %s lacks payload or modified", raw)
			}
		} else if err := json.Unmarshal(raw, &id); err != nil {
			t.Fatalf("id %s: %v", raw, err)
		}
		if _, ok := recs[id]; !ok {
			t.Fatalf("unknown id %q in %q", id, r.Body)
		}
		ids = append(ids, id)
	}
	checkFilterAndOrder(t, params, recs, ids)
	return ids
}

// checkFilterAndOrder checks ids against the listing rules: ids, newer and older filter;
// the sort orders, each with the id as tie-breaker.
func checkFilterAndOrder(t *testing.T, params url.Values, recs map[string]fuzzRecord, ids []string) {
	t.Helper()
	get := func(name string) string { return params.Get(name) }
	newer, _ := db.ParseTimestamp(get("newer"))
	older, errOlder := db.ParseTimestamp(get("older"))
	var only []string
	if _, ok := params["ids"]; ok {
		for _, id := range strings.Split(get("ids"), ",") {
			only = append(only, strings.TrimSpace(id))
		}
	}
	for _, id := range ids {
		m := recs[id].modified
		if m <= newer || errOlder == nil && m >= older || only != nil && !slices.Contains(only, id) {
			t.Fatalf("%q (modified %d) returned for ?%s", id, m, params.Encode())
		}
	}
	less := func(a, b string) bool { // a strictly before b
		ra, rb := recs[a], recs[b]
		switch get("sort") {
		case "oldest":
			return ra.modified < rb.modified || ra.modified == rb.modified && a < b
		case "index":
			sa, sb := int64(math.MinInt64), int64(math.MinInt64)
			if ra.sortIndex != nil {
				sa = *ra.sortIndex
			}
			if rb.sortIndex != nil {
				sb = *rb.sortIndex
			}
			return sa > sb || sa == sb && a > b
		}
		return ra.modified > rb.modified || ra.modified == rb.modified && a > b
	}
	for i := 1; i < len(ids); i++ {
		if !less(ids[i-1], ids[i]) {
			t.Fatalf("?%s: %q out of order", params.Encode(), ids)
		}
	}
}
