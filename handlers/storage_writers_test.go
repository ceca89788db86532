package handlers

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/internal/testdb"
)

// One user, many writers: the shape of the test.
const (
	manyWriters      = 32
	writesPerWriter  = 12
	writersColls     = 3
	writersCollsName = "w%d"
)

// writeAck is one acknowledged write: its collection, X-Last-Modified and
// the records it wrote with their payloads.
type writeAck struct {
	coll     string
	modified db.Timestamp
	records  map[string]string
}

// TestOneUserManyWriters: 32 clients of one account write its collections
// at once (PUT, POST, and batches over two POSTs), through the whole
// handler stack on the backend SYNCSERVER_TEST_BACKEND names, while the
// clock moves on in small steps, sometimes not at all between writes.
//
//   - every write is answered 200 (202 for a batch's first POST): no
//     "database is locked", no 503 or other 5xx reaches a client;
//   - the X-Last-Modified of the acknowledged writes are all distinct, per
//     collection and for the user (timestamps strictly increase per user);
//   - each collection's final modified is the largest X-Last-Modified
//     of its writes;
//   - no acknowledged write is lost: each record holds its last
//     acknowledged payload, with that write's modified.
func TestOneUserManyWriters(t *testing.T) {
	ts := newTestServer(t)
	stop := make(chan struct{})
	ticker := sync.WaitGroup{}
	ticker.Go(func() {
		// Less than 10 ms between ticks: writes share a clock reading
		// often, and must still get distinct timestamps.
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				ts.Clock.Advance(time.Duration(rand.IntN(8)) * time.Millisecond)
			}
		}
	})
	user := ts.user(1)
	acks := make([][]writeAck, manyWriters)
	var wg sync.WaitGroup
	for w := range manyWriters {
		wg.Go(func() { acks[w] = oneUserWriter(t, user, w) })
	}
	wg.Wait()
	close(stop)
	ticker.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if logs := ts.Logs.String(); strings.Contains(logs, "locked") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("the server logged a failure:\n%s", logs)
	}

	// Distinct timestamps, per collection and per user.
	byUser := map[db.Timestamp]string{}
	maxByColl := map[string]db.Timestamp{}
	last := map[string]writeAck{} // "coll/id" → its last acknowledged write
	n := 0
	for w, list := range acks {
		for i, a := range list {
			n++
			if other, dup := byUser[a.modified]; dup {
				t.Errorf("X-Last-Modified %v answered twice: %s and %s (writer %d, write %d)", a.modified, other, a.coll, w, i)
			}
			byUser[a.modified] = a.coll
			maxByColl[a.coll] = max(maxByColl[a.coll], a.modified)
			for id := range a.records {
				// A writer writes its own ids only, in order.
				last[a.coll+"/"+id] = a
			}
		}
	}
	if n != manyWriters*writesPerWriter {
		t.Fatalf("%d writes acknowledged, want %d", n, manyWriters*writesPerWriter)
	}

	// Final collection timestamps.
	r := user.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	var infos map[string]json.Number
	if err := json.Unmarshal(r.Body, &infos); err != nil {
		t.Fatal(err)
	}
	for coll, want := range maxByColl {
		got, err := db.ParseTimestamp(infos[coll].String())
		if err != nil || got != want {
			t.Errorf("info/collections %s = %q, want the largest X-Last-Modified %v", coll, infos[coll], want)
		}
	}

	// Nothing lost.
	stored := map[string]bool{}
	for c := range writersColls {
		coll := fmt.Sprintf(writersCollsName, c)
		r := user.mustDo(http.StatusOK, http.MethodGet, "/storage/"+coll+"?full=1", "")
		var list []struct {
			ID       string      `json:"id"`
			Payload  string      `json:"payload"`
			Modified json.Number `json:"modified"`
		}
		if err := json.Unmarshal(r.Body, &list); err != nil {
			t.Fatal(err)
		}
		for _, b := range list {
			key := coll + "/" + b.ID
			stored[key] = true
			a, ok := last[key]
			if !ok {
				t.Errorf("%s is stored but was never acknowledged", key)
				continue
			}
			m, _ := db.ParseTimestamp(b.Modified.String())
			if b.Payload != a.records[b.ID] || m != a.modified {
				t.Errorf("%s: payload %q modified %v; its last acknowledged write: %q at %v", key, b.Payload, m, a.records[b.ID], a.modified)
			}
		}
	}
	for key := range last {
		if !stored[key] {
			t.Errorf("%s was acknowledged but is lost", key)
		}
	}
	t.Logf("%s: %d writers, %d writes of %d records acknowledged, all distinct, none lost",
		testdb.Backend(t), manyWriters, n, len(last))
}

