package handlers

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"syncserver/db"
)

// trickySeeds are bodies where a JSON reader's details show: repeated and
// escaped names, case, escapes and surrogates, invalid UTF-8, numbers
// strconv reads differently, nesting, whitespace and what may follow.
var trickySeeds = []string{
	`[{"id":"a","id":"b"}]`, `[{"id":"a","ID":"b"}]`, `[{"Id":"a"}]`, `[{"id":"a","Payload":"x"}]`,
	`[{"id":"a","SortIndex":1,"TTL":2}]`, `[{"id":"a","x":[1],"x":1}]`, `[{"id":"a","x":1,"x":[1]}]`,
	`[{"id":"a","x":1,"x":null}]`, `[{"id":"a","x":null,"x":1}]`, `[{"id":[],"id":"a"}]`, `[{"id":"a","id":{}}]`,
	`[{"id":"a","payload":{},"payload":"p"}]`, `[{"id":"a","payload":"p","payload":null}]`,
	`[{"id":"a","b":[],"a":{},"c":1}]`, `[{"id":"a","modified":[]},{"id":"b","collection":{}}]`,
	`[{"i\u0064":"a","p\u0061yload":"x"}]`, `[{"id":"a\u0000"}]`, `[{"id":"a","payload":"\u0000\b\f\n\r\t\/\\\""}]`,
	`[{"id":"a","payload":"\ud83d\ude00"}]`, `[{"id":"a","payload":"\ude00\ud83d"}]`, `[{"id":"a","payload":"\ud83d"}]`,
	`[{"id":"a","payload":"\ud83dx"}]`, `[{"id":"a","payload":"\ud83d\u0041"}]`, `[{"id":"a","payload":"\uD83D\uDE00\ud83d\ud83d\ude00"}]`,
	"[{\"id\":\"a\",\"payload\":\"\xff\xfe\"}]", "[{\"id\xff\":1}]", "[{\"id\":\"\xed\xa0\x80\"}]", "[{\"id\":\"a\",\"payload\":\"\xc3\"}]",
	"[{\"id\":\"a\",\"payload\":\"\xef\xbf\xbd\\n\xe2\x80\xa8\"}]", "[{\"id\":\"a\"}\xff]", "[{\"\\u00e9\xc3\xa9\":1}]",
	`[{"id":"a","sortindex":99999999999999999999},{"id":"b","sortindex":-0},{"id":"c","sortindex":1e400},{"id":"d","sortindex":-1e400}]`,
	`[{"id":"a","ttl":1e-400},{"id":"b","ttl":1.0},{"id":"c","ttl":1e2},{"id":"d","ttl":1E+2},{"id":"e","ttl":0.5e1},{"id":"f","ttl":-0.0}]`,
	`[{"id":"a","sortindex":" 12 "},{"id":"b","ttl":"+12"},{"id":"c","ttl":"-0"},{"id":"d","sortindex":"١٢"},{"id":"e","ttl":"\u00a012"}]`,
	`[{"id":"a","sortindex":true},{"id":"b","ttl":false},{"id":"c","sortindex":"99999999999999999999"}]`,
	`[{"id":1e2},{"id":-0},{"id":false},{"id":true},{"id":0.5}]`, `[{"id":"a","ttl":1.}]`, `[{"id":"a","ttl":.5}]`,
	`[{"id":"a","ttl":01}]`, `[{"id":"a","ttl":+1}]`, `[{"id":"a","ttl":1e}]`, `[{"id":"a","ttl":-}]`, `[{"id":"a","ttl":NaN}]`,
	`[{"id":"a","x":{"y":[1,{"z":null,"z":[]}]}}]`, `[{"id":"a","x":{"y":[1,{"z":nul}]}}]`, `[{"id":"a","x":[1,]}]`,
	" \t\r\n[ {\"id\" : \"a\" , \"ttl\" :\t1 } ] \n", "[{\"id\":\"a\"}]\f", "\v[]",
	`[] []`, `[]x`, `[]]`, `{}}`, `[1] x`, `1 x`, `truex`, `nul`, `1`, `"x"`, `null`, `true`, `01`, `-`, `[1, x]`, `[{"id":"a"},1,{"id":"b"},[]]`,
	"{\"id\":\"a\"} {\"id\":\"b\"}", "\n\n", "{}\n\n{}", "{\"id\":\"a\"}\n\n", "\r\n", " \n", "{\"id\":\"a\"}\r", "{\"id\":\"a\"}\n[]", "[]\n{", "{\"id\":\"a\"}\n{\"id\":\"a\"}\n",
	`[{"":1}]`, `[{"":null,"id":"a"}]`, `[{"id":"a","ttl":-1},{"id":"a"},{"id":"a"}]`, `[{"id":"a","payload":"x"},{"id":"a"}]`,
	`[{"id":"keys","payload":"{\"IV\":\t\"AAAAAAAAAAAAAAAAAAAAAA==\"}"}]`, `{"id":"a","payload":"x","sortindex":3,"ttl":5}`,
	`[{"id":"a","payload":"` + strings.Repeat("z", 33) + `"}]`, `{"payload":"` + strings.Repeat("z", 33) + `","x":1}`,
	`{"payload":"` + strings.Repeat("z", 33) + `","ttl":-1}`, `{"payload":"` + strings.Repeat("z", 33) + `","sortindex":[]}`,
	`[{"id":"a"` + strings.Repeat(`,"id":"a"`, 50) + `}]`, `[{"id":"a","x":1` + strings.Repeat(`,"x":1,"y":null`, 50) + `}]`,
	// A record that fails the request, then a fault of the body's own,
	// which must win.
	`[{}, 1]`, `[{}, x]`, `[{}] x`, "{}\nx", "{}\n[]", `[{"id":"a","x":[]},{"id":"b"},"s"]`, `[{"id":"a"},{"id":"a"},{"id":"b",}]`,
	`[{"id":"keys","payload":"{\"IV\": \"AAAAAAAAAAAAAAAAAAAAAA==\"}"},1]`, `[{"id":"keys","payload":"{\"IV\": \"AAAAAAAAAAAAAAAAAAAAAA==\"}"}]]`,
	// encoding/json's nesting limit, 10,000, reached and passed.
	`[{"id":"a","x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]`,
	`[{"id":"a","x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}]`,
	`{"x":` + strings.Repeat(`{"a":`, 9999) + `1` + strings.Repeat("}", 9999) + `}`,
	`{"x":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat("}", 10000) + `}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

