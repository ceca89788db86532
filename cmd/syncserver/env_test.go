package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"syncserver/internal/fxatest"
	"syncserver/internal/testdb"
)

// TestNoConfigFileServesFromEnvironment: without -config and
// SYNCSERVER_CONFIG, and with no ./syncserver.ini, the environment alone
// configures the server; a file that was asked for must exist.
func TestNoConfigFileServesFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	data := t.TempDir()
	env := map[string]string{
		"SYNCSERVER_SQLURI":     "sqlite:///" + filepath.Join(data, "sync.db"),
		"SYNCSERVER_PUBLIC_URL": "http://localhost:5000/",
		"SYNCSERVER_LOG_LEVL":   "debug",
	}
	m, logs := newEnvMain(t, env, "-http", "127.0.0.1:0")
	runMain(t, m, logs)
	if status, _, body := get(t, m.Addr().String(), "/__heartbeat__"); status != http.StatusOK {
		t.Fatalf("heartbeat %d %s", status, body)
	}
	if _, err := os.Stat(filepath.Join(data, "sync.db")); err != nil {
		t.Errorf("database not at SYNCSERVER_SQLURI: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "syncserver.db")); err == nil {
		t.Error("a database was made in the working directory")
	}
	if !strings.Contains(logs.String(), "config: no file ./syncserver.ini: configured by the SYNCSERVER_* environment variables") {
		t.Errorf("log does not say no file was read:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "SYNCSERVER_LOG_LEVL is not a variable of ours and is ignored; did you mean SYNCSERVER_LOG_LEVEL?") {
		t.Errorf("log does not point out the misspelt variable:\n%s", logs)
	}

	// Asked for, a missing file is an error.
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{}, []string{"-config", "missing.ini", "-http", "127.0.0.1:0"}},
		{map[string]string{"SYNCSERVER_CONFIG": "missing.ini"}, []string{"-http", "127.0.0.1:0"}},
	} {
		m, _ := newEnvMain(t, tc.env, tc.args...)
		err := m.Run(context.Background())
		m.Close()
		if err == nil || err.Error() != "missing.ini: cannot read: no such file or directory" {
			t.Errorf("%v %v: error %v", tc.env, tc.args, err)
		}
	}
}

// newEnvMain is a Main whose environment is env.
func newEnvMain(t *testing.T, env map[string]string, args ...string) (*Main, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = logs, logs
	m.Getenv = func(k string) string { return env[k] }
	m.Environ = func() []string {
		var list []string
		for k, v := range env {
			list = append(list, k+"="+v)
		}
		return list
	}
	if err := m.ParseFlags(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	return m, logs
}

// TestAcceptedScopes: a token for a scope that [oauth] scope does not list
// gets 401 invalid-credentials; a listed one, such as Thunderbird's, works.
func TestAcceptedScopes(t *testing.T) {
	const thunderbird = "https://identity.thunderbird.net/apps/sync"
	for _, tc := range []struct {
		name, extra string
		want        map[string]int // token scope → status
	}{
		{"default", "", map[string]int{fxatest.OldSyncScope: 200, thunderbird: 401, "profile": 401}},
		{"Thunderbird added", fmt.Sprintf("\n[oauth]\nscope = [%q, %q]\n", fxatest.OldSyncScope, thunderbird),
			map[string]int{fxatest.OldSyncScope: 200, thunderbird: 200, "profile": 401, "https://identity.thunderbird.net/apps/calendar": 401}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startOpsServer(t, tc.extra)
			a := fxatest.NewAccount(fmt.Sprintf("scope%d@example.com", time.Now().UnixNano()))
			s.FxA.SetAccount(a)
			for scope, want := range tc.want {
				status, body := tokenRequest(t, fmt.Sprintf("http://127.0.0.1:%d", s.Port), s.FxA.AccessToken(a.UID, fxatest.TokenOptions{Scope: scope}), a.KeyID())
				if status != want {
					t.Errorf("scope %s: status %d, want %d: %s", scope, status, want, body)
				}
				if want == 401 && !strings.Contains(body, `"status":"invalid-credentials"`) && !strings.Contains(body, `"status": "invalid-credentials"`) {
					t.Errorf("scope %s: body %s, want invalid-credentials", scope, body)
				}
			}
		})
	}
}

