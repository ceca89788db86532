package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/fxatest"
)

// cluster is one token-only server and storage-only nodes, real Mains on
// loopback sharing one sqlite database, with per-node secrets.
type cluster struct {
	dir      string
	fx       *fxatest.Server
	tokenCfg string
	token    *Main
	tokenURL string
	nodes    []string                  // public URLs, without trailing slash
	accounts map[int64]fxatest.Account // by the uids they were given
}

// startCluster starts the token server and n storage nodes; the secrets
// file gives each node its own secret (node 0 two, rotated).
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{dir: t.TempDir(), fx: fxatest.New(t)}
	dbPath := filepath.Join(c.dir, "syncserver.db")
	ports := make([]int, n)
	var secrets strings.Builder
	for i := range ports {
		ports[i] = freePort(t)
		c.nodes = append(c.nodes, fmt.Sprintf("http://127.0.0.1:%d", ports[i]))
		fmt.Fprintf(&secrets, "%s,1700000000:node%dsecret-old,1700000100:node%dsecret-new\n", c.nodes[i], i, i)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "secrets.csv"), []byte(secrets.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, role string, port int) string {
		path := filepath.Join(c.dir, name)
		cfg := fmt.Sprintf(`[syncserver]
public_url = "http://127.0.0.1:%d/"
sqluri = "sqlite:///%s"
role = %q
identity_provider = %q
[tokenserver]
multi_node = true
secrets_file = "secrets.csv"
`, port, dbPath, role, c.fx.IdentityProvider())
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tokenPort := freePort(t)
	c.tokenURL = fmt.Sprintf("http://127.0.0.1:%d", tokenPort)
	c.tokenCfg = write("token.ini", "token", tokenPort)
	m, logs := newTestMain(t, "-config", c.tokenCfg, "-http", fmt.Sprintf("127.0.0.1:%d", tokenPort))
	runMain(t, m, logs)
	c.token = m
	for i, port := range ports {
		cfg := write(fmt.Sprintf("node%d.ini", i), "storage", port)
		m, logs := newTestMain(t, "-config", cfg, "-http", fmt.Sprintf("127.0.0.1:%d", port))
		runMain(t, m, logs)
		if status, out := c.command(t, "nodes", "add", c.nodes[i], "--capacity", "10"); status != exitOK {
			t.Fatalf("nodes add: %d %s", status, out)
		}
	}
	return c
}

// command runs a subcommand with the token server's configuration.
func (c *cluster) command(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = out, out
	m.Getenv = func(string) string { return "" }
	if err := m.ParseFlags(context.Background(), append([]string{"-config", c.tokenCfg}, args...)); err != nil {
		t.Fatal(err)
	}
	return m.Main(context.Background()), out.String()
}

// signIn gets a token for a fresh account from the token server.
func (c *cluster) signIn(t *testing.T) tokenAnswer {
	t.Helper()
	a := fxatest.NewAccount(fmt.Sprintf("user%d@example.com", time.Now().UnixNano()))
	ms := time.Now().UnixMilli() - 60_000
	a.Generation, a.KeysChangedAt = ms, ms
	c.fx.SetAccount(a)
	return c.signInAs(t, a)
}

// resignIn asks again for the account that got tok, as Firefox does when
// its token expires.
func (c *cluster) resignIn(t *testing.T, tok tokenAnswer) tokenAnswer {
	t.Helper()
	a, ok := c.accounts[tok.UID]
	if !ok {
		t.Fatalf("no account got uid %d", tok.UID)
	}
	return c.signInAs(t, a)
}

func (c *cluster) signInAs(t *testing.T, a fxatest.Account) tokenAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.tokenURL+"/token/1.0/sync/1.5", nil)
	req.Header.Set("Authorization", "Bearer "+c.fx.JWT(a.UID))
	req.Header.Set("X-KeyID", a.KeyID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tok tokenAnswer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("token request: %d %s", resp.StatusCode, body)
	}
	if c.accounts == nil {
		c.accounts = map[int64]fxatest.Account{}
	}
	c.accounts[tok.UID] = a
	return tok
}

