package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"syncserver/db"
	"syncserver/hawk"
)

// presigned hands out signed requests, signing them in chunks with the
// timer stopped: signing is the client's work, and every request needs a
// fresh nonce.
type presigned struct {
	b    *testing.B
	next func() *Request
	buf  []*Request
}

func (p *presigned) get() *Request {
	if len(p.buf) == 0 {
		p.b.StopTimer()
		for i := 0; i < 1024; i++ {
			p.buf = append(p.buf, p.next())
		}
		p.b.StartTimer()
	}
	r := p.buf[len(p.buf)-1]
	p.buf = p.buf[:len(p.buf)-1]
	return r
}

func (u *testUser) presign(b *testing.B, method, rel, body string, hdr ...string) *presigned {
	return &presigned{b: b, next: func() *Request {
		return u.ts.hawkRequest(u.creds, method, u.path(rel), body, hdr...)
	}}
}

// quiet drops the logs, which the test helper keeps in memory.
func quiet(o *Options) { o.Logger = slog.New(slog.DiscardHandler) }

// benchNonces gives the benchmarks a nonce cache that holds every nonce
// of their one user: the test clock stands still, so with the default
// bound the user's partition would forget nonces of the very second its
// requests are signed in, and refuse them (hawk.ErrForgotten).
func benchNonces(o *Options) {
	o.Storage.Nonces = hawk.NewNonceCache(DefaultHawkWindow, 1<<24)
}

// BenchmarkHawkVerify is the authentication of one request with a token
// already in the cache: header parsing, token lookup, MAC, nonce.
func BenchmarkHawkVerify(b *testing.B) {
	ts := newTestServer(b, quiet, benchNonces)
	u := ts.user(1)
	p := u.presign(b, http.MethodGet, "/storage/bookmarks?full=1&newer=1700000000.00", "")
	u.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "") // caches the token
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := p.get()
		raw, query, _ := strings.Cut(r.RequestURI, "?")
		c := &call{req: r, start: ts.Clock.Now(), path: ts.stripPrefix(raw), rawQuery: query}
		a, err := ts.authenticate(c, 1, false)
		if err == nil {
			err = ts.checkPayloadAndReplay(c, a, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInfoCollections is the request every sync starts with, for a
// user whose data did not change. "logged" writes the access log as the
// server does by default (text, info level; to io.Discard), where the
// others discard it.
func BenchmarkInfoCollections(b *testing.B) {
	logged := slog.New(slog.NewTextHandler(io.Discard, nil))
	ts := newTestServer(b, quiet, benchNonces)
	u := ts.user(1)
	T := eightCollections(u)
	for _, tc := range []struct {
		name   string
		status int
		hdr    []string
		log    *slog.Logger
	}{
		{"304", http.StatusNotModified, []string{"X-If-Modified-Since", T.String()}, nil},
		{"304-logged", http.StatusNotModified, []string{"X-If-Modified-Since", T.String()}, logged},
		{"200", http.StatusOK, nil, nil},
		{"200-logged", http.StatusOK, nil, logged},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ts.log = slog.New(slog.DiscardHandler)
			if tc.log != nil {
				ts.log = tc.log
			}
			p := u.presign(b, http.MethodGet, "/info/collections", "", tc.hdr...)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := ts.serve(p.get()); r.Status != tc.status {
					b.Fatalf("status %d", r.Status)
				}
			}
		})
	}
}

