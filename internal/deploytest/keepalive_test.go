package deploytest

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestFastCGIKeepAlive checks that the FastCGI snippets keep connections to
// syncserver open between requests (nginx: upstream keepalive with
// fastcgi_keep_conn on; Apache mod_proxy_fcgi: enablereuse=on): after each of
// a run of requests, syncserver still holds an open connection from the web
// server, and the requests were carried by far fewer connections than there
// were requests. Without keep-alive every connection ends with its request.
func TestFastCGIKeepAlive(t *testing.T) {
	for _, name := range []string{"nginx-fastcgi-tcp", "nginx-fastcgi-unix", "apache-proxy-fcgi-tcp", "apache-proxy-fcgi-unix"} {
		t.Run(name, func(t *testing.T) {
			e := deploy(t, findDeployment(t, name), setup{})
			c := newSyncClient(e.http, e.fxa, e.base)
			if r, err := c.token(); err != nil || r.Status != http.StatusOK {
				t.Fatalf("token: %v %v", r, err)
			}
			const requests = 20
			seen := map[string]bool{}
			for i := range requests {
				if r, err := c.do(http.MethodGet, "/info/collections", nil, nil); err != nil || r.Status != http.StatusOK {
					t.Fatalf("GET info/collections: %v %v", r, err)
				}
				open := fcgiConns(t, name, e.values)
				if len(open) == 0 {
					t.Fatalf("after request %d, no connection from the web server is left open: keep-alive is off", i+1)
				}
				for _, inode := range open {
					seen[inode] = true
				}
			}
			if len(seen) > requests/2 {
				t.Errorf("%d requests came on %d connections: connections are not reused", requests, len(seen))
			}
			t.Logf("%d requests on %d connections", requests, len(seen))
		})
	}
}

// fcgiConns returns the inodes of syncserver's open connections on its
// FastCGI address (the accepted side: on TCP, the local port is the
// listening port; on a unix socket, it carries the socket's path).
func fcgiConns(t *testing.T, snippet string, values map[string]string) []string {
	t.Helper()
	if strings.HasSuffix(snippet, "-unix") {
		// Num RefCount Protocol Flags Type St Inode Path; St 03: connected.
		return procNet(t, "/proc/net/unix", func(f []string) (string, bool) {
			if len(f) < 8 || f[5] != "03" || f[7] != values[phSocket] {
				return "", false
			}
			return f[6], true
		})
	}
	var port int
	if _, err := fmt.Sscanf(values[phFCGIAddr], "127.0.0.1:%d", &port); err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	// sl local_address rem_address st ... inode (10th); st 01: established.
	return procNet(t, "/proc/net/tcp", func(f []string) (string, bool) {
		if len(f) < 10 || f[1] != local || f[3] != "01" {
			return "", false
		}
		return f[9], true
	})
}

func procNet(t *testing.T, path string, match func([]string) (string, bool)) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("cannot read %s: %v", path, err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Scan() // header
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 8 {
			continue
		}
		if inode, ok := match(fields); ok {
			out = append(out, inode)
		}
	}
	return out
}
