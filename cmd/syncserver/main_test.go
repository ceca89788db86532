package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"syncserver/internal/fcgiclient"
	"syncserver/internal/testdb"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = testdb.LogBuffer

// writeConfig writes a syncserver.ini into a temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "syncserver.ini")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTestMain returns a Main that reads cfgPath and an empty environment.
func newTestMain(t *testing.T, args ...string) (*Main, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = logs, logs
	m.Getenv = func(string) string { return "" }
	if err := m.ParseFlags(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	return m, logs
}

// runMain starts m and stops it at the end of the test.
func runMain(t *testing.T, m *Main, logs *syncBuffer) {
	t.Helper()
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

const minimalConfig = `
[syncserver]
public_url = "http://localhost:5000/"
sqluri = "sqlite:///syncserver.db"
`

func TestHTTPHeartbeat(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
	runMain(t, m, logs)

	resp, err := http.Get("http://" + m.Addr().String() + "/__heartbeat__")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var hb map[string]any
	if err := json.Unmarshal(body, &hb); err != nil || hb["status"] != "Ok" {
		t.Errorf("body = %s (%v)", body, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "syncserver.db")); err != nil {
		t.Errorf("database not created beside the config: %v", err)
	}
}

func TestFastCGIHeartbeat(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	m, logs := newTestMain(t, "-config", cfg, "-fcgi", "127.0.0.1:0")
	runMain(t, m, logs)

	status, hdr, body, err := fcgiclient.Do("tcp", m.Addr().String(), map[string]string{
		"REQUEST_METHOD":  "GET",
		"REQUEST_URI":     "/__heartbeat__",
		"SCRIPT_NAME":     "/__heartbeat__",
		"QUERY_STRING":    "",
		"SERVER_PROTOCOL": "HTTP/1.1",
		"HTTP_HOST":       "localhost",
		"REQUEST_SCHEME":  "http",
		"SERVER_PORT":     "5000",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || !strings.Contains(string(body), `"status":"Ok"`) {
		t.Fatalf("got %d %s", status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestFastCGIUnixSocketRemovedOnClose(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	sock := filepath.Join(t.TempDir(), "fcgi.sock")
	m, logs := newTestMain(t, "-config", cfg, "-fcgi", "unix:"+sock)
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v\n%s", err, logs)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want a socket with 0660", fi.Mode())
	}
	status, _, _, err := fcgiclient.Do("unix", sock, map[string]string{
		"REQUEST_METHOD": "GET", "REQUEST_URI": "/__lbheartbeat__", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost:5000",
	}, nil)
	if err != nil || status != 200 {
		t.Fatalf("status %d, err %v", status, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file still there after Close: %v", err)
	}
}

func TestLegacyINIStartsOnServerMainHostPort(t *testing.T) {
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`[server:main]
use = egg:gunicorn
host = 127.0.0.1
port = %d
workers = 1
timeout = 30

[app:main]
use = egg:syncserver

[syncserver]
# This must be edited to point to the public URL of your server,
# i.e. the URL as seen by Firefox.
public_url = http://localhost:%d/
sqluri = sqlite:///legacy.db
secret = db8a203aed5fe3e4594d4b75990acb76242efd35
identity_provider = https://accounts.firefox.com/
force_wsgi_environ = false
allow_new_users = false
`, port, port))
	m, logs := newTestMain(t, "-config", cfg)
	runMain(t, m, logs)
	if got := m.Addr().String(); got != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("listening on %s, want 127.0.0.1:%d", got, port)
	}
	resp, err := http.Get("http://" + m.Addr().String() + "/__heartbeat__")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "[server:main] use is ignored") {
		t.Errorf("no notice about the unused [server:main] use key:\n%s", logs)
	}
}

func TestBrokenConfigIsOneLineWithFileAndLine(t *testing.T) {
	cfg := writeConfig(t, "[syncserver]\npublic_url = \"http://localhost:5000/\"\npublc_url = \"x\"\n")
	m, _ := newTestMain(t, "-config", cfg)
	err := m.Run(context.Background())
	m.Close()
	if err == nil {
		t.Fatal("Run accepted a misspelt key")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, cfg+":3") || !strings.Contains(msg, "publc_url") {
		t.Errorf("error = %q, want one line naming %s:3 and the key", msg, cfg)
	}
}

func TestGeneratedSecretSurvivesRestart(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	secretOf := func() string {
		m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
		if err := m.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v\n%s", err, logs)
		}
		defer m.Close()
		s, err := m.secrets(context.Background())
		if err != nil || len(s) != 1 || len(s[0]) != 64 {
			t.Fatalf("secrets = %q, %v", s, err)
		}
		return s[0]
	}
	first, second := secretOf(), secretOf()
	if first != second {
		t.Errorf("secret changed across restarts: %s then %s", first, second)
	}
}

func TestVersionCommand(t *testing.T) {
	m, out := newTestMain(t, "version")
	if code := m.Main(context.Background()); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The test binary has no VCS stamp: the commit is unknown, but the
	// Go version is always known.
	if got := out.String(); !strings.HasPrefix(got, "syncserver ") || !strings.Contains(got, " commit ") ||
		!strings.Contains(got, " "+runtime.Version()+" ") {
		t.Errorf("output %q, want the version, the commit and %s", got, runtime.Version())
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-http", "127.0.0.1:1", "-fcgi", "127.0.0.1:2"},
		{"frobnicate"},
	} {
		m := NewMain()
		m.Stderr = io.Discard
		m.Getenv = func(string) string { return "" }
		if err := m.ParseFlags(context.Background(), args); err == nil {
			t.Errorf("ParseFlags(%q) accepted", args)
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	m := NewMain()
	m.Getenv = func(k string) string {
		if k == "SYNCSERVER_CONFIG" {
			return "/etc/syncserver/x.ini"
		}
		return ""
	}
	if err := m.ParseFlags(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if m.ConfigPath != "/etc/syncserver/x.ini" {
		t.Errorf("ConfigPath = %q", m.ConfigPath)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// built is the real program, built once for the tests that run it
// (buildBinary) into a directory TestMain removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildBinary returns the real program, building it on the first call of
// the test run; the tests only run it.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "syncserver-test-bin-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "syncserver")
		cmd := exec.Command("go", "build", "-o", built.bin, ".")
		cmd.Stderr = os.Stderr
		built.err = cmd.Run()
	})
	if built.err != nil {
		t.Fatalf("go build: %v", built.err)
	}
	return built.bin
}

// startBinary starts the program and waits until its log says it serves.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	return startBinaryEnv(t, bin, nil, args...)
}

// startBinaryEnv is startBinary with env added to the program's
// environment, which otherwise holds only PATH.
func startBinaryEnv(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if i := strings.Index(line, " addr="); i >= 0 && strings.Contains(line, "msg=serving") {
				a := line[i+len(" addr="):]
				a, _, _ = strings.Cut(a, " ")
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a, logs
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not start:\n%s", logs)
	}
	return nil, "", nil
}

// TestSIGTERMLetsSlowRequestFinish sends SIGTERM while a client is still
// uploading a request body: the request must complete and the process
// exit 0, for both front-ends.
func TestSIGTERMLetsSlowRequestFinish(t *testing.T) {
	testdb.SkipShort(t, "builds the binary")
	bin := buildBinary(t)
	for _, fe := range []string{"http", "fcgi"} {
		t.Run(fe, func(t *testing.T) {
			cfg := writeConfig(t, minimalConfig)
			cmd, addr, logs := startBinary(t, bin, "-config", cfg, "-"+fe, "127.0.0.1:0")
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			body := []byte(`[{"id":"a","payload":"x"}]`)
			var first, rest []byte
			if fe == "http" {
				head := fmt.Sprintf("POST /storage/1.5/1/storage/col HTTP/1.1\r\nHost: localhost:5000\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
				first, rest = append([]byte(head), body[:5]...), body[5:]
			} else {
				// The body goes out in records of 13 bytes: hold back the
				// last record and the end of the stream (8+13+3 and 8 bytes).
				whole := fcgiclient.Encode(map[string]string{
					"REQUEST_METHOD": "POST", "REQUEST_URI": "/storage/1.5/1/storage/col", "SERVER_PROTOCOL": "HTTP/1.1",
					"HTTP_HOST": "localhost:5000", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": strconv.Itoa(len(body)),
				}, body, 13)
				cut := len(whole) - 32
				first, rest = whole[:cut], whole[cut:]
			}
			if _, err := conn.Write(first); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // the request is now in flight
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // the server is draining
			if _, err := conn.Write(rest); err != nil {
				t.Fatalf("server closed the connection during the request: %v\n%s", err, logs)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			reply, _ := io.ReadAll(conn)
			// No credentials were sent, so the complete answer is a 401.
			if fe == "http" && !bytes.HasPrefix(reply, []byte("HTTP/1.1 401")) {
				t.Errorf("reply = %q, want a complete 401\n%s", reply, logs)
			}
			if fe == "fcgi" && !bytes.Contains(reply, []byte("Status: 401")) {
				t.Errorf("reply = %q, want a complete 401\n%s", reply, logs)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("exit: %v\n%s", err, logs)
				}
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("process did not exit after SIGTERM\n%s", logs)
			}
		})
	}
}

// TestLegacyUsersConvertedAtStart: a legacy single-node users table is
// converted when the server starts, not on the first token request, with
// the uids kept and a copy of the file taken first.
func TestLegacyUsersConvertedAtStart(t *testing.T) {
	cfg := writeConfig(t, minimalConfig)
	dir := filepath.Dir(cfg)
	legacy, err := sql.Open("sqlite3", filepath.Join(dir, "syncserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE users (uid INTEGER NOT NULL, service VARCHAR(32) NOT NULL, email VARCHAR(255) NOT NULL,
			generation BIGINT NOT NULL, client_state VARCHAR(32) NOT NULL, created_at BIGINT NOT NULL,
			replaced_at BIGINT, keys_changed_at BIGINT, node VARCHAR(255), PRIMARY KEY (uid))`,
		`CREATE INDEX lookup_idx ON users (email, service, created_at)`,
		`INSERT INTO users VALUES (7, 'sync-1.5', 'abc@api.accounts.firefox.com', 0, 'aaaa', 1500000000000, NULL, NULL, 'https://old.example')`,
	} {
		if _, err := legacy.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	legacy.Close()

	m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:0")
	runMain(t, m, logs)

	u, err := m.Store.Users().GetUser(context.Background(), "sync-1.5", "abc@api.accounts.firefox.com")
	if err != nil || u.UID != 7 {
		t.Fatalf("legacy user after start: %+v, %v\n%s", u, err, logs)
	}
	copies, _ := filepath.Glob(filepath.Join(dir, "syncserver.db.pre-migration-*.bak"))
	if len(copies) != 1 {
		t.Errorf("pre-migration copies: %v, want one", copies)
	}
}