// BenchmarkGet100Of20000 reads a page of 100 full records of a
// 20,000-record collection, as a second device does when it first syncs
// history.
func BenchmarkGet100Of20000(b *testing.B) {
	ts := newTestServer(b, quiet, benchNonces)
	u := ts.user(1)
	payload := strings.Repeat("x", 300)
	for chunk := 0; chunk < 20; chunk++ {
		updates := make([]db.BSOUpdate, 1000)
		for i := range updates {
			si := int64(i)
			updates[i] = db.BSOUpdate{ID: fmt.Sprintf("id%02d%04d", chunk, i), Payload: &payload, SortIndex: &si}
		}
		err := ts.Store.Update(context.Background(), 1, func(tx db.Tx) error { return tx.PostBSOs("history", updates) })
		if err != nil {
			b.Fatal(err)
		}
	}
	p := u.presign(b, http.MethodGet, "/storage/history?full=1&limit=100&sort=newest", "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := ts.serve(p.get())
		if r.Status != http.StatusOK || r.Header.Get("X-Weave-Records") != "100" {
			b.Fatalf("status %d, %s records", r.Status, r.Header.Get("X-Weave-Records"))
		}
	}
}

// BenchmarkPost100 uploads 100 records of 300-byte payloads in one POST.
func BenchmarkPost100(b *testing.B) {
	ts := newTestServer(b, quiet, benchNonces)
	u := ts.user(1)
	var parts []string
	for i := 0; i < 100; i++ {
		parts = append(parts, fmt.Sprintf(`{"id":"rec%03d","payload":"%s","sortindex":%d}`, i, strings.Repeat("y", 300), i))
	}
	body := "[" + strings.Join(parts, ",") + "]"
	p := u.presign(b, http.MethodPost, "/storage/bookmarks", body, "Content-Type", "text/plain")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := ts.serve(p.get()); r.Status != http.StatusOK {
			b.Fatalf("status %d %s", r.Status, r.Body)
		}
	}
}

// The benchmarks below split the S1 idle poll (a 304 info/collections)
// into its steps, so that each microsecond has an owner: authentication is
// BenchmarkHawkVerify (and hawk's and token's own benchmarks), the rest is
// here.

// eightCollections gives u the collections a synced Firefox has and
// returns the last write's timestamp.
func eightCollections(u *testUser) db.Timestamp {
	var T db.Timestamp
	for _, c := range []string{"bookmarks", "history", "tabs", "prefs", "passwords", "clients", "forms", "addons"} {
		T = u.put(c, "a", `{"payload":"x"}`)
	}
	return T
}

