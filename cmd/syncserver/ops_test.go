package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

// TestServerShedsExpiredRecords: a server left running deletes records
// whose TTL ran out, and abandoned nothing else, without anyone asking.
func TestServerShedsExpiredRecords(t *testing.T) {
	s := startOpsServer(t, `
[purge]
interval = 0.2
grace = 0
`)
	f := s.newFirefox(t)
	f.must(http.StatusOK, http.MethodPost, "/storage/tabs",
		`[{"id":"a","payload":"x","ttl":1},{"id":"b","payload":"y","ttl":1},{"id":"keep","payload":"z"}]`)
	admin := s.Store.(db.Admin)
	stats := func() db.Stats {
		st, err := admin.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(); st.Records+st.ExpiredRecords != 3 {
		t.Fatalf("stats before expiry: %+v", st)
	}
	eventually(t, 30*time.Second, "the expired records are still stored", func() bool {
		st := stats()
		return st.Records == 1 && st.ExpiredRecords == 0
	})
	if got := f.must(http.StatusOK, http.MethodGet, "/storage/tabs", ""); got != `["keep"]` {
		t.Errorf("tabs after the purge: %s", got)
	}
	// The purge logs after its transaction commits, so the line may come a
	// moment after the records are gone.
	eventually(t, 10*time.Second, "no purge line in the log", func() bool {
		return strings.Contains(s.Logs.String(), "purge: deleted what had expired")
	})
}

// TestUsersDeleteStartsAFreshSync: after `syncserver users delete` the
// account's Firefox finds an empty server (info/collections {} and no
// meta/global, which makes Firefox start over and upload everything), and
// the tokenserver still serves it, under the same uid.
func TestUsersDeleteStartsAFreshSync(t *testing.T) {
	s := startOpsServer(t, "")
	f := s.newFirefox(t)
	f.must(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"payload":"{\"syncID\":\"abc\"}"}`)
	f.must(http.StatusOK, http.MethodPut, "/storage/crypto/keys", `{"payload":"keys"}`)
	f.must(http.StatusOK, http.MethodPost, "/storage/bookmarks", `[{"id":"b1","payload":"p1"},{"id":"b2","payload":"p2"}]`)
	_, hdr, _ := f.do(http.MethodGet, "/info/collections", "")
	before := hdr.Get("X-Last-Modified")
	other := s.newFirefox(t)
	other.must(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"payload":"other"}`)

	status, out, errOut := s.command(t, "users", "delete", f.Account.UID, "--yes")
	if status != 0 {
		t.Fatalf("users delete: exit %d\n%s%s", status, out, errOut)
	}
	if !strings.Contains(out, "Deleted 4 records") {
		t.Errorf("users delete said:\n%s", out)
	}
	status, hdr, body := f.do(http.MethodGet, "/info/collections", "")
	if status != http.StatusOK || body != "{}" {
		t.Fatalf("info/collections after delete: %d %s", status, body)
	}
	if after := hdr.Get("X-Last-Modified"); after <= before {
		t.Errorf("X-Last-Modified %s after delete, %s before: clients would not notice", after, before)
	}
	f.must(http.StatusNotFound, http.MethodGet, "/storage/meta/global", "")
	uid := f.Token.UID
	if status := f.signIn(); status != http.StatusOK || f.Token.UID != uid {
		t.Fatalf("token after delete: status %d, uid %d (was %d)", status, f.Token.UID, uid)
	}
	// The fresh start: Firefox uploads again.
	f.must(http.StatusOK, http.MethodPut, "/storage/meta/global", `{"payload":"{\"syncID\":\"new\"}"}`)
	// Other accounts keep their data.
	if got := other.must(http.StatusOK, http.MethodGet, "/storage/meta/global", ""); !strings.Contains(got, "other") {
		t.Errorf("another account's meta/global: %s", got)
	}
}

