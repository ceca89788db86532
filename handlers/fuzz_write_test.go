package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"syncserver/db"
)

// fuzzWrites are the writes FuzzStorageWrite sends a body to.
var fuzzWrites = []struct{ method, target string }{
	{http.MethodPost, "/storage/1.5/1/storage/fuzz"},
	{http.MethodPost, "/storage/1.5/1/storage/crypto"},
	{http.MethodPost, "/storage/1.5/1/storage/fuzz?batch=true"},
	{http.MethodPost, "/storage/1.5/1/storage/fuzz?batch=true&commit=true"},
	{http.MethodPut, "/storage/1.5/1/storage/fuzz/item"},
	{http.MethodPut, "/storage/1.5/1/storage/crypto/keys"},
}

// FuzzStorageWrite sends arbitrary bodies and Content-Types through the
// whole core to a real store: the answer is a success, 415, or 400 with the
// Weave error code (6 for a body that is not JSON, 8 for a bad record, 17
// for a size limit), never a 5xx.
func FuzzStorageWrite(f *testing.F) {
	for i := range fuzzWrites {
		for _, body := range bsoSeeds {
			f.Add(uint8(i), "application/json", []byte(body))
		}
		f.Add(uint8(i), "application/newlines", []byte("{\"id\":\"a\"}\n{\"id\":\"b\",\"payload\":\"x\"}\n"))
		f.Add(uint8(i), "Text/Plain; charset=utf-8", []byte(`[{"id":"a"}]`))
		f.Add(uint8(i), "", []byte(`{}`))
		f.Add(uint8(i), "application/xml", []byte(`<a/>`))
	}
	c := newFuzzClient(f)
	f.Fuzz(func(t *testing.T, sel uint8, ct string, body []byte) {
		if strings.ContainsAny(ct, "\r\n\x00") {
			return // no web server would pass it on
		}
		w := fuzzWrites[int(sel)%len(fuzzWrites)]
		r := c.do(w.method, w.target, string(body), "Content-Type", ct)
		mt := strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		readable := mt == "application/json" || mt == "text/plain" || mt == "application/newlines" && w.method == http.MethodPost
		switch {
		case r.Status == http.StatusUnsupportedMediaType:
			if readable || string(r.Body) != "0" {
				t.Fatalf("%s %s as %q: 415 %q", w.method, w.target, ct, r.Body)
			}
			return
		case !readable:
			t.Fatalf("%s %s as %q: %d %q, want 415", w.method, w.target, ct, r.Status, r.Body)
		case r.Status == http.StatusBadRequest:
			code := string(r.Body)
			if code != "6" && code != "8" && code != "17" {
				t.Fatalf("%s %s %q: 400 %q", w.method, w.target, body, code)
			}
			// The code the body deserves as a whole; a POST whose records
			// are all objects can still fail with 8 (a bad record) or 17.
			want := codeInvalidJSON
			if w.method == http.MethodPost {
				_, want = referenceRecords(mt, body)
			} else if json.Valid(body) {
				want = 0
			}
			if want != 0 && code != strconv.Itoa(want) || want == 0 && code == "6" {
				t.Fatalf("%s %s as %q, %q: 400 %q, want %d", w.method, w.target, ct, body, code, want)
			}
			return
		case r.Status >= 500 || r.Status != http.StatusOK && r.Status != http.StatusAccepted:
			t.Fatalf("%s %s as %q, %q: %d %q; last error logged: %s", w.method, w.target, ct, body, r.Status, r.Body, c.errs)
		}
		if w.method == http.MethodPut {
			if _, err := db.ParseTimestamp(string(r.Body)); err != nil {
				t.Fatalf("PUT answered %q", r.Body)
			}
			return
		}
		res := decodePostResult(t, r)
		if int64(len(res.Success)) > DefaultLimits.MaxPostRecords {
			t.Fatalf("POST %q: %d records written", body, len(res.Success))
		}
		for _, id := range res.Success {
			if !legalID(id) {
				t.Fatalf("POST %q: success lists id %q", body, id)
			}
		}
	})
}
