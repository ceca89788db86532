package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/testdb"
	"syncserver/token"
)

// Servers on MySQL and PostgreSQL (and, for comparison, on one sqlite
// file): several serving one database, and a database that is down.

// dbPublicURL is the public_url of every server of these tests: servers
// sharing a database sit behind one name.
const dbPublicURL = "http://sync.test:5000"

// dbServer is a Main serving standalone HTTP on a database of the test.
type dbServer struct {
	*Main
	Logs *syncBuffer
	Addr string
}

// startDBServer starts a server on the database of uri; extra is appended
// to its [syncserver] section.
func startDBServer(t *testing.T, uri, extra string) *dbServer {
	t.Helper()
	cfg := writeConfig(t, fmt.Sprintf(`[syncserver]
public_url = %q
sqluri = %q
%s`, dbPublicURL+"/", uri, extra))
	m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
	runMain(t, m, logs)
	return &dbServer{Main: m, Logs: logs, Addr: m.Addr().String()}
}

// startDBProcess starts the real binary, in a process of its own, on the
// database of uri.
func startDBProcess(t *testing.T, bin, uri, extra string) *dbServer {
	t.Helper()
	cfg := writeConfig(t, fmt.Sprintf(`[syncserver]
public_url = %q
sqluri = %q
%s`, dbPublicURL+"/", uri, extra))
	cmd, addr, logs := startBinary(t, bin, "-config", cfg, "-http", "127.0.0.1:0")
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return &dbServer{Logs: logs, Addr: addr}
}

// dbClient is one user's Firefox, with a token minted for it.
type dbClient struct {
	t     *testing.T
	uid   int64
	id    string
	key   string
	nonce atomic.Uint64
}

