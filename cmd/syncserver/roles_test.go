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
	nodes    []string // public URLs, without trailing slash
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
