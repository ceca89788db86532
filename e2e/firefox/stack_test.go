package firefox

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"syncserver/internal/fxatest"
	"syncserver/internal/testdb"
)

// syncserverEnv passes the path of the syncserver binary the outer test
// built to the copy in the namespaces.
const syncserverEnv = "SYNCSERVER_E2E_FIREFOX_BINARY"

// tokenDuration is [tokenserver] token_duration: short, so that Firefox's
// tokens expire several times during the run (it asks for a new one at
// 80 % of it).
const tokenDuration = 10 * time.Second

// prefix is the path of public_url: the shipped nginx snippet's own
// example, so the server is tested under a path as well.
const prefix = "/ff-sync/"

// stack is everything Firefox talks to: the FxA stand-in (in this
// process), syncserver over FastCGI on a unix socket, and nginx in front.
type stack struct {
	dir       string
	logs      string // directory of the servers' and browsers' logs
	fxa       *fxatest.Server
	account   fxatest.Account
	publicURL string // http://127.0.0.1:port/ff-sync/
	dbPath    string
	accessLog string
	server    *proc
	nginx     *proc
	env       []string // base environment of the processes started
}

// tokenURL is what Firefox's identity.sync.tokenserver.uri is set to.
func (s *stack) tokenURL() string { return s.publicURL + "token/1.0/sync/1.5" }

// mkdirs makes directories under s.dir; mode 0711 lets nginx's workers
// (www-data when root) reach the socket and their temporary files.
func mkdirs(t *testing.T, mode os.FileMode, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// startStack starts the stand-in, syncserver and nginx, and waits until a
// request through nginx reaches syncserver.
func startStack(t *testing.T, dir string) *stack {
	t.Helper()
	s := &stack{dir: dir, logs: filepath.Join(dir, "logs")}
	s.env = workDirs(t, dir)

	s.fxa = fxatest.New(t)
	s.account = fxatest.NewAccount("e2e@example.com")
	s.fxa.SetAccount(s.account)

	port := freePort(t)
	s.publicURL = fmt.Sprintf("http://127.0.0.1:%d%s", port, prefix)
	socket := filepath.Join(dir, "run", "fcgi.sock")
	s.dbPath = filepath.Join(dir, "db", "syncserver.db")
	s.accessLog = filepath.Join(s.logs, "nginx-access.log")

	s.server = s.startSyncserver(t, socket)
	s.nginx = s.startNginx(t, port, socket)
	s.waitReady(t)
	return s
}

// workDirs makes the directories of a run under dir (logs, tmp, home,
// db, run, nginx) and returns the base environment of the processes it
// starts, whose home and temporary directories are there.
func workDirs(t *testing.T, dir string) []string {
	t.Helper()
	// t.TempDir makes dir and its parent 0700: let www-data through.
	mkdirs(t, 0o711, filepath.Dir(dir), dir, filepath.Join(dir, "run"), filepath.Join(dir, "nginx"))
	mkdirs(t, 0o700, filepath.Join(dir, "logs"), filepath.Join(dir, "tmp"), filepath.Join(dir, "home"), filepath.Join(dir, "db"))
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(dir, "home"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "home", ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "home", ".config"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "home", ".local", "share"),
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "tmp"),
		"LANG=C.UTF-8",
	}
	if v := os.Getenv("GORACE"); v != "" {
		env = append(env, "GORACE="+v)
	}
	return env
}