// corpusBodies are the bodies of the committed fuzz corpus of this package.
func corpusBodies(tb testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var bodies []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if q, ok := strings.CutPrefix(strings.TrimSpace(line), "[]byte("); ok {
				if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
					bodies = append(bodies, s)
				}
			}
		}
	}
	return bodies
}

// FuzzBSODecodeDifferential holds the scanner to the encoding/json reading
// it replaced (bso_reference_test.go): for every body and type, POST and
// PUT give the same records, failures and errors, with small limits and
// with the defaults.
func FuzzBSODecodeDifferential(f *testing.F) {
	seeds := slices.Concat(bsoSeeds, trickySeeds, corpusBodies(f))
	for _, body := range seeds {
		for i := range fuzzBodyTypes {
			f.Add(uint8(i), []byte(body))
		}
	}
	servers := []*Server{{opts: Options{Limits: fuzzLimits}}, {opts: Options{Limits: DefaultLimits}}}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		ct := fuzzBodyTypes[int(sel)%len(fuzzBodyTypes)]
		for _, s := range servers {
			checkSameDecoding(t, s, ct, body)
		}
	})
}

// TestBSODecodeDifferential runs the seeds with both content types even
// when fuzzing is not asked for, and says how many of them ran.
func TestBSODecodeDifferential(t *testing.T) {
	s := &Server{opts: Options{Limits: fuzzLimits}}
	n := 0
	for _, body := range slices.Concat(bsoSeeds, trickySeeds, corpusBodies(t)) {
		for _, ct := range fuzzBodyTypes {
			checkSameDecoding(t, s, ct, []byte(body))
			n++
		}
	}
	if n < 3*len(trickySeeds) {
		t.Fatalf("only %d cases ran", n)
	}
}