// TestMetricsMoveUnderLoad: with metrics_listen, a scrape of the separate
// endpoint shows the counters moving as requests come in.
func TestMetricsMoveUnderLoad(t *testing.T) {
	s := startOpsServer(t, `metrics_listen = "127.0.0.1:0"`)
	addr := s.MetricsAddr()
	if addr == nil {
		t.Fatal("no metrics endpoint")
	}
	before := scrape(t, addr.String())
	f := s.newFirefox(t)
	const n = 20
	for i := range n {
		f.must(http.StatusOK, http.MethodPut, fmt.Sprintf("/storage/history/r%d", i), `{"payload":"x"}`)
		f.must(http.StatusOK, http.MethodGet, "/info/collections", "")
	}
	f.must(http.StatusNotFound, http.MethodGet, "/storage/history/missing", "")
	after := scrape(t, addr.String())

	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"syncserver_requests_total", []string{`route="storage.item"`, `method="PUT"`, `status="200"`}, n},
		{"syncserver_requests_total", []string{`route="storage.info.collections"`, `status="200"`}, n},
		{"syncserver_requests_total", []string{`route="storage.item"`, `method="GET"`, `status="404"`}, 1},
		{"syncserver_requests_total", []string{`route="token"`, `status="200"`}, 1},
		{"syncserver_request_duration_seconds_count", []string{`route="storage.item"`, `method="PUT"`}, n},
		{"syncserver_tokens_issued_total", nil, 1},
		{"syncserver_fxa_verifications_total", []string{`result="ok"`}, 1},
		{"syncserver_fxa_verification_duration_seconds_count", []string{`result="ok"`}, 1},
	} {
		if got := sample(after, c.name, c.labels...) - sample(before, c.name, c.labels...); got != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.delta)
		}
	}
	if _, ok := after["syncserver_users"]; !ok {
		t.Error("no syncserver_users gauge")
	}
	if _, ok := after[`syncserver_database_bytes{part="total"}`]; !ok {
		t.Error("no database size gauge")
	}
	// The Sync port does not serve the metrics.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", s.Port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the Sync port answers /metrics")
	}
}

// TestMetricsCountPurge: the purge's rows show on the metrics.
func TestMetricsCountPurge(t *testing.T) {
	s := startOpsServer(t, `metrics_listen = "127.0.0.1:0"

[purge]
interval = 0.2
grace = 0
`)
	f := s.newFirefox(t)
	f.must(http.StatusOK, http.MethodPost, "/storage/tabs", `[{"id":"a","payload":"x","ttl":1},{"id":"b","payload":"y","ttl":1}]`)
	eventually(t, 30*time.Second, "purged rows not counted", func() bool {
		m := scrape(t, s.MetricsAddr().String())
		return sample(m, "syncserver_purged_rows_total", `kind="expired_records"`) == 2 &&
			sample(m, "syncserver_purge_runs_total", `result="ok"`) > 0
	})
}