func newDBClient(t *testing.T, secret string, uid int64) *dbClient {
	t.Helper()
	s, err := token.NewSecrets([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	id, key, err := s.Mint(token.Payload{UID: uid, Node: dbPublicURL, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return &dbClient{t: t, uid: uid, id: id, key: key}
}

// do sends a Hawk-signed storage request for rel (below /storage/1.5/uid)
// to the server at addr, signed for public_url as Firefox signs it.
func (c *dbClient) do(addr, method, rel, body string) (int, http.Header, string) {
	c.t.Helper()
	resource := fmt.Sprintf("/storage/1.5/%d%s", c.uid, rel)
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+resource, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Host = "sync.test:5000"
	auth := hawk.Auth{ID: c.id, TS: time.Now().Unix(), Nonce: "n" + strconv.FormatUint(c.nonce.Add(1), 36)}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		auth.Hash = hawk.PayloadHash("application/json", []byte(body))
	}
	auth.MAC = hawk.Sign([]byte(c.key), auth, hawk.Request{Method: method, Host: "sync.test", Port: 5000, Resource: resource})
	req.Header.Set("Authorization", auth.Header())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// get fetches a plain URL of the server at addr.
func get(t *testing.T, addr, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestServersShareADatabase: two servers on one database serve one user
// at once; every upload gets its own timestamp, later than the one before
// whichever server took it, no record is lost, and both servers answer
// info/collections with the other's writes.
func TestServersShareADatabase(t *testing.T) {
	testdb.SkipShort(t, "builds the binary")
	bin := buildBinary(t)
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			uri := testdb.NewURI(t, backend)
			// One server in this test process and one in a process of its
			// own, as two syncserver processes behind a balancer or under
			// mod_fcgid: separate pools, caches and per-user serialisation
			// meeting only in the database.
			servers := []*dbServer{
				startDBServer(t, uri, fmt.Sprintf("secret = %q\n", testSecret)),
				startDBProcess(t, bin, uri, fmt.Sprintf("secret = %q\n", testSecret)),
			}
			c := newDBClient(t, testSecret, 42)
			const writers, posts = 4, 10
			var mu sync.Mutex
			var stamps []float64
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range posts {
						srv := servers[(w+i)%2]
						var recs []string
						for r := range 5 {
							recs = append(recs, fmt.Sprintf(`{"id":"w%d-%d-%d","payload":"x"}`, w, i, r))
						}
						status, _, body := c.do(srv.Addr, http.MethodPost, "/storage/history", "["+strings.Join(recs, ",")+"]")
						var res struct {
							Modified float64           `json:"modified"`
							Success  []string          `json:"success"`
							Failed   map[string]string `json:"failed"`
						}
						if status != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || len(res.Success) != 5 {
							t.Errorf("POST via server %d: %d %s", (w+i)%2, status, body)
							return
						}
						mu.Lock()
						stamps = append(stamps, res.Modified)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			slices.Sort(stamps)
			if len(slices.Compact(slices.Clone(stamps))) != writers*posts {
				t.Errorf("%d uploads got %d distinct timestamps: %v", writers*posts, len(slices.Compact(slices.Clone(stamps))), stamps)
			}
			last := fmt.Sprintf("%.2f", stamps[len(stamps)-1])
			for i, srv := range servers {
				status, hdr, body := c.do(srv.Addr, http.MethodGet, "/storage/history", "")
				var ids []string
				if status != http.StatusOK || json.Unmarshal([]byte(body), &ids) != nil || len(ids) != writers*posts*5 {
					t.Errorf("server %d lists %d records: %d %.200s", i, len(ids), status, body)
				}
				if hdr.Get("X-Last-Modified") != last {
					t.Errorf("server %d: X-Last-Modified %s, want the last upload's %s", i, hdr.Get("X-Last-Modified"), last)
				}
			}
			// Each server answers info/collections (maybe from memory),
			// then the other writes: both must show it.
			for round := range 4 {
				for i, srv := range servers {
					if status, _, body := c.do(srv.Addr, http.MethodGet, "/info/collections", ""); status != http.StatusOK {
						t.Fatalf("info/collections via %d: %d %s", i, status, body)
					}
				}
				writer := servers[round%2]
				status, _, body := c.do(writer.Addr, http.MethodPut, "/storage/tabs/t", `{"payload":"p"}`)
				if status != http.StatusOK {
					t.Fatalf("PUT: %d %s", status, body)
				}
				for i, srv := range servers {
					_, _, info := c.do(srv.Addr, http.MethodGet, "/info/collections", "")
					var m map[string]float64
					if err := json.Unmarshal([]byte(info), &m); err != nil || fmt.Sprintf("%.2f", m["tabs"]) != body {
						t.Errorf("round %d: server %d says tabs %v (%s), the write by server %d was at %s", round, i, m["tabs"], info, round%2, body)
					}
				}
			}
		})
	}
}

// TestDatabaseDownAtStart: a server whose database does not answer starts
// anyway; /__heartbeat__ says the database is down and requests get 503
// with Retry-After; once the database answers, the server is healthy and
// serves without a restart. With a generated secret the server waits for
// the database to build its handler; with everything configured it
// serves at once from a store that connects on first use.
func TestDatabaseDownAtStart(t *testing.T) {
	for _, backend := range []string{"mysql", "postgres"} {
		for _, secrets := range []string{"generated", "configured"} {
			t.Run(backend+"/"+secrets, func(t *testing.T) {
				t.Parallel()
				proxy, uri := testdb.NewProxy(t, testdb.NewURI(t, backend), false)
				extra := "[storage]\npool_timeout = 2\n"
				if secrets == "configured" {
					extra = fmt.Sprintf("secret = %q\n[fxa]\nmetrics_uid_secret_key = \"k\"\n", testSecret) + extra
				}
				srv := startDBServer(t, uri, extra)
				status, hdr, body := get(t, srv.Addr, "/__heartbeat__")
				var hb map[string]any
				if status != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &hb) != nil || hb["database"] != "Err" || hdr.Get("Retry-After") == "" {
					t.Errorf("heartbeat while the database is down: %d %v %s", status, hdr, body)
				}
				if status, _, _ := get(t, srv.Addr, "/__lbheartbeat__"); status != http.StatusOK {
					t.Errorf("lbheartbeat while the database is down: %d", status)
				}
				req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Addr+"/token/1.0/sync/1.5", nil)
				req.Header.Set("Authorization", "Bearer x")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
					t.Errorf("token request while the database is down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
				}

				proxy.Up()
				eventually(t, 15*time.Second, "the server becomes healthy", func() bool {
					status, _, _ := get(t, srv.Addr, "/__heartbeat__")
					return status == http.StatusOK
				})
				secret := testSecret
				if secrets == "generated" {
					var err error
					if secret, err = srv.Store.Setting(t.Context(), settingSecret); err != nil {
						t.Fatal(err)
					}
				}
				c := newDBClient(t, secret, 7)
				if status, _, body := c.do(srv.Addr, http.MethodPut, "/storage/tabs/a", `{"payload":"x"}`); status != http.StatusOK {
					t.Fatalf("PUT after the database came up: %d %s", status, body)
				}

				// Down again while serving: 503 with Retry-After, then
				// healthy again by itself.
				proxy.Down()
				status, hdr, body = c.do(srv.Addr, http.MethodPut, "/storage/tabs/b", `{"payload":"y"}`)
				if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
					t.Errorf("PUT while the database is down: %d %s, Retry-After %q", status, body, hdr.Get("Retry-After"))
				}
				if status, _, _ := get(t, srv.Addr, "/__heartbeat__"); status != http.StatusServiceUnavailable {
					t.Errorf("heartbeat during the outage: %d", status)
				}
				proxy.Up()
				eventually(t, 15*time.Second, "the server recovers", func() bool {
					status, _, _ := c.do(srv.Addr, http.MethodPut, "/storage/tabs/b", `{"payload":"y"}`)
					return status == http.StatusOK
				})
				if status, _, body := c.do(srv.Addr, http.MethodGet, "/storage/tabs?full=1", ""); status != http.StatusOK || strings.Count(body, `"id"`) != 2 {
					t.Errorf("records after the outage: %d %s", status, body)
				}
			})
		}
	}
}