// freePort picks a loopback port. Nothing else runs in this network
// namespace, so it stays free until used.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no loopback in the namespace: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *stack) startSyncserver(t *testing.T, socket string) *proc {
	t.Helper()
	binary := os.Getenv(syncserverEnv)
	if binary == "" {
		t.Fatalf("%s is not set", syncserverEnv)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	var ini strings.Builder
	ini.WriteString("# syncserver.ini of the Firefox end-to-end test\n")
	ini.WriteString("[\"server:main\"]\nshutdown_timeout = 5\n")
	if nginxUser() == "www-data" {
		// As the nginx-fastcgi-unix snippet of syncserver.fcgi.conf says:
		// the socket goes to nginx's group.
		ini.WriteString("socket_group = \"www-data\"\n")
	}
	fmt.Fprintf(&ini, "\n[syncserver]\npublic_url = %q\nsecret = %q\nsqluri = %q\nidentity_provider = %q\nallow_new_users = true\n",
		s.publicURL, hex.EncodeToString(secret), "sqlite:///"+s.dbPath, s.fxa.IdentityProvider())
	fmt.Fprintf(&ini, "\n[tokenserver]\ntoken_duration = %d\n", int(tokenDuration/time.Second))
	cfg := filepath.Join(s.dir, "syncserver.ini")
	if err := os.WriteFile(cfg, []byte(ini.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-config", cfg, "-fcgi", "unix:"+socket)
	cmd.Env = s.env
	cmd.Dir = s.dir
	p := startProc(t, "syncserver", filepath.Join(s.logs, "syncserver.log"), cmd)
	// Registered after startProc's cleanup, so it runs first: stop the
	// server and check how it ended.
	t.Cleanup(func() {
		p.stop(10 * time.Second)
		if fileContains(p.log, "WARNING: DATA RACE") {
			t.Errorf("the race detector found a data race in syncserver: see %s", p.log)
		}
		if err := p.exitError(); err != nil && !t.Failed() {
			t.Errorf("syncserver did not stop cleanly on SIGTERM: %v", err)
		}
	})
	return p
}

// nginxUser is the user nginx's workers run as: www-data when the test is
// root, as in production; in a user namespace (not really root) the only
// mapped user, root.
func nginxUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	if inUserNamespace() {
		return "root"
	}
	return "www-data"
}

// nginxSnippet gives the upstream block (if any) and the location block of
// the nginx-fastcgi-unix snippet of the shipped syncserver.fcgi.conf, with
// the socket path changed on its "# CHANGE:" line, exactly as an operator
// would. The upstream block goes in nginx's http block, the location in
// the server block.
func nginxSnippet(t *testing.T, socket string) (upstream, location string) {
	t.Helper()
	path := filepath.Join(testdb.ModuleRoot(t), "syncserver.fcgi.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var snippet []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(line) == "#@ begin nginx-fastcgi-unix":
			in = true
		case in && strings.HasPrefix(line, "#@ end"):
			in = false
		case in:
			snippet = append(snippet, line)
		}
	}
	upstream, _ = snippetBlock(snippet, `^\s*upstream\s`, socket)
	location, ok := snippetBlock(snippet, `^\s*location\s`, socket)
	if !ok {
		t.Fatalf("%s: no location block in snippet nginx-fastcgi-unix", path)
	}
	if first, _, _ := strings.Cut(location, "\n"); !strings.Contains(first, prefix) {
		t.Fatalf("%s: the location of snippet nginx-fastcgi-unix is not %s:\n%s", path, prefix, first)
	}
	if !strings.Contains(upstream+location, socket) {
		t.Fatalf("%s: snippet nginx-fastcgi-unix has no marked line with /run/syncserver/fcgi.sock:\n%s\n%s", path, upstream, location)
	}
	return upstream, location
}

// snippetBlock is the block of snippet that starts at the first line
// matching start and ends where its braces close, with the socket path
// put on every line that follows a "# CHANGE:" comment.
func snippetBlock(snippet []string, start, socket string) (string, bool) {
	re := regexp.MustCompile(start)
	from := slices.IndexFunc(snippet, re.MatchString)
	if from < 0 {
		return "", false
	}
	var out []string
	depth := 0
	changeNext := false
	for _, line := range snippet[from:] {
		if changeNext {
			line = strings.ReplaceAll(line, "/run/syncserver/fcgi.sock", socket)
		}
		changeNext = strings.Contains(line, "# CHANGE:")
		out = append(out, line)
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth == 0 {
			break
		}
	}
	return strings.Join(out, "\n"), true
}

func (s *stack) startNginx(t *testing.T, port int, socket string) *proc {
	t.Helper()
	binary, _ := testdb.LookProgram("nginx")
	ndir := filepath.Join(s.dir, "nginx")
	// The snippet includes fastcgi_params relative to the configuration:
	// use Debian's, as an operator's nginx does.
	params, err := os.ReadFile("/etc/nginx/fastcgi_params")
	if err != nil {
		t.Fatalf("nginx's fastcgi_params: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ndir, "fastcgi_params"), params, 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if u := nginxUser(); u != "" {
		user = "user " + u + ";\n"
	}
	upstream, location := nginxSnippet(t, socket)
	conf := fmt.Sprintf(`# nginx.conf of the Firefox end-to-end test: a foreground nginx with
# everything under its prefix, and the shipped snippet's upstream and location blocks.
daemon off;
master_process on;
worker_processes 2;
%[1]spid %[2]s/nginx.pid;
error_log %[3]s/nginx-error.log notice;
events { worker_connections 256; }
http {
    log_format e2e '$msec $request_method $request_uri $status $request_length $bytes_sent';
    access_log %[3]s/nginx-access.log e2e;
    client_body_temp_path %[2]s/client_body;
    fastcgi_temp_path %[2]s/fastcgi;
    proxy_temp_path %[2]s/proxy;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[6]s
    server {
        listen 127.0.0.1:%[4]d;
        server_name 127.0.0.1;
%[5]s
    }
}
`, user, ndir, s.logs, port, location, upstream)
	confPath := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(s.logs, "nginx-error.log")
	cmd := exec.Command(binary, "-p", ndir+"/", "-c", confPath, "-e", errLog)
	cmd.Env = s.env
	p := startProc(t, "nginx", filepath.Join(s.logs, "nginx.out"), cmd)
	// SIGQUIT is nginx's graceful stop; the cleanup's SIGTERM is its fast one.
	return p
}

// waitReady waits until syncserver answers through nginx.
func (s *stack) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range []*proc{s.server, s.nginx} {
			if p.exited() {
				t.Fatalf("%s exited at start (%v):\n%s", p.name, p.err, tail(p.log, 40))
			}
		}
		resp, err := http.Get(s.publicURL + "__heartbeat__")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("syncserver did not answer through nginx at %s__heartbeat__ (last: %s)\nsyncserver:\n%s\nnginx:\n%s",
		s.publicURL, last, tail(s.server.log, 30), tail(filepath.Join(s.logs, "nginx-error.log"), 30))
}

// lines reads a file's lines.
func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