// oneUserWriter makes writesPerWriter writes as writer w and returns the
// acknowledged ones in order.
func oneUserWriter(t *testing.T, u *testUser, w int) []writeAck {
	var acks []writeAck
	var own []string
	newID := func(i, k int) string {
		// Now and then an id of the writer's own again: an overwrite.
		if len(own) > 0 && rand.IntN(4) == 0 {
			return own[rand.IntN(len(own))]
		}
		id := fmt.Sprintf("w%d-%d-%d", w, i, k)
		own = append(own, id)
		return id
	}
	for i := range writesPerWriter {
		coll := fmt.Sprintf(writersCollsName, rand.IntN(writersColls))
		recs := map[string]string{}
		var r *Response
		switch i % 3 {
		case 0:
			id := newID(i, 0)
			recs[id] = fmt.Sprintf("put %d/%d", w, i)
			r = u.do(http.MethodPut, "/storage/"+coll+"/"+id, fmt.Sprintf(`{"payload":%q}`, recs[id]))
		case 1:
			body := manyWritersRecords(recs, 1+rand.IntN(5), func(k int) string { return newID(i, k) }, fmt.Sprintf("post %d/%d", w, i))
			r = u.do(http.MethodPost, "/storage/"+coll, body)
		default:
			first := manyWritersRecords(recs, 1+rand.IntN(5), func(k int) string { return newID(i, k) }, fmt.Sprintf("batch %d/%d", w, i))
			r = u.do(http.MethodPost, "/storage/"+coll+"?batch=true", first)
			if r.Status != http.StatusAccepted {
				t.Errorf("writer %d: batch POST to %s: %d %s", w, coll, r.Status, r.Body)
				return acks
			}
			var res postResult
			if err := json.Unmarshal(r.Body, &res); err != nil || res.Batch == "" {
				t.Errorf("writer %d: batch POST: %q: %v", w, r.Body, err)
				return acks
			}
			more := manyWritersRecords(recs, 1+rand.IntN(5), func(k int) string { return newID(i, 10+k) }, fmt.Sprintf("commit %d/%d", w, i))
			r = u.do(http.MethodPost, "/storage/"+coll+"?batch="+res.Batch+"&commit=true", more)
		}
		if r.Status != http.StatusOK {
			t.Errorf("writer %d: write %d to %s: %d %s (Retry-After %q)", w, i, coll, r.Status, r.Body, r.Header.Get("Retry-After"))
			return acks
		}
		m, err := db.ParseTimestamp(r.Header.Get("X-Last-Modified"))
		if err != nil {
			t.Errorf("writer %d: X-Last-Modified %q: %v", w, r.Header.Get("X-Last-Modified"), err)
			return acks
		}
		// The body's timestamp is the same.
		var body db.Timestamp
		if i%3 == 0 {
			body, err = db.ParseTimestamp(string(r.Body))
		} else {
			var res postResult
			if err = json.Unmarshal(r.Body, &res); err == nil {
				body, err = db.ParseTimestamp(res.Modified.String())
			}
		}
		if err != nil || body != m {
			t.Errorf("writer %d: X-Last-Modified %v, body %q (%v)", w, m, r.Body, err)
		}
		acks = append(acks, writeAck{coll: coll, modified: m, records: recs})
	}
	return acks
}

// manyWritersRecords adds n records to recs (an overwritten id takes the
// newer payload) and returns them as a POST body; ids must not repeat
// within one body, so a repeated one is left out.
func manyWritersRecords(recs map[string]string, n int, id func(k int) string, payload string) string {
	list := []map[string]string{}
	for k := range n {
		i := id(k)
		if _, dup := recs[i]; dup {
			continue
		}
		recs[i] = payload + " #" + strconv.Itoa(k)
		list = append(list, map[string]string{"id": i, "payload": recs[i]})
	}
	b, _ := json.Marshal(list)
	return string(b)
}
