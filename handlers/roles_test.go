package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/token"
)

// Two storage nodes of a token-only server, under the same path prefix as
// testPublicURL so that newRequest's targets fit them all.
var (
	testNodeA = PublicURL{Scheme: "https", Host: "a.example.com", Port: 443, Prefix: "/ff-sync"}
	testNodeB = PublicURL{Scheme: "https", Host: "b.example.com", Port: 443, Prefix: "/ff-sync"}
)

// testSecretsFile gives node A a rotated secret (a1 then a2) and node B
// its own.
const testSecretsFile = "https://a.example.com/ff-sync,1700000000:a1,1700000100:a2\n" +
	"https://b.example.com/ff-sync,1700000000:b1\n"

func mustNodeSecrets(tb testing.TB, text string) *token.NodeSecrets {
	tb.Helper()
	ns, err := token.ParseNodeSecrets(strings.NewReader(text))
	if err != nil {
		tb.Fatal(err)
	}
	return ns
}

// newStorageNode is a storage-only server at u that verifies tokens with
// secrets.
func newStorageNode(tb testing.TB, u PublicURL, secrets *token.Secrets) *testServer {
	tb.Helper()
	return newTestServer(tb, func(o *Options) {
		o.Role = RoleStorage
		o.PublicURL = u
		o.Storage.Tokens = token.NewCache(secrets, 100)
	})
}

// newTokenOnly is a token-only server assigning users among nodes A and
// B, signing with the secrets file; A fills first.
func newTokenOnly(tb testing.TB, file string) *tokenTest {
	tb.Helper()
	tt := newTokenTest(tb, nil, func(o *Options) {
		o.Role = RoleToken
		o.Token.MultiNode = true
		o.Token.Secrets = nil
		o.Token.NodeSecrets = mustNodeSecrets(tb, file)
	})
	admin := tt.Store.(db.Admin)
	for _, n := range []PublicURL{testNodeA, testNodeB} {
		if err := admin.AddNode(context.Background(), db.Service, n.String(), 10); err != nil {
			tb.Fatal(err)
		}
	}
	return tt
}

// onNode sends a storage request with the token's credentials to node,
// at the path its api_endpoint names there.
func onNode(tb testing.TB, node *testServer, b tokenBody, rel string) *Response {
	tb.Helper()
	base := node.opts.PublicURL.String()
	p, ok := strings.CutPrefix(b.APIEndpoint, base)
	if !ok {
		tb.Fatalf("api_endpoint %q is not on node %s", b.APIEndpoint, base)
	}
	r := node.hawkRequest(b.creds(), http.MethodGet, strings.TrimPrefix(p+rel, node.opts.PublicURL.Prefix), "")
	r.Host = node.opts.PublicURL.Host
	return node.serve(r)
}