// TestBSODecodeEveryByte puts each byte value at each offset of the first
// words of a payload, next to a second special byte, and holds the result to
// encoding/json's: the scanner passes over plain bytes eight at a time and
// must stop at every other one wherever it falls.
func TestBSODecodeEveryByte(t *testing.T) {
	s := &Server{opts: Options{Limits: fuzzLimits}}
	for c := 0; c < 256; c++ {
		for off := 0; off <= 17; off++ {
			for _, next := range []byte{'a', '"', '\\', 0x1f, 0xff} {
				payload := strings.Repeat("a", off) + string([]byte{byte(c), next}) + strings.Repeat("b", 17-off)
				body := `[{"id":"x","payload":"` + payload + `"}]`
				checkSameDecoding(t, s, mimeJSON, []byte(body))
			}
		}
	}
}

// readRecords reads every record of a POST body.
func readRecords(ct string, body []byte) ([]bsoInput, error) {
	r, err := parseRecords(ct, body)
	if err != nil {
		return nil, err
	}
	var recs []bsoInput
	var rec bsoInput
	for r.read(&rec) {
		recs = append(recs, rec)
	}
	return recs, r.err
}

func checkSameDecoding(t *testing.T, s *Server, ct string, body []byte) {
	t.Helper()
	recs, err := readRecords(ct, body)
	objs, wantErr := refParseRecords(ct, body)
	if !sameError(t, err, wantErr) && len(recs) != len(objs) {
		t.Fatalf("parseRecords(%s, %q): %d records, encoding/json reads %d", ct, body, len(recs), len(objs))
	}
	for _, coll := range []string{"bookmarks", "crypto"} {
		var got, want *postItems
		r, err := parseRecords(ct, body)
		if err == nil {
			got, err = s.sortRecords(coll, r)
		}
		objs, wantErr := refParseRecords(ct, body)
		if wantErr == nil {
			want, wantErr = s.refSortRecords(coll, objs)
		}
		if !sameError(t, err, wantErr) {
			samePostItems(t, fmt.Sprintf("POST %s as %s %q", coll, ct, body), got, want)
		}
	}
	for _, coll := range []string{"bookmarks", "crypto"} {
		got, err := s.parseRecord(ct, body, coll, "url-id")
		want, wantErr := s.refParseRecord(ct, body, coll, "url-id")
		if !sameError(t, err, wantErr) && !reflect.DeepEqual(got, want) {
			t.Fatalf("PUT %s as %s %q = %s, encoding/json gives %s", coll, ct, body, showUpdate(got), showUpdate(want))
		}
	}
}

// sameError fails unless both errors are nil or both are the same API
// error (status, code and logged message), and tells whether they are
// errors.
func sameError(t *testing.T, got, want error) bool {
	t.Helper()
	if got == nil && want == nil {
		return false
	}
	var g, w *apiError
	if !errors.As(got, &g) || !errors.As(want, &w) {
		t.Fatalf("error %v, want %v", got, want)
	}
	if g.status != w.status || g.code != w.code || g.msg != w.msg {
		t.Fatalf("error %v (%d), want %v (%d)", got, g.status, want, w.status)
	}
	return true
}

func samePostItems(t *testing.T, what string, got, want *postItems) {
	t.Helper()
	if !slices.Equal(got.success, want.success) || !maps.Equal(got.failed, want.failed) || got.size != want.size {
		t.Fatalf("%s: success %q failed %q size %d; encoding/json gives %q, %q, %d",
			what, got.success, got.failed, got.size, want.success, want.failed, want.size)
	}
	if len(got.valid) != len(want.valid) {
		t.Fatalf("%s: %d valid, encoding/json gives %d", what, len(got.valid), len(want.valid))
	}
	for i := range got.valid {
		if !reflect.DeepEqual(got.valid[i], want.valid[i]) {
			t.Fatalf("%s: record %d is %s, encoding/json gives %s", what, i, showUpdate(got.valid[i]), showUpdate(want.valid[i]))
		}
	}
}

func showUpdate(u db.BSOUpdate) string {
	s := fmt.Sprintf("{ID:%q", u.ID)
	if u.SortIndex != nil {
		s += fmt.Sprintf(" SortIndex:%d", *u.SortIndex)
	}
	if u.TTL != nil {
		s += fmt.Sprintf(" TTL:%d", *u.TTL)
	}
	if u.Payload != nil {
		s += fmt.Sprintf(" Payload:%q", *u.Payload)
	}
	return s + "}"
}