// BenchmarkInfoCollectionsCache is the store's cached read of a user's
// collection timestamps and the X-If-Modified-Since check that turns it
// into a 304: the poll's work once authenticated.
func BenchmarkInfoCollectionsCache(b *testing.B) {
	ts := newTestServer(b, quiet, benchNonces)
	u := ts.user(1)
	T := eightCollections(u)
	hdr := http.Header{"X-If-Modified-Since": {T.String()}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		pre, err := parsePreconditions(hdr)
		if err != nil {
			b.Fatal(err)
		}
		mod, _, err := ts.Store.CollectionTimestamps(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := pre.check(mod); err == nil {
			b.Fatal("no 304")
		}
	}
}

// BenchmarkFinish is what every response costs after its handler: the
// common headers, the metrics and the access log line, for a 304 poll and
// a 200 write, with the log discarded, and written as text and as JSON at
// info level (to io.Discard: the encoding, not the disk).
func BenchmarkFinish(b *testing.B) {
	for _, lc := range []struct {
		name string
		h    slog.Handler
	}{
		{"discard", slog.DiscardHandler},
		{"text", slog.NewTextHandler(io.Discard, nil)},
		{"json", slog.NewJSONHandler(io.Discard, nil)},
	} {
		for _, rc := range []struct {
			name, method, route string
			status              int
		}{
			{"304", http.MethodGet, "storage.info.collections", http.StatusNotModified},
			{"200-write", http.MethodPost, "storage.collection", http.StatusOK},
		} {
			b.Run(lc.name+"/"+rc.name, func(b *testing.B) {
				ts := newTestServer(b, func(o *Options) { o.Logger = slog.New(lc.h) })
				u := ts.user(1)
				req := u.ts.hawkRequest(u.creds, rc.method, u.path("/info/collections"), "")
				req.Header.Set("User-Agent", "Firefox/140.0 FxSync/1.142.0.20250701000000.desktop")
				req.RemoteAddr = "127.0.0.1:54321"
				b.ReportAllocs()
				for b.Loop() {
					c := &call{req: req, start: ts.Clock.Now(), path: "/storage/1.5/1/info/collections", route: rc.route, uid: 1}
					ts.finish(c, &Response{Status: rc.status, Header: http.Header{"X-Last-Modified": {"1700000000.00"}}})
				}
			})
		}
	}
}

// benchRecords is a POST body of n records with 300-byte payloads.
func benchRecords(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"id":"rec%03d","payload":"%s","sortindex":%d}`, i, strings.Repeat("y", 300), i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// BenchmarkBSODecode is the reading of a POST of 100 records: the JSON,
// then every record's validation, without the database.
func BenchmarkBSODecode(b *testing.B) {
	ts := newTestServer(b, quiet)
	body := []byte(benchRecords(100))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		objs, err := parseRecords("application/json", body)
		if err != nil {
			b.Fatal(err)
		}
		items, err := ts.sortRecords("history", objs)
		if err != nil || len(items.valid) != 100 {
			b.Fatalf("%v, %d valid", err, len(items.valid))
		}
	}
}

// BenchmarkBSOEncode is the body of a GET of 100 full records of 300-byte
// payloads.
func BenchmarkBSOEncode(b *testing.B) {
	si := int64(7)
	bsos := make([]db.BSO, 100)
	for i := range bsos {
		bsos[i] = db.BSO{ID: fmt.Sprintf("rec%03d", i), Modified: 1700000000120, Payload: strings.Repeat("y", 300), SortIndex: &si}
	}
	benchEncode(b, bsos)
}

// benchEncode measures the encoding of bsos as one JSON page.
func benchEncode(b *testing.B, bsos []db.BSO) {
	buf := make([]byte, 0, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		out := append(buf[:0], '[')
		for i := range bsos {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendBSO(out, &bsos[i])
		}
		buf = append(out, ']')
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkBatchCommit is an upload of 200 records as Firefox sends a big
// one: a batch opened with 100 records, then committed with 100 more.
func BenchmarkBatchCommit(b *testing.B) {
	ts := newTestServer(b, quiet, benchNonces)
	u := ts.user(1)
	body := benchRecords(100)
	open := u.presign(b, http.MethodPost, "/storage/bookmarks?batch=true", body, "Content-Type", "application/json")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := ts.serve(open.get())
		if r.Status != http.StatusAccepted {
			b.Fatalf("open: status %d %s", r.Status, r.Body)
		}
		var res struct{ Batch string }
		if err := json.Unmarshal(r.Body, &res); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		req := ts.hawkRequest(u.creds, http.MethodPost, u.path("/storage/bookmarks"+batchQuery(res.Batch, true)), body, "Content-Type", "application/json")
		b.StartTimer()
		if r := ts.serve(req); r.Status != http.StatusOK {
			b.Fatalf("commit: status %d %s", r.Status, r.Body)
		}
	}
}

// BenchmarkBSOEncodeFirefox is the body of a GET of 100 full records shaped
// as Firefox sends them: each payload a JSON object of base64 ciphertext, IV
// and hex HMAC, whose quotes the listing escapes.
func BenchmarkBSOEncodeFirefox(b *testing.B) {
	bsos := make([]db.BSO, 100)
	for i := range bsos {
		ct := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(i), 0xa5, 0x3c}, 100+i))
		payload := `{"ciphertext":"` + ct + `","IV":"` + ct[:24] + `","hmac":"` + strings.Repeat(hex.EncodeToString([]byte{byte(i), 0xfe}), 16) + `"}`
		bsos[i] = db.BSO{ID: fmt.Sprintf("rec%09d", i), Modified: 1700000000120, Payload: payload}
	}
	benchEncode(b, bsos)
}