// TestRoleRouting: a token-only server has no storage routes and a
// storage-only node no tokenserver routes; both keep the heartbeats.
func TestRoleRouting(t *testing.T) {
	tt := newTokenOnly(t, testSecretsFile)
	node := newStorageNode(t, testPublicURL, mustSecrets(t, testSecret))
	cr := node.mintToken(1)
	for _, tc := range []struct {
		name   string
		srv    *testServer
		req    *Request
		status int
	}{
		{"token server: storage", tt.testServer, tt.hawkRequest(cr, http.MethodGet, "/storage/1.5/1/info/collections", ""), 404},
		{"token server: short storage", tt.testServer, tt.hawkRequest(cr, http.MethodGet, "/1.5/1/info/collections", ""), 404},
		{"token server: heartbeat", tt.testServer, newRequest(http.MethodGet, "/__heartbeat__", ""), 200},
		{"token server: lbheartbeat", tt.testServer, newRequest(http.MethodGet, "/__lbheartbeat__", ""), 200},
		{"storage node: token", node, newRequest(http.MethodGet, tokenPath, "", "Authorization", "Bearer x"), 404},
		{"storage node: short token", node, newRequest(http.MethodGet, "/1.0/sync/1.5", ""), 404},
		{"storage node: storage", node, node.hawkRequest(cr, http.MethodGet, "/storage/1.5/1/info/collections", ""), 200},
		{"storage node: heartbeat", node, newRequest(http.MethodGet, "/__heartbeat__", ""), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := tc.srv.serve(tc.req); r.Status != tc.status {
				t.Errorf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	if r := tt.firefox(tt.account()); r.Status != 200 {
		t.Errorf("token server: token request %d %s", r.Status, r.Body)
	}
}

// TestNodeSecrets: a token-only server signs each node's tokens with that
// node's newest secret; each node accepts its own tokens, minted with
// any of its secrets, and refuses the other node's.
func TestNodeSecrets(t *testing.T) {
	tt := newTokenOnly(t, testSecretsFile)
	nodeA := newStorageNode(t, testNodeA, mustSecrets(t, "a1", "a2"))
	nodeB := newStorageNode(t, testNodeB, mustSecrets(t, "b1"))

	ta := wantToken(t, tt.firefox(tt.account())) // A fills first
	tb := wantToken(t, tt.firefox(tt.account())) // then B (0/10 < 1/10)
	if !strings.HasPrefix(ta.APIEndpoint, testNodeA.String()+"/") || !strings.HasPrefix(tb.APIEndpoint, testNodeB.String()+"/") {
		t.Fatalf("api_endpoints %s and %s, want one on each node", ta.APIEndpoint, tb.APIEndpoint)
	}
	if r := onNode(t, nodeA, ta, "/info/collections"); r.Status != 200 {
		t.Errorf("node A refuses its token: %d", r.Status)
	}
	if r := onNode(t, nodeB, tb, "/info/collections"); r.Status != 200 {
		t.Errorf("node B refuses its token: %d", r.Status)
	}
	// A's token, sent to B with B's URL in place of A's: 401.
	forged := ta
	forged.APIEndpoint = testNodeB.String() + strings.TrimPrefix(ta.APIEndpoint, testNodeA.String())
	want401(t, onNode(t, nodeB, forged, "/info/collections"))
	// Even a node that shared A's secrets would refuse a token naming A.
	nodeBShared := newStorageNode(t, testNodeB, mustSecrets(t, "a1", "a2"))
	want401(t, onNode(t, nodeBShared, forged, "/info/collections"))
	if !strings.Contains(nodeBShared.Logs.String(), "token is for node") {
		t.Errorf("no log of the node mismatch:\n%s", nodeBShared.Logs)
	}

	// The newest secret (a2, by timestamp) signed: a1 alone refuses it.
	if _, _, err := mustSecrets(t, "a2").Parse(ta.ID); err != nil {
		t.Errorf("A's token is not signed with a2: %v", err)
	}
	// Rotation: a token minted with a1 before a2 was added is still good
	// on A until it expires.
	old := testCreds{UID: db.UID(ta.UID)}
	old.ID, old.Key = mintWith(t, "a1", ta.UID, testNodeA.String(), tt.Clock.Now().Unix()+60)
	r := nodeA.hawkRequest(old, http.MethodGet, strings.TrimPrefix(storagePathOn(t, ta, testNodeA, "/info/collections"), testNodeA.Prefix), "")
	if r := nodeA.serve(r); r.Status != 200 {
		t.Errorf("node A refuses a token of its previous secret: %d", r.Status)
	}
	// Past its expiry it is refused like any other.
	nodeA.Clock.Advance(61 * time.Second)
	r = nodeA.hawkRequest(old, http.MethodGet, strings.TrimPrefix(storagePathOn(t, ta, testNodeA, "/storage/bookmarks"), testNodeA.Prefix), "")
	want401(t, nodeA.serve(r))
}

func mustSecrets(tb testing.TB, secrets ...string) *token.Secrets {
	tb.Helper()
	s, err := token.NewSecrets(secrets)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// mintWith mints a token for uid on node with one secret.
func mintWith(tb testing.TB, secret string, uid int64, node string, expires int64) (id, key string) {
	tb.Helper()
	id, key, err := mustSecrets(tb, secret).Mint(token.Payload{UID: uid, Node: node, Expires: expires})
	if err != nil {
		tb.Fatal(err)
	}
	return id, key
}

// storagePathOn is the client-visible path of b's storage on node, plus rel.
func storagePathOn(tb testing.TB, b tokenBody, node PublicURL, rel string) string {
	tb.Helper()
	p, ok := strings.CutPrefix(b.APIEndpoint, node.Origin())
	if !ok {
		tb.Fatalf("api_endpoint %q is not on %s", b.APIEndpoint, node.Origin())
	}
	return p + rel
}

// TestNodeSecretsMissingNode: a user on a node the secrets file does not
// list gets 503 (the operator's mistake), and the log names the node.
func TestNodeSecretsMissingNode(t *testing.T) {
	tt := newTokenOnly(t, "https://a.example.com/ff-sync,1:a1\n")
	wantToken(t, tt.firefox(tt.account())) // on A
	wantTokenError(t, tt.firefox(tt.account()), errRowUnavailable)
	if !strings.Contains(tt.Logs.String(), "node https://b.example.com/ff-sync has no secret in the secrets file") {
		t.Errorf("log does not name the node:\n%s", tt.Logs)
	}
}

// TestRoleTokenNeedsANode: a token-only server that is not multi-node
// must be told its storage node.
func TestRoleTokenNeedsANode(t *testing.T) {
	_, err := New(Options{PublicURL: testPublicURL, Store: newTestServer(t).Store, Role: RoleToken})
	if err == nil || !strings.Contains(err.Error(), "cannot assign users to itself") {
		t.Errorf("New: %v", err)
	}
	if _, err := New(Options{PublicURL: testPublicURL, Store: newTestServer(t).Store, Role: "proxy"}); err == nil {
		t.Error("New accepts role proxy")
	}
}
