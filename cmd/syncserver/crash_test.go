package main

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/internal/testdb"
)

// Kill -9 under load: the shape of the test.
const (
	crashRuns    = 5
	crashWorkers = 16
	crashUsers   = 8 // two workers share each user, so they contend
	crashColl    = "crash"
	crashBatches = "crashbatch"
)

// TestKill9UnderLoad kills the real binary (SIGKILL; sqlite, synchronous
// FULL) while 16 clients write with PUT, POST and batches over several
// POSTs, restarts it, and checks, after each of several runs:
//
//   - every write answered 200 is stored, with the payload and modified
//     of its answer (or of a later write whose answer the kill cut off);
//   - a write whose answer was cut off is there whole or not at all;
//   - a batch is committed whole or not at all, and a batch that was
//     never committed left nothing;
//   - no record holds anything that was not written;
//   - the database passes integrity_check.
func TestKill9UnderLoad(t *testing.T) {
	testdb.SkipShort(t, "builds the binary and kills it")
	bin := buildBinary(t)
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`[syncserver]
public_url = "http://127.0.0.1:%d/"
sqluri = "sqlite:///syncserver.db"
secret = %q

[storage]
sqlite_synchronous = "FULL"
`, port, testSecret))
	dbPath := filepath.Join(filepath.Dir(cfg), "syncserver.db")
	args := []string{"-config", cfg, "-http", fmt.Sprintf("127.0.0.1:%d", port)}
	l := &crashLedger{records: map[crashKey]*crashRecord{}}
	workers := make([]*crashWorker, crashWorkers)
	for w := range workers {
		workers[w] = &crashWorker{w: w, uid: int64(1 + w%crashUsers), l: l}
	}
	checked := 0
	for run := 1; run <= crashRuns; run++ {
		cmd, _, logs := startBinary(t, bin, args...)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if run > 1 {
			checked += l.verify(t, port)
		}
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() { w.run(t, port) })
		}
		time.Sleep(time.Duration(250+rand.IntN(500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		wg.Wait()
		if t.Failed() {
			t.Fatalf("run %d: server log:\n%s", run, logs)
		}
		sqliteIntegrityCheck(t, dbPath)
	}
	cmd, _, _ := startBinary(t, bin, args...)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	checked += l.verify(t, port)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	t.Logf("%d kill -9 runs: %d writes acknowledged (%d records, %d in batches), %d cut off by the kill; %d record checks after restarts, none lost",
		crashRuns, l.ackedWrites, l.ackedRecords, l.ackedBatchRecords, l.cutOff, checked)
	if l.ackedWrites < crashRuns*crashWorkers {
		t.Errorf("only %d writes acknowledged in %d runs: the load did not run", l.ackedWrites, crashRuns)
	}
	if l.cutOff == 0 {
		t.Errorf("no write was in flight at any kill: the test proved nothing")
	}
}

// sqliteIntegrityCheck runs PRAGMA integrity_check on the database a killed
// server left, as the next one to open it would find it.
func sqliteIntegrityCheck(t *testing.T, path string) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got string
	if err := conn.QueryRow("PRAGMA integrity_check").Scan(&got); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if got != "ok" {
		t.Fatalf("integrity_check after kill -9: %q", got)
	}
}

// crashKey names a record.
type crashKey struct {
	uid  int64
	coll string
	id   string
}

// crashRecord is what clients did to one record: the last write
// acknowledged, and the payloads of writes sent since whose answers never
// came (each may or may not have happened).
type crashRecord struct {
	acked    *storedBSO
	pending  []string
	batch    *crashBatch // the batch that wrote it, if any
	verified bool
}

// crashBatch is a batch whose commit was sent.
type crashBatch struct {
	ids      []crashKey
	acked    bool
	modified db.Timestamp
}

// crashLedger is every write of every run, shared by the workers.
type crashLedger struct {
	mu      sync.Mutex
	records map[crashKey]*crashRecord
	batches []*crashBatch
	// Figures for the log.
	ackedWrites, ackedRecords, ackedBatchRecords, cutOff int
}

func (l *crashLedger) record(k crashKey) *crashRecord {
	r := l.records[k]
	if r == nil {
		r = &crashRecord{}
		l.records[k] = r
	}
	return r
}

// sent notes writes of payloads whose answers have not come yet.
func (l *crashLedger) sent(ks []crashKey, payloads []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, k := range ks {
		r := l.record(k)
		r.pending = append(r.pending, payloads[i])
	}
}

