package handlers

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/db"
)

// recordingMetrics keeps what the core reported.
type recordingMetrics struct {
	mu       sync.Mutex
	requests map[string]int // "route method status"
	tokens   int
	verified map[string]int
	dbErrors map[string]int
}

func newRecordingMetrics() *recordingMetrics {
	return &recordingMetrics{requests: map[string]int{}, verified: map[string]int{}, dbErrors: map[string]int{}}
}

func (m *recordingMetrics) Request(route, method string, status int, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[route+" "+method+" "+http.StatusText(status)]++
}

func (m *recordingMetrics) TokenIssued() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens++
}

func (m *recordingMetrics) Verification(result string, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.verified[result]++
}

func (m *recordingMetrics) DatabaseError(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dbErrors[kind]++
}

func TestMetricsHooks(t *testing.T) {
	m := newRecordingMetrics()
	tt := newTokenTest(t, nil, func(o *Options) { o.Metrics = m })
	a := tt.account()
	tok := wantToken(t, tt.firefox(a))
	wantResponse(t, tt.storage(tok, http.MethodGet, "/info/collections", ""), http.StatusOK, "{}")
	wantResponse(t, tt.storage(tok, http.MethodGet, "/storage/bookmarks/nope", ""), http.StatusNotFound, "0")
	wantTokenError(t, tt.getToken("not-a-valid-token", "X-KeyID", a.KeyID()), unauthorizedAs("invalid-credentials"))
	tt.serve(newRequest(http.MethodGet, "/no/such/thing", ""))

	m.mu.Lock()
	defer m.mu.Unlock()
	for key, n := range map[string]int{
		"token GET OK":                    1,
		"token GET Unauthorized":          1,
		"storage.info.collections GET OK": 1,
		"storage.item GET Not Found":      1,
		"unknown GET Not Found":           1,
	} {
		if m.requests[key] != n {
			t.Errorf("requests[%q] = %d, want %d (all: %v)", key, m.requests[key], n, m.requests)
		}
	}
	if m.tokens != 1 || m.verified[VerifyOK] != 1 || m.verified[VerifyRejected] != 1 {
		t.Errorf("tokens %d, verifications %v", m.tokens, m.verified)
	}
}

func TestMetricsDatabaseErrors(t *testing.T) {
	m := newRecordingMetrics()
	ts := newTestServer(t, func(o *Options) { o.Metrics = m })
	u := ts.user(7)
	ts.Store.Close() // every call now fails
	r := u.do(http.MethodGet, "/info/collections", "")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d with a closed database", r.Status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dbErrors["unavailable"] != 1 {
		t.Errorf("database errors %v, want one unavailable", m.dbErrors)
	}
}

// TestPerUserQuota: an account's own quota wins over the server's, both
// ways, and info/quota reports it.
func TestPerUserQuota(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.QuotaBytes = 1 << 30 })
	a := tt.account()
	tok := wantToken(t, tt.firefox(a))
	admin := tt.Store.(db.Admin)
	if err := admin.SetUserQuota(t.Context(), db.UID(tok.UID), 700); err != nil {
		t.Fatal(err)
	}
	r := tt.storage(tok, http.MethodPut, "/storage/col/one", `{"payload":"`+strings.Repeat("x", 500)+`"}`)
	wantResponse(t, r, http.StatusOK, "-")
	wantHeader(t, r, "X-Weave-Quota-Remaining", "0.20")
	wantResponse(t, tt.storage(tok, http.MethodGet, "/info/quota", ""), http.StatusOK, "[0.48828125,0.68359375]")
	r = tt.storage(tok, http.MethodPut, "/storage/col/two", `{"payload":"`+strings.Repeat("x", 300)+`"}`)
	wantResponse(t, r, http.StatusForbidden, "14")

	// 0: no limit for this account, whatever the server's quota.
	tt.opts.QuotaBytes = 100
	if err := admin.SetUserQuota(t.Context(), db.UID(tok.UID), 0); err != nil {
		t.Fatal(err)
	}
	wantResponse(t, tt.storage(tok, http.MethodPut, "/storage/col/two", `{"payload":"`+strings.Repeat("x", 300)+`"}`), http.StatusOK, "-")
	wantResponse(t, tt.storage(tok, http.MethodGet, "/info/quota", ""), http.StatusOK, "[0.78125,null]")
	// Cleared: the server's quota again.
	if err := admin.ClearUserQuota(t.Context(), db.UID(tok.UID)); err != nil {
		t.Fatal(err)
	}
	wantResponse(t, tt.storage(tok, http.MethodPut, "/storage/col/three", `{"payload":"x"}`), http.StatusForbidden, "14")
}

// TestRetiredUser: after `syncserver users retire` the account gets no
// token, not even through a key change, and it no longer counts.
func TestRetiredUser(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Token.MaxUsers = 1 })
	a := tt.account()
	tok := wantToken(t, tt.firefox(a))
	if err := tt.Store.(db.Admin).RetireUser(t.Context(), db.UID(tok.UID)); err != nil {
		t.Fatal(err)
	}
	wantTokenError(t, tt.firefox(a), unauthorizedAs("invalid-generation"))
	a.KB = []byte(strings.Repeat("k", 32))
	a.Generation += 100
	a.KeysChangedAt += 100
	tt.FxA.SetAccount(a)
	wantTokenError(t, tt.firefox(a), unauthorizedAs("invalid-generation"))
	// The retired account's place is free for a newcomer.
	wantToken(t, tt.firefox(tt.account()))
}

// TestAllowedUsersRefusalNamesTheAccount: the log tells the operator the id
// to add to allowed_users.
func TestAllowedUsersRefusalNamesTheAccount(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Token.AllowedUsers = []string{"someone-else"} })
	a := tt.account()
	wantTokenError(t, tt.firefox(a), unauthorizedAs("new-users-disabled"))
	if !strings.Contains(tt.Logs.String(), "not in allowed_users") || !strings.Contains(tt.Logs.String(), "fxa_uid="+a.UID) {
		t.Errorf("refusal not logged with the FxA uid:\n%s", tt.Logs.String())
	}
}
