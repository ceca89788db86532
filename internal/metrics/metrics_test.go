package metrics

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	s, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	resp, err := http.Get("http://" + s.Addr().String() + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestMetricsText(t *testing.T) {
	m := New("v1.2.3")
	m.Request("storage.item", "PUT", 200, 3*time.Millisecond)
	m.Request("storage.item", "PUT", 200, time.Millisecond)
	m.Request("unknown", "BREW", 999, time.Millisecond)
	m.TokenIssued()
	m.Verification("ok", 20*time.Millisecond)
	m.DatabaseError("conflict")
	m.PurgeProgress(db.PurgeProgress{Kind: db.PurgeExpiredRecords, Rows: 1000})
	m.PurgeProgress(db.PurgeProgress{Kind: db.PurgeExpiredRecords, Rows: 5})
	m.PurgeProgress(db.PurgeProgress{Kind: db.PurgeReplacedUsers, Rows: 1})
	m.PurgeDone(nil, time.Second, time.Unix(1700000000, 0))
	m.PurgeDone(errors.New("boom"), time.Second, time.Unix(1700000100, 0))
	m.SetStats(db.Stats{Users: 3, Records: 10, ExpiredRecords: 2, DatabaseBytes: 4096, FreeBytes: -1}, time.Unix(1700000000, 0))
	m.SignIn(true)
	m.SignIn(false)
	m.SignIn(false)
	m.SetAccountSessions(7)
	text := scrapeText(t, m)
	for _, want := range []string{
		`syncserver_build_info{version="v1.2.3"} 1`,
		`syncserver_requests_total{method="PUT",route="storage.item",status="200"} 2`,
		`syncserver_requests_total{method="other",route="unknown",status="other"} 1`,
		`syncserver_request_duration_seconds_count{method="PUT",route="storage.item"} 2`,
		`syncserver_tokens_issued_total 1`,
		`syncserver_fxa_verifications_total{result="ok"} 1`,
		`syncserver_fxa_verification_duration_seconds_count{result="ok"} 1`,
		`syncserver_database_errors_total{kind="conflict"} 1`,
		`syncserver_purged_rows_total{kind="expired_records"} 1005`,
		`syncserver_purge_runs_total{result="ok"} 1`,
		`syncserver_purge_runs_total{result="error"} 1`,
		`syncserver_purge_last_success_timestamp_seconds 1.7e+09`,
		`syncserver_users 3`,
		`syncserver_records{state="live"} 10`,
		`syncserver_records{state="expired"} 2`,
		`syncserver_database_bytes{part="total"} 4096`,
		`syncserver_accounts_sign_ins_total{result="ok"} 1`,
		`syncserver_accounts_sign_ins_total{result="failed"} 2`,
		`syncserver_accounts_active_sessions 7`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	if strings.Contains(text, `kind="replaced_users"`) || strings.Contains(text, `part="free"`) {
		t.Errorf("unexpected series in\n%s", text)
	}
}

func TestOnlyMetricsPath(t *testing.T) {
	m := New("x")
	s, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	resp, err := http.Get("http://" + s.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/ answered %d", resp.StatusCode)
	}
}

// BenchmarkRequest is the cost the metrics add to every request.
func BenchmarkRequest(b *testing.B) {
	m := New("x")
	b.ReportAllocs()
	for b.Loop() {
		m.Request("storage.info.collections", "GET", 304, time.Millisecond)
	}
}
