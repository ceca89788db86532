package token

import (
	"errors"
	"strings"
	"testing"
)

const (
	nodeA = "https://a.example.com"
	nodeB = "https://b.example.com/sync"
)

// A file as Mozilla's tokenserver reads it, secrets out of order.
const secretsFile = `# two nodes
https://a.example.com/,1700000200:newA,1700000100:oldA
https://b.example.com/sync,1700000000:onlyB

https://lonely.example.com
`

func mustNodeSecrets(t *testing.T, text string) *NodeSecrets {
	t.Helper()
	ns, err := ParseNodeSecrets(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestNodeSecretsSignNewestAcceptAny: the newest secret of a node (by
// timestamp, not by position) signs; the older one still verifies, which
// is what rotation needs.
func TestNodeSecretsSignNewestAcceptAny(t *testing.T) {
	ns := mustNodeSecrets(t, secretsFile)
	if got := ns.Nodes(); len(got) != 2 || got[0] != nodeA || got[1] != nodeB {
		t.Fatalf("Nodes() = %q", got)
	}
	a := ns.For(nodeA + "/")
	if a == nil || a.Len() != 2 {
		t.Fatalf("For(%s) = %v", nodeA, a)
	}
	p := Payload{UID: 1, Node: nodeA, Expires: 1700000300}
	tok, key := mustMint(t, a, p)
	// Signed with newA: newA alone verifies it with the same key, oldA
	// alone does not.
	if _, k, err := MustSecrets(t, "newA").Parse(tok); err != nil || k != key {
		t.Errorf("newA.Parse: key %q, %v; want %q", k, err, key)
	}
	if _, _, err := MustSecrets(t, "oldA").Parse(tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("oldA.Parse of a newA token: %v, want ErrInvalid", err)
	}
	// A token of the old secret still passes the node's secrets.
	old, oldKey := mustMint(t, MustSecrets(t, "oldA"), p)
	if _, k, err := a.Parse(old); err != nil || k != oldKey {
		t.Errorf("rotated secrets refuse a token of the old one: %v", err)
	}
	// Node B's secrets refuse A's token.
	if _, _, err := ns.For(nodeB).Parse(tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("node B accepted node A's token: %v", err)
	}
	if ns.For("https://lonely.example.com") != nil || ns.For("https://c.example.com") != nil {
		t.Error("For of a node without secrets is not nil")
	}
}

func TestParseNodeSecretsErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"duplicate", "https://a,1:x\nhttps://a/,2:y\n", "line 2: node https://a is listed twice"},
		{"no timestamp", "https://a,secret\n", `line 1: secret 1 of https://a is not "timestamp:secret"`},
		{"bad timestamp", "https://a,1:x,yesterday:y\n", "secret 2 of https://a"},
		{"empty secret", "https://a,1:\n", "secret 1 of https://a"},
		{"no node", ",1:x\n", "line 1: no node URL"},
		{"empty", "# nothing\n\n", "lists no node"},
		{"bad csv", "https://a,\"1:x\n", "not CSV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNodeSecrets(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			for _, s := range []string{":x", ":y"} {
				if strings.Contains(tc.text, s) && strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}