// tokenRequest trades an FxA access token for a storage token.
func tokenRequest(t *testing.T, base, accessToken, keyID string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/token/1.0/sync/1.5", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("X-KeyID", keyID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// connectProxy is an HTTPS proxy on loopback: it answers CONNECT for the
// host names it knows by tunnelling to the loopback address they stand
// for, and records every request. Go never proxies a request for
// localhost or a loopback address, so the server under test must ask for
// a name; this proxy is the only place that name resolves.
type connectProxy struct {
	l     net.Listener
	hosts map[string]string // host:port asked for → address dialled

	mu    sync.Mutex
	seen  []string
	conns []net.Conn
}

func startConnectProxy(t *testing.T, hosts map[string]string) *connectProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{l: l, hosts: hosts}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			go p.serve(c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, req.Method+" "+req.Host)
	p.mu.Unlock()
	addr, ok := p.hosts[req.Host]
	if req.Method != http.MethodConnect || !ok {
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", addr)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		io.Copy(up, br) // br holds what the client sent after the request
		up.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(c, up)
}

func (p *connectProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestEnvironmentOnlyThroughProxy runs the real binary in a directory
// without syncserver.ini, configured by environment variables alone (the
// legacy Docker image's PORT among them), on a machine that reaches FxA
// only through the HTTPS proxy HTTPS_PROXY names: Firefox's token is
// verified with keys fetched through a CONNECT tunnel.
func TestEnvironmentOnlyThroughProxy(t *testing.T) {
	testdb.SkipShort(t, "builds the binary")
	bin := buildBinary(t)

	// FxA over TLS as example.com, a name only the proxy knows.
	fx := fxatest.New(t)
	fxURL, _ := url.Parse(fx.URL)
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(fxURL))
	t.Cleanup(front.Close)
	_, frontPort, _ := net.SplitHostPort(front.Listener.Addr().String())
	fxaHost := "example.com:" + frontPort // httptest's certificate names example.com
	proxy := startConnectProxy(t, map[string]string{fxaHost: front.Listener.Addr().String()})
	dir := t.TempDir()
	certFile := filepath.Join(dir, "fxa-ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	if err := os.WriteFile(certFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}

	work, data := t.TempDir(), t.TempDir()
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Dir = work // no syncserver.ini here
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HTTPS_PROXY=http://" + proxy.l.Addr().String(),
		"SSL_CERT_FILE=" + certFile, // trust the stand-in's certificate
		"SYNCSERVER_SQLURI=sqlite:///" + filepath.Join(data, "sync.db"),
		fmt.Sprintf("SYNCSERVER_PUBLIC_URL=http://127.0.0.1:%d/", port),
		"SYNCSERVER_SECRET=" + testSecret,
		"SYNCSERVER_HOST=127.0.0.1",
		fmt.Sprintf("PORT=%d", port),
		"SYNCSERVER_OAUTH_VERIFIER=https://" + fxaHost + "/v1",
		"SYNCSERVER_OAUTH_DEFAULT_ISSUER=example.com",
		"SYNCSERVER_OAUTH_TIMEOUT=5",
	}
	addr, logs := startCmd(t, cmd)
	if want := fmt.Sprintf("127.0.0.1:%d", port); addr != want {
		t.Errorf("serving on %s, want %s (SYNCSERVER_HOST and PORT)", addr, want)
	}

	a := fxatest.NewAccount("proxied@example.com")
	fx.SetAccount(a)
	status, body := tokenRequest(t, "http://"+addr, fx.JWT(a.UID), a.KeyID())
	if status != http.StatusOK {
		t.Fatalf("token request: %d %s\nproxy saw %q\n%s", status, body, proxy.requests(), logs)
	}
	var tok struct {
		APIEndpoint string `json:"api_endpoint"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || !strings.HasPrefix(tok.APIEndpoint, fmt.Sprintf("http://127.0.0.1:%d/storage/1.5/", port)) {
		t.Errorf("token %s (%v)", body, err)
	}
	if got := proxy.requests(); len(got) == 0 || got[0] != "CONNECT "+fxaHost {
		t.Errorf("proxy saw %q, want CONNECT %s", got, fxaHost)
	}
	if fx.Hits(fxatest.PathJWKS) == 0 {
		t.Error("FxA's keys were not fetched")
	}
	if _, err := os.Stat(filepath.Join(data, "sync.db")); err != nil {
		t.Errorf("no database at SYNCSERVER_SQLURI: %v", err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("files left in the working directory: %v", entries)
	}
}

// startCmd starts a server process, waits until its log says it serves,
// and stops it with SIGTERM at the end of the test.
func startCmd(t *testing.T, cmd *exec.Cmd) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if i := strings.Index(line, " addr="); i >= 0 && strings.Contains(line, "msg=serving") {
				a, _, _ := strings.Cut(line[i+len(" addr="):], " ")
				addr <- a
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
	})
	select {
	case a := <-addr:
		return a, logs
	case <-exited:
		t.Fatalf("server exited:\n%s", logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start:\n%s", logs)
	}
	return "", nil
}

// TestSQLURIPasswordFileOnServers: a MySQL or PostgreSQL server is reached
// with the password of sqluri_password_file, and a wrong one there keeps
// the server from its database.
func TestSQLURIPasswordFileOnServers(t *testing.T) {
	for _, backend := range []string{"mysql", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			u, err := url.Parse(testdb.NewURI(t, backend))
			if err != nil {
				t.Fatal(err)
			}
			pw, ok := u.User.Password()
			if !ok {
				t.Fatal("the test server's URI holds no password: this test needs one to move into sqluri_password_file")
			}
			u.User = url.User(u.User.Username())
			write := func(content string) string {
				file := filepath.Join(t.TempDir(), "db-password")
				if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("sqluri_password_file = %q\n", file)
			}
			s := startDBServer(t, u.String(), write(pw+"\n"))
			if status, _, body := get(t, s.Addr, "/__heartbeat__"); status != http.StatusOK {
				t.Errorf("heartbeat %d: %s\n%s", status, body, s.Logs)
			}
			if strings.Contains(s.Logs.String(), pw) {
				t.Error("the password is in the log")
			}
			// The password comes from the file: a wrong one there is refused.
			m, logs := newTestMain(t, "-config", writeConfig(t, fmt.Sprintf("[syncserver]\nsqluri = %q\n%s", u.String(), write(pw+"-wrong\n"))), "-http", "127.0.0.1:0")
			err = m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), "xxxxx") || strings.Contains(err.Error(), pw) {
				t.Errorf("with a wrong password: %v\n%s", err, logs)
			}
		})
	}
}
