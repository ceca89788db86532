package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

// TestBackgroundPurgeKeepsGrace: the server's own periodic purge keeps a
// record that expired less than [purge] grace ago, through several runs,
// and deletes it once it expired more than grace ago.
func TestBackgroundPurgeKeepsGrace(t *testing.T) {
	const grace = 5 * time.Second
	s := startOpsServer(t, `
[purge]
interval = 0.2
grace = 5
`)
	f := s.newFirefox(t)
	written := time.Now()
	f.must(http.StatusOK, http.MethodPost, "/storage/tabs", `[{"id":"a","payload":"x","ttl":1},{"id":"keep","payload":"z"}]`)
	stats := func() db.Stats {
		st, err := s.Store.(db.Admin).Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Runs of the purge, as it logs them (log_level is debug).
	runs := func() int {
		out := s.Logs.String()
		return strings.Count(out, "purge: nothing to delete") + strings.Count(out, "purge: deleted what had expired")
	}

	// TTLs are whole seconds: "a" has certainly expired 2.2 s after the
	// write, and a purge without grace deletes it at its next run.
	time.Sleep(time.Until(written.Add(2200 * time.Millisecond)))
	before := runs()
	eventually(t, 10*time.Second, "the periodic purge does not run", func() bool { return runs() >= before+2 })
	st := stats()
	if since := time.Since(written); since > grace {
		t.Fatalf("%v passed before the purge runs could be seen: too slow to tell the grace from none", since)
	}
	if st.Records != 1 || st.ExpiredRecords != 1 {
		t.Fatalf("after purges within the grace: %d live and %d expired records, want 1 and 1 (the record expired "+
			"less than [purge] grace ago was purged)", st.Records, st.ExpiredRecords)
	}
	eventually(t, 30*time.Second, "the record expired more than [purge] grace ago is still stored", func() bool {
		st := stats()
		return st.Records == 1 && st.ExpiredRecords == 0
	})
	if got := f.must(http.StatusOK, http.MethodGet, "/storage/tabs", ""); got != `["keep"]` {
		t.Errorf("tabs after the purge: %s", got)
	}
}