// TestUserAdministration drives users, nodes and check as an operator
// would, with --json as a script would.
func TestUserAdministration(t *testing.T) {
	s := startOpsServer(t, "")
	f := s.newFirefox(t)
	f.must(http.StatusOK, http.MethodPost, "/storage/bookmarks", `[{"id":"b1","payload":"12345"}]`)
	g := s.newFirefox(t)
	g.must(http.StatusOK, http.MethodPut, "/storage/clients/c1", `{"payload":"c"}`)

	run := func(want int, args ...string) string {
		t.Helper()
		status, out, errOut := s.command(t, args...)
		if status != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, status, want, out, errOut)
		}
		return out
	}
	var list []struct {
		UID         int64   `json:"uid"`
		FxAUID      string  `json:"fxa_uid"`
		Status      string  `json:"status"`
		ClientState string  `json:"client_state"`
		LastActive  *string `json:"last_active"`
		Records     int64   `json:"records"`
		Bytes       int64   `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(run(0, "users", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("users list: %+v", list)
	}
	for _, u := range list {
		if u.FxAUID == f.Account.UID && (u.UID != f.Token.UID || u.Records != 1 || u.Bytes != 5 || u.LastActive == nil ||
			u.ClientState != f.Account.ClientState() || u.Status != "active") {
			t.Errorf("users list entry %+v", u)
		}
	}
	if out := run(0, "users", "list"); !strings.Contains(out, "LAST ACTIVE") || !strings.Contains(out, f.Account.UID) {
		t.Errorf("users list:\n%s", out)
	}
	if out := run(0, "users", "show", fmt.Sprint(f.Token.UID)); !strings.Contains(out, "bookmarks") {
		t.Errorf("users show:\n%s", out)
	}
	run(1, "users", "show", "nobody")
	run(2, "users", "show")
	run(2, "users", "frobnicate")

	// A quota of the account's own, honoured by the storage.
	if out := run(0, "users", "set-quota", f.Account.UID, "10"); !strings.Contains(out, "10 B (the account's own)") {
		t.Errorf("set-quota:\n%s", out)
	}
	f.must(http.StatusForbidden, http.MethodPut, "/storage/bookmarks/b2", `{"payload":"123456"}`)
	run(0, "users", "set-quota", f.Account.UID, "default")
	f.must(http.StatusOK, http.MethodPut, "/storage/bookmarks/b2", `{"payload":"123456"}`)
	run(2, "users", "set-quota", f.Account.UID, "lots")

	// Retiring refuses the next token; without --yes and no terminal it
	// asks for --yes.
	run(1, "users", "retire", g.Account.UID)
	var retired map[string]any
	if err := json.Unmarshal([]byte(run(0, "users", "retire", g.Account.UID, "--yes", "--json")), &retired); err != nil || retired["retired"] != true {
		t.Fatalf("retire --json: %v %v", retired, err)
	}
	if status := g.signIn(); status != http.StatusUnauthorized {
		t.Errorf("token after retire: status %d", status)
	}
	if out := run(0, "users", "list", "--all"); !strings.Contains(out, "retired") {
		t.Errorf("users list --all:\n%s", out)
	}

	// Nodes.
	if out := run(0, "nodes", "list"); !strings.Contains(out, fmt.Sprintf("http://127.0.0.1:%d", s.Port)) || !strings.Contains(out, "this server") {
		t.Errorf("nodes list:\n%s", out)
	}
	run(0, "nodes", "add", "https://node2.example.com", "--capacity", "10")
	run(1, "nodes", "add", "https://node2.example.com")
	run(0, "nodes", "set-capacity", "https://node2.example.com", "20")
	var nodes []struct {
		URL      string `json:"url"`
		Capacity int64  `json:"capacity"`
		Users    int64  `json:"users"`
	}
	if err := json.Unmarshal([]byte(run(0, "nodes", "list", "--json")), &nodes); err != nil || len(nodes) != 2 || nodes[1].Capacity != 20 {
		t.Errorf("nodes list --json: %+v %v", nodes, err)
	}
	run(1, "nodes", "remove", fmt.Sprintf("http://127.0.0.1:%d", s.Port)) // it has an account
	run(0, "nodes", "remove", "https://node2.example.com")
	run(2, "nodes", "add", "not a url")

	// check: ready, and the Firefox setting.
	out := run(0, "check")
	if !strings.Contains(out, fmt.Sprintf("identity.sync.tokenserver.uri = http://127.0.0.1:%d/token/1.0/sync/1.5", s.Port)) {
		t.Errorf("check:\n%s", out)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(run(0, "check", "--json")), &rep); err != nil || !rep.OK {
		t.Fatalf("check --json: %+v %v", rep, err)
	}
	// purge --dry-run --json.
	var pr purgeReport
	if err := json.Unmarshal([]byte(run(0, "purge", "--dry-run", "--json", "--replaced-grace", "0")), &pr); err != nil ||
		!pr.DryRun || len(pr.ReplacedUIDs) != 1 || pr.ReplacedUIDs[0] != db.UID(g.Token.UID) {
		t.Errorf("purge --dry-run: %+v %v", pr, err)
	}
}

func TestCheckFindsProblems(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
		status             int
	}{
		{"localhost public_url, public listener", `["server:main"]
host = "0.0.0.0"
[syncserver]
public_url = "http://localhost:5000/"
`, "reaches this machine only", 1},
		{"unreadable config", "[syncserver]\npublic_url = 5\n", "public_url", 1},
		{"plain http to the world", `[syncserver]
public_url = "http://sync.example.com/"
`, "plain http", 0},
		{"email in allowed_users", `[syncserver]
public_url = "https://sync.example.com/"
[tokenserver]
allowed_users = ["alice@example.com"]
`, "looks like an e-mail address", 0},
		{"purge off", `[syncserver]
public_url = "https://sync.example.com/"
[purge]
interval = 0
`, "background purge is off", 0},
		{"public metrics", `[syncserver]
public_url = "https://sync.example.com/"
metrics_listen = "0.0.0.0:9090"
`, "answers anyone", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, tc.config)
			m, logs := newTestMain(t, "-config", cfg, "check")
			if status := m.Main(t.Context()); status != tc.status || !strings.Contains(logs.String(), tc.want) {
				t.Errorf("exit %d (want %d); output:\n%s\nwant %q", status, tc.status, logs, tc.want)
			}
		})
	}
}

// TestAllowedUsersCheckNamesLockedOutAccounts: adding an allow-list warns
// about accounts already syncing that it would refuse.
func TestAllowedUsersCheckNamesLockedOutAccounts(t *testing.T) {
	s := startOpsServer(t, "")
	f := s.newFirefox(t)
	g := s.newFirefox(t)
	cfg := writeConfig(t, fmt.Sprintf(`[syncserver]
public_url = "http://127.0.0.1:%d/"
sqluri = "sqlite:///%s"
[tokenserver]
allowed_users = [%q]
`, s.Port, filepath.Join(filepath.Dir(s.Config), "syncserver.db"), f.Account.UID))
	m, logs := newTestMain(t, "-config", cfg, "check")
	m.Main(t.Context())
	if out := logs.String(); !strings.Contains(out, "not in allowed_users and are refused") || !strings.Contains(out, g.Account.UID) ||
		strings.Contains(out, f.Account.UID+"@") {
		t.Errorf("check:\n%s", out)
	}
}

// TestLogsHoldNoSecrets runs a whole scenario with debug logs in both
// formats and looks in them for every secret the scenario handled: the
// server's secret, the FxA access token, the storage token and its key,
// Authorization headers and the records' payloads.
func TestLogsHoldNoSecrets(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			s := startOpsServer(t, fmt.Sprintf("log_format = %q\nmetrics_listen = \"127.0.0.1:0\"\n\n[purge]\ninterval = 0.2\ngrace = 0\n", format))
			f := s.newFirefox(t)
			const secretPayload = "PAYLOAD-7c1d9e-do-not-log"
			f.must(http.StatusOK, http.MethodPut, "/storage/passwords/p1", `{"payload":"`+secretPayload+`-1"}`)
			f.must(http.StatusOK, http.MethodPost, "/storage/passwords", `[{"id":"p2","payload":"`+secretPayload+`-2","ttl":1}]`)
			body := f.must(http.StatusAccepted, http.MethodPost, "/storage/forms?batch=true", `[{"id":"f1","payload":"`+secretPayload+`-3"}]`)
			var batch struct {
				Batch string `json:"batch"`
			}
			json.Unmarshal([]byte(body), &batch)
			f.must(http.StatusOK, http.MethodPost, "/storage/forms?commit=true&batch="+batch.Batch, `[{"id":"f2","payload":"`+secretPayload+`-4"}]`)
			f.must(http.StatusOK, http.MethodGet, "/storage/passwords?full=1", "")
			f.must(http.StatusBadRequest, http.MethodPut, "/storage/passwords/p3", `{"payload":"`+secretPayload+`-5", "bogus": 1}`)
			f.must(http.StatusBadRequest, http.MethodPost, "/storage/passwords", `not json `+secretPayload)
			// A wrong key: 401, logged.
			good := f.Token.Key
			f.Token.Key = "AAAA" + good[4:]
			f.must(http.StatusUnauthorized, http.MethodGet, "/info/collections", "")
			f.Token.Key = good
			// A rejected access token and a good one.
			jwt := f.AccessToken
			f.s.FxA.Revoke(jwt)
			tampered := jwt[:len(jwt)-4] + "AAAA"
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/token/1.0/sync/1.5", s.Port), nil)
			req.Header.Set("Authorization", "Bearer "+tampered)
			req.Header.Set("X-KeyID", f.Account.KeyID())
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			f.signIn()
			eventually(t, 30*time.Second, "the expired record was not purged", func() bool {
				return strings.Contains(s.Logs.String(), "purge: deleted what had expired")
			})
			if status, out, errOut := s.command(t, "users", "delete", f.Account.UID, "--yes"); status != 0 {
				t.Fatalf("users delete: %d %s %s", status, out, errOut)
			}
			scrape(t, s.MetricsAddr().String())

			logs := s.Logs.String()
			for name, secret := range map[string]string{
				"server secret":        testSecret,
				"access token":         jwt,
				"tampered token":       tampered,
				"new access token":     f.AccessToken,
				"storage token":        f.Token.ID,
				"storage token key":    f.Token.Key,
				"payload":              secretPayload,
				"Hawk header":          "Hawk id=",
				"Bearer header":        "Bearer ",
				"sync key (kB) as hex": fmt.Sprintf("%x", f.Account.KB),
			} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds the %s", name)
				}
			}
			if !strings.Contains(logs, "storage.item") || !strings.Contains(logs, "route") {
				t.Errorf("the log does not even hold the requests:\n%s", logs)
			}
		})
	}
}