// hawkGet sends a Hawk-signed GET of target with tok's credentials.
func hawkGet(t *testing.T, tok tokenAnswer, target string, nonce int) int {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	auth := hawk.Auth{ID: tok.ID, TS: time.Now().Unix(), Nonce: "n" + strconv.Itoa(nonce)}
	auth.MAC = hawk.Sign([]byte(tok.Key), auth, hawk.Request{Method: http.MethodGet, Host: u.Hostname(), Port: port, Resource: u.RequestURI()})
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", auth.Header())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpStatus(t *testing.T, target string) int {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokenServerAndStorageNodes: a token-only server sends accounts to
// two storage-only nodes; each node serves the tokens minted for it and
// refuses the other's; the token server has no storage and the nodes no
// tokenserver.
func TestTokenServerAndStorageNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	c := startCluster(t, 2)
	a, b := c.signIn(t), c.signIn(t)
	onNode := func(tok tokenAnswer) int {
		for i, n := range c.nodes {
			if strings.HasPrefix(tok.APIEndpoint, n+"/storage/1.5/") {
				return i
			}
		}
		t.Fatalf("api_endpoint %s is on no node", tok.APIEndpoint)
		return -1
	}
	na, nb := onNode(a), onNode(b)
	if na == nb {
		t.Fatalf("both accounts on node %d; the emptier node should take the second", na)
	}
	if got := hawkGet(t, a, a.APIEndpoint+"/info/collections", 1); got != http.StatusOK {
		t.Errorf("a on its node: %d", got)
	}
	if got := hawkGet(t, b, b.APIEndpoint+"/info/collections", 2); got != http.StatusOK {
		t.Errorf("b on its node: %d", got)
	}
	// a's token on b's node, at the path b's node would serve a: 401.
	moved := c.nodes[nb] + strings.TrimPrefix(a.APIEndpoint, c.nodes[na])
	if got := hawkGet(t, a, moved+"/info/collections", 3); got != http.StatusUnauthorized {
		t.Errorf("a's token on the other node: %d, want 401", got)
	}
	if got := httpStatus(t, c.tokenURL+"/storage/1.5/1/info/collections"); got != http.StatusNotFound {
		t.Errorf("token server, storage route: %d, want 404", got)
	}
	if got := httpStatus(t, c.nodes[0]+"/token/1.0/sync/1.5"); got != http.StatusNotFound {
		t.Errorf("storage node, token route: %d, want 404", got)
	}
	for _, u := range []string{c.tokenURL, c.nodes[0]} {
		if got := httpStatus(t, u+"/__heartbeat__"); got != http.StatusOK {
			t.Errorf("%s heartbeat: %d", u, got)
		}
	}
	// The token server registered no node of its own.
	if status, out := c.command(t, "nodes", "list"); status != exitOK || strings.Contains(out, c.tokenURL) {
		t.Errorf("nodes list: %d\n%s", status, out)
	}
}

// TestRoleConfigErrors: what a node needs is checked at start and by
// check, with one line naming the file and the setting.
func TestRoleConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, role, secrets, want string }{
		{"storage node missing from the file", "storage", "http://other.example.com,1:x\n",
			`[tokenserver] secrets_file %s: no secret for this node, http://sync.example.com (its public_url)`},
		{"token server's node_url missing", "token", "http://other.example.com,1:x\n",
			`no secret for node_url http://node.example.com`},
		{"bad line", "storage", "http://sync.example.com,secret\n", `line 1: secret 1 of http://sync.example.com is not "timestamp:secret"`},
		{"no file", "storage", "", "no such file"},
		{"good storage node", "storage", "http://sync.example.com,1:x,2:y\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			secrets := filepath.Join(dir, "secrets.csv")
			if tc.secrets != "" {
				if err := os.WriteFile(secrets, []byte(tc.secrets), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := filepath.Join(dir, "syncserver.ini")
			body := fmt.Sprintf("[syncserver]\npublic_url = \"http://sync.example.com/\"\nrole = %q\n[tokenserver]\nnode_url = \"http://node.example.com\"\nsecrets_file = \"secrets.csv\"\n", tc.role)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c, out := newTestMain(t, "-config", cfg, "check")
			status := c.Main(t.Context())
			m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
			err := m.Run(context.Background())
			m.Close()
			if tc.want == "" {
				if err != nil || status != exitOK || !strings.Contains(out.String(), "per-node secrets from "+secrets+" for 1 node(s)") ||
					!strings.Contains(out.String(), "this node accepts its 2") {
					t.Fatalf("start %v, check %d:\n%s\n%s", err, status, out, logs)
				}
				return
			}
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, secrets)
			}
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("start: %v\nwant %q", err, want)
			}
			if status != exitFail || !strings.Contains(out.String(), want) {
				t.Errorf("check %d:\n%s", status, out)
			}
			if strings.Contains(err.Error(), ":x") || strings.Contains(out.String(), ":x") {
				t.Error("a secret is shown")
			}
		})
	}
}

// nodeRow is one node of nodes list --json.
type nodeRow struct {
	URL         string  `json:"url"`
	Capacity    int64   `json:"capacity"`
	Available   int64   `json:"available"`
	CurrentLoad int64   `json:"current_load"`
	Load        float64 `json:"load"`
	Users       int64   `json:"users"`
	Downed      bool    `json:"downed"`
	Backoff     int64   `json:"backoff"`
	State       string  `json:"state"`
}

