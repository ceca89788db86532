package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"syncserver/db"
)

// ids decodes a JSON list of ids.
func ids(tb testing.TB, r *Response) []string {
	tb.Helper()
	var out []string
	if err := json.Unmarshal(r.Body, &out); err != nil {
		tb.Fatalf("body %q: %v", r.Body, err)
	}
	return out
}

// records decodes a JSON list of records.
func records(tb testing.TB, r *Response) []map[string]any {
	tb.Helper()
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		tb.Fatalf("body %q: %v", r.Body, err)
	}
	return out
}

func wantIDs(tb testing.TB, r *Response, want ...string) {
	tb.Helper()
	if want == nil {
		want = []string{}
	}
	if got := ids(tb, r); !slices.Equal(got, want) {
		tb.Fatalf("ids %q, want %q", got, want)
	}
}

// The legacy functional tests pin it: GET on an unknown collection returns [], not 404.
func TestGetUnknownCollectionReturnsEmptyList(t *testing.T) {
	u := newTestServer(t).user(1)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/nothing", "")
	wantResponse(t, r, http.StatusOK, "[]")
	wantHeader(t, r, "X-Last-Modified", "0.00")
	wantHeader(t, r, "X-Weave-Records", "0")
	wantHeader(t, r, "Content-Type", "application/json")
}

// The legacy functional tests pin it: X-Weave-Records equals the number of items returned.
func TestXWeaveRecordsEqualsItemsReturned(t *testing.T) {
	u := newTestServer(t).user(1)
	u.post("bookmarks", `[{"id":"a"},{"id":"b"},{"id":"c"}]`)
	for q, n := range map[string]string{"": "3", "?limit=2": "2", "?ids=a,x": "1", "?full=1&limit=1": "1"} {
		wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/bookmarks"+q, ""), "X-Weave-Records", n)
	}
}

// The legacy functional tests pin it: newer and older are strict bounds and combine.
func TestNewerAndOlderAreStrict(t *testing.T) {
	u := newTestServer(t).user(1)
	t1 := mustTimestamp(t, string(u.post("c", `[{"id":"a"},{"id":"b"}]`).Modified))
	t2 := u.put("c", "c", `{}`)
	t3 := u.put("c", "d", `{}`)
	get := func(q string) *Response {
		return u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest&"+q, "")
	}
	wantIDs(t, get("newer="+t1.String()), "c", "d")
	wantIDs(t, get("older="+t3.String()), "a", "b", "c")
	wantIDs(t, get("newer="+t1.String()+"&older="+t3.String()), "c")
	wantIDs(t, get("newer="+t2.String()+"&older="+t3.String()))
	wantIDs(t, get("newer=0"), "a", "b", "c", "d")
}

// The legacy functional tests pin it: ids= returns only the existing ids among those listed.
func TestIDsReturnsOnlyExistingListed(t *testing.T) {
	u := newTestServer(t).user(1)
	u.post("c", `[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"17"}]`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest&ids=1,3,17,99", "")
	wantIDs(t, r, "1", "17", "3") // one timestamp: by id
	// Percent-encoded commas and spaces around ids work too.
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest&ids=1%2C%203", ""), "1", "3")
}

// The legacy functional tests pin it: exactly 100 ids is allowed for GET and DELETE; 101 is a 400.
// 100 random ids that do not exist give [].
func TestHundredIDsAllowedHundredOneRejected(t *testing.T) {
	u := newTestServer(t).user(1)
	list := make([]string, 101)
	for i := range list {
		list[i] = fmt.Sprintf("id%d", i)
	}
	hundred, hundredOne := strings.Join(list[:100], ","), strings.Join(list, ",")
	wantResponse(t, u.do(http.MethodGet, "/storage/c?ids="+hundred, ""), http.StatusOK, "[]")
	wantResponse(t, u.do(http.MethodGet, "/storage/c?ids="+hundredOne, ""), http.StatusBadRequest, "1")
	wantResponse(t, u.do(http.MethodDelete, "/storage/c?ids="+hundred, ""), http.StatusOK, "-")
	wantResponse(t, u.do(http.MethodDelete, "/storage/c?ids="+hundredOne, ""), http.StatusBadRequest, "1")
}

// An empty element in ids is a 400: a DELETE must never read ids= as "no filter".
func TestEmptyIDsElementIs400(t *testing.T) {
	u := newTestServer(t).user(1)
	u.post("c", `[{"id":"a"}]`)
	for _, q := range []string{"ids=", "ids=a,,b", "ids=a,", "ids=%20"} {
		wantResponse(t, u.do(http.MethodGet, "/storage/c?"+q, ""), http.StatusBadRequest, "1")
		wantResponse(t, u.do(http.MethodDelete, "/storage/c?"+q, ""), http.StatusBadRequest, "1")
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "a")
}

// The legacy functional tests pin it: random text in newer/older/limit/offset gives 400; unknown
// parameters are ignored. Also sort, and limit=-1 (negative fields).
func TestRandomTextInParamsIs400AndUnknownParamsIgnored(t *testing.T) {
	u := newTestServer(t).user(1)
	u.post("c", `[{"id":"a"}]`)
	for _, q := range []string{
		"newer=x", "older=x", "limit=x", "offset=x", "newer=", "older=-1", "newer=-1",
		"limit=-1", "limit=5.0", "limit=", "offset=1:x", "offset=-1", "sort=x", "sort=", "sort=none",
		"offset=5:0&sort=index", "newer=2&offset=1000:0",
	} {
		wantResponse(t, u.do(http.MethodGet, "/storage/c?"+q, ""), http.StatusBadRequest, "1")
	}
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?blabla=1&v=2", ""), "a")
}

// full is a presence flag: any value asks for whole records.
func TestFullIsPresenceWithAnyValue(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("c", "a", `{"payload":"p"}`)
	for _, q := range []string{"full", "full=", "full=0", "full=1", "full=false"} {
		r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?"+q, "")
		if got := records(t, r); len(got) != 1 || got[0]["payload"] != "p" {
			t.Errorf("%s: %s", q, r.Body)
		}
	}
}

// The legacy functional tests pin it: sort=newest / oldest / index; sortindexes -1, 34, 12 by index
// give [34, 12, -1].
func TestSortOrders(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("c", "x", `{"sortindex":-1}`)
	u.put("c", "y", `{"sortindex":34}`)
	u.put("c", "z", `{"sortindex":12}`)
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=index", ""), "y", "z", "x")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=newest", ""), "z", "y", "x")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", ""), "x", "y", "z")
	wantIDs(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "z", "y", "x")
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=index&full=1", "")
	var got []string
	for _, rec := range records(t, r) {
		got = append(got, string(rec["sortindex"].(json.Number)))
	}
	if !slices.Equal(got, []string{"34", "12", "-1"}) {
		t.Errorf("sortindexes %v", got)
	}
}