// acked notes that writes answered 200 with modified.
func (l *crashLedger) acked(ks []crashKey, payloads []string, modified db.Timestamp) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ackedWrites++
	l.ackedRecords += len(ks)
	for i, k := range ks {
		r := l.record(k)
		r.acked = &storedBSO{ID: k.id, Payload: payloads[i], Modified: modified}
		r.pending = nil
	}
}

// verify reads every user's collections back and checks them against the
// ledger, then takes what is stored as the new baseline. It returns how
// many acknowledged records it checked.
func (l *crashLedger) verify(t *testing.T, port int) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	stored := map[crashKey]storedBSO{}
	for uid := int64(1); uid <= crashUsers; uid++ {
		c := newStorageClient(t, port, uid)
		for _, coll := range []string{crashColl, crashBatches} {
			for id, b := range c.readCollection(t, coll) {
				stored[crashKey{uid, coll, id}] = b
			}
		}
	}
	for k := range stored {
		if l.records[k] == nil {
			t.Errorf("%v is stored but was never written", k)
		}
	}
	checked := 0
	for k, r := range l.records {
		got, ok := stored[k]
		if r.acked != nil {
			checked++
		}
		switch {
		case !ok && r.acked != nil:
			t.Errorf("%v was acknowledged (modified %v) but is lost", k, r.acked.Modified)
		case !ok:
		case r.acked != nil && got.Payload == r.acked.Payload:
			if got.Modified != r.acked.Modified {
				t.Errorf("%v: modified %v, acknowledged %v", k, got.Modified, r.acked.Modified)
			}
		case !slices.Contains(r.pending, got.Payload):
			t.Errorf("%v holds %.40q…, which no write sent", k, got.Payload)
		case r.acked != nil && got.Modified <= r.acked.Modified:
			t.Errorf("%v: a write cut off by the kill is stored with modified %v, not after the acknowledged %v",
				k, got.Modified, r.acked.Modified)
		}
		if ok {
			g := got
			r.acked = &g
		} else {
			r.acked = nil
		}
		r.pending = nil
	}
	for _, b := range l.batches {
		present := 0
		for _, k := range b.ids {
			if _, ok := stored[k]; ok {
				present++
			}
		}
		switch {
		case b.acked && present != len(b.ids):
			t.Errorf("batch of %d records acknowledged, %d stored", len(b.ids), present)
		case present != 0 && present != len(b.ids):
			t.Errorf("batch of %d records half committed: %d stored", len(b.ids), present)
		}
		for _, k := range b.ids {
			if got, ok := stored[k]; ok && b.acked && got.Modified != b.modified {
				t.Errorf("%v: modified %v, its batch committed at %v", k, got.Modified, b.modified)
			}
		}
	}
	l.batches = nil
	// Records of batches never committed belong to no batch and must
	// never show: checked above as "never written" or not acknowledged.
	return checked
}

// crashWorker is one client. It owns the ids it writes (another worker of
// the same user writes others), so what a record should hold is known.
type crashWorker struct {
	w   int
	uid int64
	l   *crashLedger
	n   int      // writes so far, for unique ids and payload versions
	own []string // ids of crashColl it wrote, to overwrite some
}

// run writes until the server goes away: the first failed request ends
// it, and its fate is left to verify.
func (w *crashWorker) run(t *testing.T, port int) {
	c := newStorageClient(t, port, w.uid)
	defer c.hc.CloseIdleConnections()
	for {
		var ok bool
		switch p := rand.IntN(10); {
		case p < 5:
			ok = w.put(t, c)
		case p < 8:
			ok = w.post(t, c)
		default:
			ok = w.batch(t, c)
		}
		if !ok {
			return
		}
	}
}

// nextID is a fresh id, or one of the worker's own ids to overwrite.
func (w *crashWorker) nextID(overwrite bool) string {
	w.n++
	if overwrite && len(w.own) > 0 {
		return w.own[rand.IntN(len(w.own))]
	}
	id := fmt.Sprintf("w%d-%d", w.w, w.n)
	w.own = append(w.own, id)
	return id
}

func (w *crashWorker) payload(id string) string {
	return payloadOf(id, w.n, 100+rand.IntN(1500))
}

