package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"syncserver/hawk"
	"syncserver/token"
)

// TestNodeSecretsSpreadsUsers checks -node-secrets: users go to the nodes
// of the file in turn, each with a token its own node accepts (signed
// with the node's secret, naming the node) and Hawk signed for its host.
func TestNodeSecretsSpreadsUsers(t *testing.T) {
	var mu sync.Mutex
	hits := map[string][]int64{}
	var lines []string
	var nodes []*httptest.Server
	for i := range 3 {
		secret := fmt.Sprintf("%040d", i+1)
		secrets, err := token.NewSecrets([]string{secret})
		if err != nil {
			t.Fatal(err)
		}
		var self string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, err := hawk.ParseHeader(r.Header.Get("Authorization"))
			if err != nil {
				http.Error(w, err.Error(), 401)
				return
			}
			p, _, err := secrets.Parse(a.ID)
			if err != nil || p.Node != self {
				http.Error(w, fmt.Sprintf("token for %q: %v", p.Node, err), 401)
				return
			}
			if !strings.HasPrefix(r.URL.Path, "/storage/1.5/"+strconv.FormatInt(p.UID, 10)+"/") {
				http.Error(w, "path of another uid", 403)
				return
			}
			mu.Lock()
			hits[self] = append(hits[self], p.UID)
			mu.Unlock()
			w.Write([]byte("{}"))
		}))
		defer srv.Close()
		self = srv.URL
		nodes = append(nodes, srv)
		lines = append(lines, fmt.Sprintf("%s/,1700000000:%s", srv.URL, secret))
	}
	file := filepath.Join(t.TempDir(), "secrets.csv")
	if err := os.WriteFile(file, []byte("# nodes\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	def, err := newTarget("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	l := &loader{o: options{users: 7, firstUID: 100, nodeSecrets: file, scenario: "s6"}, base: def.url, def: def,
		client: newClient(4)}
	if err := l.mintUsers(); err != nil {
		t.Fatal(err)
	}
	for _, u := range l.users {
		st, _, err := l.do(u, "GET", u.prefixURL+"/info/collections", nil, nil)
		if err != nil || st != 200 {
			t.Fatalf("uid %d: status %d, %v", u.uid, st, err)
		}
	}
	want := map[string][]int64{
		nodes[0].URL: {100, 103, 106},
		nodes[1].URL: {101, 104},
		nodes[2].URL: {102, 105},
	}
	if fmt.Sprint(hits) != fmt.Sprint(want) {
		t.Errorf("requests by node: %v, want %v", hits, want)
	}

	if err := os.WriteFile(file, []byte("ftp://x,1700000000:abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.users = nil
	if err := l.mintUsers(); err == nil || !strings.Contains(err.Error(), "is not an http") {
		t.Errorf("a node URL that is not http: %v", err)
	}
}