// The legacy functional tests pin it: paging with limit/offset works for every sort and none, also
// across equal timestamps with newer+oldest and older+newest; limit=10000
// with the last offset returns the rest without a next offset.
func TestPagingEverySortAcrossEqualTimestamps(t *testing.T) {
	u := newTestServer(t).user(1)
	var stamps []db.Timestamp
	for batch := 0; batch < 3; batch++ {
		var b strings.Builder
		b.WriteString("[")
		for i := 0; i < 4; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"id":"b%di%d","sortindex":%d}`, batch, i, batch*10+i)
		}
		b.WriteString("]")
		stamps = append(stamps, mustTimestamp(t, string(u.post("c", b.String()).Modified)))
	}
	filters := []string{"", "newer=" + (stamps[0] - 10).String(), "older=" + (stamps[2] + 10).String(), "newer=" + stamps[0].String()}
	for _, sort := range []string{"", "newest", "oldest", "index"} {
		for _, filter := range filters {
			base := "/storage/c?sort=" + sort + "&" + filter
			if sort == "" {
				base = "/storage/c?" + filter
			}
			all := ids(t, u.mustDo(http.StatusOK, http.MethodGet, base, ""))
			for limit := 1; limit <= 6; limit++ {
				var got []string
				offset := ""
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatalf("%s limit %d: paging does not end", base, limit)
					}
					q := base + "&limit=" + strconv.Itoa(limit)
					if offset != "" {
						q += "&offset=" + offset
					}
					r := u.mustDo(http.StatusOK, http.MethodGet, q, "")
					page := ids(t, r)
					got = append(got, page...)
					offset = r.Header.Get("X-Weave-Next-Offset")
					if offset == "" {
						break
					}
					if len(page) != limit {
						t.Fatalf("%s: short page %q with a next offset", q, page)
					}
				}
				if !slices.Equal(got, all) {
					t.Errorf("%s limit %d: paged %q, want %q", base, limit, got, all)
				}
			}
			// The rest in one go.
			r := u.mustDo(http.StatusOK, http.MethodGet, base+"&limit=5", "")
			next := r.Header.Get("X-Weave-Next-Offset")
			if len(all) > 5 {
				rest := u.mustDo(http.StatusOK, http.MethodGet, base+"&limit=10000&offset="+next, "")
				wantHeader(t, rest, "X-Weave-Next-Offset", "")
				if got := ids(t, rest); !slices.Equal(got, all[5:]) {
					t.Errorf("%s rest: %q, want %q", base, got, all[5:])
				}
			}
		}
	}
}

// syncstorage-rs's database rule: limit=0 returns [] with next offset "0" when
// something matches.
func TestLimitZeroReturnsEmptyListWithOffsetZero(t *testing.T) {
	u := newTestServer(t).user(1)
	wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?limit=0", ""), "X-Weave-Next-Offset", "")
	u.post("c", `[{"id":"a"},{"id":"b"}]`)
	for _, sort := range []string{"", "&sort=oldest", "&sort=index"} {
		r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?limit=0"+sort, "")
		wantResponse(t, r, http.StatusOK, "[]")
		wantHeader(t, r, "X-Weave-Next-Offset", "0")
	}
}

// Without limit everything comes back, with no next offset.
func TestNoLimitReturnsEverything(t *testing.T) {
	u := newTestServer(t).user(1)
	for i := 0; i < 3; i++ {
		var parts []string
		for j := 0; j < 100; j++ {
			parts = append(parts, fmt.Sprintf(`{"id":"i%d_%d"}`, i, j))
		}
		u.post("c", "["+strings.Join(parts, ",")+"]")
	}
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", "")
	wantHeader(t, r, "X-Weave-Records", "300")
	wantHeader(t, r, "X-Weave-Next-Offset", "")
}

// The legacy functional tests pin it: full output has exactly id, modified and payload when
// sortindex is null, and modified has exactly two decimals.
func TestFullOutputKeysAndTwoDecimals(t *testing.T) {
	u := newTestServer(t).user(1)
	u.put("c", "a", `{"payload":"p","ttl":100}`)
	u.put("c", "b", `{"payload":"q","sortindex":3}`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?full=1&sort=oldest", "")
	recs := records(t, r)
	if len(recs) != 2 || len(recs[0]) != 3 || len(recs[1]) != 4 {
		t.Fatalf("records %s", r.Body)
	}
	for _, k := range []string{"id", "modified", "payload"} {
		if _, ok := recs[0][k]; !ok {
			t.Errorf("no %s in %s", k, r.Body)
		}
	}
	twoDecimals := regexp.MustCompile(`"modified":\d+\.\d\d[,}]`)
	if n := len(twoDecimals.FindAll(r.Body, -1)); n != 2 {
		t.Errorf("modified without two decimals: %s", r.Body)
	}
	item := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c/a", "")
	if !twoDecimals.Match(item.Body) {
		t.Errorf("item %s", item.Body)
	}
}

// The legacy functional tests pin it: Accept application/newlines gives newline-terminated JSON
// lines; a newline inside a payload survives the round trip; an unknown
// Accept is a 406; no Accept gives JSON.
func TestNewlinesOutputAndAcceptNegotiation(t *testing.T) {
	u := newTestServer(t).user(1)
	u.post("c", `[{"id":"a","payload":"line1\nline2"},{"id":"b","payload":"x"}]`)
	r := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?full=1&sort=oldest", "", "Accept", "application/newlines")
	wantHeader(t, r, "Content-Type", "application/newlines")
	lines := strings.Split(string(r.Body), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("body %q", r.Body)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["payload"] != "line1\nline2" {
		t.Fatalf("first line %q: %v", lines[0], err)
	}
	ids := u.mustDo(http.StatusOK, http.MethodGet, "/storage/c?sort=oldest", "", "Accept", "application/newlines")
	wantResponse(t, ids, http.StatusOK, "\"a\"\n\"b\"\n")
	empty := u.mustDo(http.StatusOK, http.MethodGet, "/storage/none", "", "Accept", "application/newlines")
	wantResponse(t, empty, http.StatusOK, "")

	for accept, want := range map[string]string{
		"":                                      "application/json",
		"application/json":                      "application/json",
		"*/*":                                   "application/json",
		"application/*":                         "application/json",
		"application/json, */*; q=0.9":          "application/json",
		"application/newlines;q=0.9, */*;q=0.1": "application/newlines",
	} {
		var r *Response
		if accept == "" {
			r = u.do(http.MethodGet, "/storage/c", "")
		} else {
			r = u.do(http.MethodGet, "/storage/c", "", "Accept", accept)
		}
		wantHeader(t, r, "Content-Type", want)
	}
	for _, accept := range []string{"text/plain", "application/xml", "application/json;q=0"} {
		wantResponse(t, u.do(http.MethodGet, "/storage/c", "", "Accept", accept), http.StatusNotAcceptable, "0")
	}
}

func TestEncodeListingEscapesNewlines(t *testing.T) {
	items := []db.BSO{{ID: "a\nb", Payload: "x\ny\u2028\x01\"\\<&>\xff"}}
	got := string(encodeListing(mimeNewlines, true, items))
	want := `{"id":"a\nb","modified":0.00,"payload":"x\ny\u2028\u0001\"\\<&>\ufffd"}` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// The legacy functional tests pin it: GET collection and items of other collections, X-Last-Modified
// is the collection's timestamp.
func TestGetCollectionLastModifiedIsCollectionTimestamp(t *testing.T) {
	u := newTestServer(t).user(1)
	T := u.put("c", "a", `{}`)
	u.put("other", "a", `{}`)
	wantHeader(t, u.mustDo(http.StatusOK, http.MethodGet, "/storage/c", ""), "X-Last-Modified", T.String())
}