// answered handles an answer: true when it is want; a transport error
// (the kill) ends the worker; any other status is a failure of the test.
func (w *crashWorker) answered(t *testing.T, what string, r *storageReply, err error, want int) bool {
	if err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			// Sent, but the kill came before the answer.
			w.l.mu.Lock()
			w.l.cutOff++
			w.l.mu.Unlock()
		}
		return false
	}
	if r.Status != want {
		t.Errorf("worker %d: %s: %s, want %d", w.w, what, r, want)
		return false
	}
	return true
}

func (w *crashWorker) put(t *testing.T, c *storageClient) bool {
	id := w.nextID(rand.IntN(3) == 0)
	p := w.payload(id)
	k := []crashKey{{w.uid, crashColl, id}}
	w.l.sent(k, []string{p})
	r, err := c.do(http.MethodPut, "/storage/"+crashColl+"/"+id, mustJSONBody(map[string]string{"payload": p}))
	if !w.answered(t, "PUT "+id, r, err, http.StatusOK) {
		return false
	}
	m, err := parseTimestampBody(r.Body)
	if err != nil {
		t.Errorf("PUT %s: %v", id, err)
		return false
	}
	w.l.acked(k, []string{p}, m)
	return true
}

func (w *crashWorker) post(t *testing.T, c *storageClient) bool {
	n := 1 + rand.IntN(10)
	ids := make([]string, 0, n)
	seen := map[string]bool{}
	for range n {
		id := w.nextID(rand.IntN(4) == 0)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	ks, ps := w.keysPayloads(crashColl, ids)
	w.l.sent(ks, ps)
	r, err := c.do(http.MethodPost, "/storage/"+crashColl, recordsJSONPayloads(ids, ps))
	if !w.answered(t, "POST", r, err, http.StatusOK) {
		return false
	}
	a, m, err := decodePost(r.Body)
	if err != nil || len(a.Success) != len(ids) {
		t.Errorf("POST: %v, %d of %d records written", err, len(a.Success), len(ids))
		return false
	}
	w.l.acked(ks, ps, m)
	return true
}

// batch stages records over two to four POSTs, then commits with the
// last one. Only the commit's 200 acknowledges them.
func (w *crashWorker) batch(t *testing.T, c *storageClient) bool {
	parts := 2 + rand.IntN(3)
	batch := "true"
	var ks []crashKey
	var ps []string
	for part := range parts {
		n := 1 + rand.IntN(10)
		ids := make([]string, n)
		for i := range ids {
			w.n++
			ids[i] = fmt.Sprintf("w%d-b%d", w.w, w.n)
		}
		pks, pps := w.keysPayloads(crashBatches, ids)
		ks, ps = append(ks, pks...), append(ps, pps...)
		rel := "/storage/" + crashBatches + "?batch=" + batch
		want := http.StatusAccepted
		last := part == parts-1
		if last {
			rel += "&commit=true"
			want = http.StatusOK
			w.l.sent(ks, ps)
		}
		r, err := c.do(http.MethodPost, rel, recordsJSONPayloads(ids, pps))
		if last {
			// The commit was sent: all or nothing from here on.
			b := &crashBatch{ids: ks}
			w.l.mu.Lock()
			w.l.batches = append(w.l.batches, b)
			w.l.mu.Unlock()
			if !w.answered(t, "batch commit", r, err, want) {
				return false
			}
			a, m, err := decodePost(r.Body)
			if err != nil || len(a.Success) != n {
				t.Errorf("batch commit: %v, %d of %d records", err, len(a.Success), n)
				return false
			}
			w.l.acked(ks, ps, m)
			w.l.mu.Lock()
			b.acked, b.modified = true, m
			w.l.ackedBatchRecords += len(ks)
			w.l.mu.Unlock()
			return true
		}
		if !w.answered(t, "batch POST", r, err, want) {
			return false
		}
		a, _, err := decodePost(r.Body)
		if err != nil || a.Batch == "" {
			t.Errorf("batch POST: %v, batch %q", err, a.Batch)
			return false
		}
		batch = a.Batch
	}
	return true
}

func (w *crashWorker) keysPayloads(coll string, ids []string) ([]crashKey, []string) {
	ks := make([]crashKey, len(ids))
	ps := make([]string, len(ids))
	for i, id := range ids {
		ks[i] = crashKey{w.uid, coll, id}
		ps[i] = w.payload(id)
	}
	return ks, ps
}

// recordsJSONPayloads is the JSON list of records ids[i] with payloads[i].
func recordsJSONPayloads(ids, payloads []string) []byte {
	i := 0
	return recordsJSON(ids, func(string) string { i++; return payloads[i-1] })
}