// listNodes runs nodes list --json, by URL.
func (c *cluster) listNodes(t *testing.T) map[string]nodeRow {
	t.Helper()
	status, out := c.command(t, "nodes", "list", "--json")
	var rows []nodeRow
	if status != exitOK || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("nodes list --json: %d %s", status, out)
	}
	m := map[string]nodeRow{}
	for _, r := range rows {
		m[r.URL] = r
	}
	return m
}

// TestNodesLifecycleCommands: drain, down, up and backoff as an operator
// runs them against real servers: a drained node or one backing off gets
// no newcomers, a downed node's accounts move at their next token request
// (a new uid, empty storage), and nodes list --json shows it all.
func TestNodesLifecycleCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four servers")
	}
	c := startCluster(t, 3)
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	run := func(want int, args ...string) string {
		t.Helper()
		status, out := c.command(t, args...)
		if status != want {
			t.Fatalf("%v: exit %d, want %d\n%s", args, status, want, out)
		}
		return out
	}
	nodeOf := func(tok tokenAnswer) string {
		for _, n := range c.nodes {
			if strings.HasPrefix(tok.APIEndpoint, n+"/") {
				return n
			}
		}
		t.Fatalf("api_endpoint %s is on no node", tok.APIEndpoint)
		return ""
	}
	// (That its clients hear X-Backoff is TestStorageBackoff's, in
	// handlers, whose clock can pass the node's cache period.)
	if out := run(exitOK, "nodes", "backoff", n2, "300"); !strings.Contains(out, "back off 300 seconds") {
		t.Errorf("backoff output:\n%s", out)
	}
	run(exitOK, "nodes", "drain", n1)
	// Node 1 drained, node 2 backing off: everyone goes to node 0.
	var onN0 []tokenAnswer
	for range 3 {
		tok := c.signIn(t)
		if nodeOf(tok) != n0 {
			t.Fatalf("newcomer on %s; only %s takes newcomers", nodeOf(tok), n0)
		}
		onN0 = append(onN0, tok)
	}
	rows := c.listNodes(t)
	if r := rows[n0]; r.Users != 3 || r.CurrentLoad != 3 || r.State != "up" || r.Load != 0.3 {
		t.Errorf("node 0 = %+v", r)
	}
	if r := rows[n1]; !r.Downed || r.State != "down" {
		t.Errorf("drained node 1 without accounts = %+v", r)
	}
	if r := rows[n2]; r.Backoff != 300 || r.State != "up, backoff 300s" {
		t.Errorf("node 2 = %+v", r)
	}
	run(exitOK, "nodes", "undrain", n1)
	run(exitOK, "nodes", "backoff", n2, "0")
	// Node 0 goes down: its accounts move to 1 and 2 at their next
	// token request, with new uids; node 0, still running, turns their
	// old tokens away with 401 so that Firefox asks at once; nobody else
	// is affected.
	other := c.signIn(t) // on node 1 (0/10, lower id than 2)
	if nodeOf(other) != n1 {
		t.Fatalf("newcomer after undrain on %s, want %s", nodeOf(other), n1)
	}
	if out := run(exitOK, "nodes", "down", n0); !strings.Contains(out, "3 account(s) move to other nodes") {
		t.Errorf("down output:\n%s", out)
	}
	if got := hawkGet(t, onN0[0], onN0[0].APIEndpoint+"/info/collections", 10); got != http.StatusUnauthorized {
		t.Errorf("a moved account's token on the downed node: %d, want 401", got)
	}
	rows = c.listNodes(t)
	if r := rows[n0]; r.Users != 0 || r.State != "down" {
		t.Errorf("downed node 0 = %+v", r)
	}
	// The FxA stand-in keeps the accounts: sign in again with the same
	// account by asking for a new token with its credentials.
	for i, old := range onN0 {
		tok := c.resignIn(t, old)
		if n := nodeOf(tok); n == n0 || tok.UID == old.UID {
			t.Errorf("account %d after down: uid %d on %s (was %d)", i, tok.UID, n, old.UID)
		}
		if got := hawkGet(t, tok, tok.APIEndpoint+"/info/collections", 20+i); got != http.StatusOK {
			t.Errorf("account %d on its new node: %d", i, got)
		}
	}
	if tok := c.resignIn(t, other); tok.UID != other.UID || nodeOf(tok) != n1 {
		t.Errorf("an account of a live node moved: %+v", tok)
	}
	run(exitOK, "nodes", "up", n0)
	if r := c.listNodes(t)[n0]; r.Downed || r.State != "up" {
		t.Errorf("node 0 after up = %+v", r)
	}
	run(exitUsage, "nodes", "backoff", n0, "soon")
	run(exitFail, "nodes", "drain", "https://unknown.example.com")
}
