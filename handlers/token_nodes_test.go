package handlers

import (
	"context"
	"strconv"
	"testing"

	"syncserver/db"
	"syncserver/internal/fxatest"
)

// nodesSetup gives the test server's own node capacity ownCapacity and
// adds nodes (URL → capacity).
func nodesSetup(t *testing.T, tt *tokenTest, ownCapacity int64, nodes ...struct {
	url string
	cap int64
}) {
	t.Helper()
	ctx := context.Background()
	// Every store implements db.Admin (the nodes commands need it): a
	// store that does not is a failure, not a reason to test less.
	admin, ok := tt.Store.(db.Admin)
	if !ok {
		t.Fatalf("%T does not implement db.Admin", tt.Store)
	}
	own := testPublicURL.String()
	if err := tt.Store.Users().EnsureNode(ctx, db.Service, own, nodeCapacity); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetNodeCapacity(ctx, db.Service, own, ownCapacity); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := admin.AddNode(ctx, db.Service, n.url, n.cap); err != nil {
			t.Fatal(err)
		}
	}
}

type nodeCap = struct {
	url string
	cap int64
}

func wantTokenNode(t *testing.T, tt *tokenTest, a fxatest.Account, node string) {
	t.Helper()
	b := wantToken(t, tt.firefox(a))
	if want := node + "/storage/1.5/" + strconv.FormatInt(b.UID, 10); b.APIEndpoint != want {
		t.Errorf("api_endpoint %q, want %q", b.APIEndpoint, want)
	}
	p, _, err := tt.Secrets.Parse(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Node != node {
		t.Errorf("token node %q, want %q", p.Node, node)
	}
}

// TestTokenMultiNode: with multi_node, newcomers go to the least loaded
// node and their tokens name it; when every node is full, 503.
func TestTokenMultiNode(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Token.MultiNode = true })
	const node2, node3 = "https://sync2.example.com", "https://sync3.example.com"
	nodesSetup(t, tt, 0, nodeCap{node2 + "/", 10}, nodeCap{node3, 5})

	// node2 0/10 and node3 0/5 tie: the older row; then node3 (0/5 <
	// 1/10).
	a := tt.account()
	wantTokenNode(t, tt, a, node2)
	wantTokenNode(t, tt, a, node2) // an existing user stays

	b := tt.account()
	wantTokenNode(t, tt, b, node3)

	admin := tt.Store.(db.Admin)
	// Full everywhere: 503.
	if err := admin.SetNodeCapacity(context.Background(), db.Service, node2, 1); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetNodeCapacity(context.Background(), db.Service, node3, 1); err != nil {
		t.Fatal(err)
	}
	c := tt.account()
	if r := tt.firefox(c); r.Status != 503 {
		t.Errorf("all nodes full: %d %s, want 503", r.Status, r.Body)
	}
	// Our own node with room takes the newcomer.
	if err := admin.SetNodeCapacity(context.Background(), db.Service, testPublicURL.String(), 10); err != nil {
		t.Fatal(err)
	}
	wantTokenNode(t, tt, c, testPublicURL.String())
}

// TestTokenSingleNodeIgnoresNodesTable: without multi_node, other rows
// of the nodes table (another server's, an earlier public_url's) change
// nothing: everyone gets our node.
func TestTokenSingleNodeIgnoresNodesTable(t *testing.T) {
	tt := newTokenTest(t, nil)
	nodesSetup(t, tt, 0, nodeCap{"https://old.example.com", 100})
	a := tt.account()
	wantTokenNode(t, tt, a, testPublicURL.String())
	nodes, err := tt.Store.(db.Admin).Nodes(context.Background(), db.Service)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if want := int64(map[bool]int{true: 1}[n.URL == testPublicURL.String()]); n.Users != want {
			t.Errorf("node %s has %d users, want %d", n.URL, n.Users, want)
		}
	}
}
