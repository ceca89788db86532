package packagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/testdb"
	"syncserver/token"
)

// Environment variables.
const (
	// distEnv is the directory make dist wrote (make test-packaging sets it).
	distEnv = "SYNCSERVER_TEST_DIST"
)

// arches are the architectures make dist builds.
var arches = []string{"amd64", "arm64"}

// missing skips the test because something is not installed, or fails it
// when SYNCSERVER_TEST_REQUIRE lists name.
func missing(tb testing.TB, name, msg string) {
	tb.Helper()
	if testdb.Required(name) {
		tb.Fatalf("%s (%s lists %q, so this is a failure, not a skip)", msg, testdb.RequireEnv, name)
	}
	tb.Skip(msg)
}

// tool is the path of an installed program; without it the test skips
// (or fails, see missing), naming the Debian package that installs it.
func tool(tb testing.TB, requireName, program, debPackage string) string {
	tb.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		missing(tb, requireName, fmt.Sprintf("%s is not installed (Debian package %s)", program, debPackage))
	}
	return p
}

// distDir is the directory make dist wrote. Without SYNCSERVER_TEST_DIST
// the test skips: these tests run from make test-packaging, after make dist.
func distDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(distEnv)
	if dir == "" {
		tb.Skipf("%s is not set: these tests check what make dist built; run make test-packaging", distEnv)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}

// archiveRE matches a release archive's name: version and architecture.
var archiveRE = regexp.MustCompile(`^syncserver-(.+)-linux-([a-z0-9]+)\.tar\.gz$`)

// sums reads dir/SHA256SUMS: archive name → hex digest.
func sums(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		tb.Fatalf("make dist wrote no SHA256SUMS: %v", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			tb.Fatalf("SHA256SUMS: malformed line %q", line)
		}
		out[name] = sum
	}
	return out
}

// archive is the path of the release archive of arch in dir (as listed in
// its SHA256SUMS) and the version in its name.
func archive(tb testing.TB, dir, arch string) (path, version string) {
	tb.Helper()
	for name := range sums(tb, dir) {
		if m := archiveRE.FindStringSubmatch(name); m != nil && m[2] == arch {
			return filepath.Join(dir, name), m[1]
		}
	}
	tb.Fatalf("SHA256SUMS in %s lists no archive for linux-%s", dir, arch)
	return "", ""
}

// unpack extracts a .tar.gz into a new temp dir, as tar -xzf does, and
// returns that dir. Only directories and regular files are expected.
func unpack(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	dir := tb.TempDir()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			tb.Fatalf("%s: entry %q leaves the directory", path, h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			err = writeFrom(target, tr, os.FileMode(h.Mode).Perm())
		default:
			tb.Fatalf("%s: entry %q of type %c: only directories and files belong in a release", path, h.Name, h.Typeflag)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func writeFrom(path string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// releaseBinary unpacks the archive of arch from make dist's directory and
// returns the syncserver binary in it.
func releaseBinary(tb testing.TB, arch string) string {
	tb.Helper()
	path, version := archive(tb, distDir(tb), arch)
	bin := filepath.Join(unpack(tb, path), "syncserver-"+version+"-linux-"+arch, "syncserver")
	if _, err := os.Stat(bin); err != nil {
		tb.Fatalf("%s holds no syncserver binary: %v", filepath.Base(path), err)
	}
	return bin
}

// command runs a binary of arch: natively on that architecture (or when
// arch is "native"), an arm64 one elsewhere under qemu-aarch64-static,
// called explicitly (no binfmt registration needed).
func command(tb testing.TB, arch, bin string, args ...string) *exec.Cmd {
	tb.Helper()
	if arch == runtime.GOARCH || arch == "native" {
		return exec.Command(bin, args...)
	}
	if arch != "arm64" {
		tb.Skipf("cannot run a linux-%s binary on %s", arch, runtime.GOARCH)
	}
	qemu := tool(tb, "qemu", "qemu-aarch64-static", "qemu-user-static")
	return exec.Command(qemu, append([]string{bin}, args...)...)
}

// logBuffer collects a process's output; safe for concurrent use.
type logBuffer = testdb.LogBuffer

// testSecret signs the tokens of the test servers: a fixed one, so that
// the test can mint tokens as the tokenserver would.
const testSecret = "packagetest-secret-not-for-production"

// server is a syncserver process a test started on loopback.
type server struct {
	base    string // public_url without the trailing slash
	port    int
	out     *logBuffer
	cmd     *exec.Cmd
	done    chan struct{}
	secrets *token.Secrets
}

// freePort is a loopback port free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeConfig writes dir/syncserver.ini for a server on loopback port
// with its sqlite database at dbPath and testSecret.
func writeConfig(tb testing.TB, dir string, port int, dbPath string) string {
	tb.Helper()
	cfg := fmt.Sprintf(`["server:main"]
host = "127.0.0.1"
port = %d

[syncserver]
public_url = "http://127.0.0.1:%d/"
secret = %q
sqluri = %q
`, port, port, testSecret, "sqlite:///"+dbPath)
	path := filepath.Join(dir, "syncserver.ini")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// startServer runs syncserver (bin, of arch) with a config in dir serving
// the sqlite database dbPath, and waits until it serves. It is stopped
// with SIGTERM at the end of the test.
func startServer(tb testing.TB, arch, bin, dir, dbPath string) *server {
	tb.Helper()
	port := freePort(tb)
	cfg := writeConfig(tb, dir, port, dbPath)
	secrets, err := token.NewSecrets([]string{testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	s := &server{base: "http://127.0.0.1:" + strconv.Itoa(port), port: port, out: &logBuffer{},
		done: make(chan struct{}), secrets: secrets}
	s.cmd = command(tb, arch, bin, "-config", cfg)
	// Nothing SYNCSERVER_* from the test's environment.
	s.cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// If the test binary dies, take the server down with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		s.stop(tb)
		if tb.Failed() {
			tb.Logf("--- syncserver output:\n%s", s.out)
		}
	})
	// Under qemu the start takes seconds, not milliseconds.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(s.out.String(), "msg=serving") {
		select {
		case <-s.done:
			tb.Fatalf("syncserver exited before serving:\n%s", s.out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("syncserver did not serve within 90 s:\n%s", s.out)
		}
	}
	return s
}

// stop sends SIGTERM and waits for the server to exit; a server that
// does not is killed and fails the test.
func (s *server) stop(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		tb.Errorf("syncserver did not exit within 60 s of SIGTERM")
	}
}

// response is a reply read whole.
type response struct {
	status int
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

var httpClient = &http.Client{Timeout: 60 * time.Second}

// get sends an unauthenticated GET.
func (s *server) get(tb testing.TB, path string) *response {
	tb.Helper()
	return s.send(tb, "GET", path, nil, nil)
}

// signed sends a request for uid signed with Hawk, with a token minted
// from testSecret, as a client holding the tokenserver's token does.
func (s *server) signed(tb testing.TB, uid int64, method, path string, body []byte) *response {
	tb.Helper()
	id, key, err := s.secrets.Mint(token.Payload{UID: uid, Node: s.base + "/", Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		tb.Fatal(err)
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	a := hawk.Auth{ID: id, TS: time.Now().Unix(), Nonce: base64.StdEncoding.EncodeToString(nonce)}
	a.MAC = hawk.Sign([]byte(key), a, hawk.Request{Method: method, Host: "127.0.0.1", Port: s.port, Resource: path})
	return s.send(tb, method, path, body, map[string]string{"Authorization": a.Header()})
}

func (s *server) send(tb testing.TB, method, path string, body []byte, hdr map[string]string) *response {
	tb.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return &response{status: resp.StatusCode, body: b}
}

// heartbeat checks /__heartbeat__: 200 with status and database Ok.
func (s *server) heartbeat(tb testing.TB) {
	tb.Helper()
	r := s.get(tb, "/__heartbeat__")
	var hb struct{ Status, Database string }
	if r.status != 200 || json.Unmarshal(r.body, &hb) != nil || hb.Status != "Ok" || hb.Database != "Ok" {
		tb.Fatalf("GET /__heartbeat__ = %s, want 200 with status and database Ok", r)
	}
}

// bsoPath is the storage path of a record of uid.
func bsoPath(uid int64, coll, id string) string {
	return fmt.Sprintf("/storage/1.5/%d/storage/%s/%s", uid, coll, id)
}

// putBSO writes one record with a signed PUT.
func (s *server) putBSO(tb testing.TB, uid int64, coll, id, payload string) {
	tb.Helper()
	body, _ := json.Marshal(map[string]any{"payload": payload, "sortindex": 7})
	if r := s.signed(tb, uid, "PUT", bsoPath(uid, coll, id), body); r.status != 200 {
		tb.Fatalf("PUT %s = %s, want 200", bsoPath(uid, coll, id), r)
	}
}

// getBSO reads one record back with a signed GET and checks its payload.
func (s *server) getBSO(tb testing.TB, uid int64, coll, id, payload string) {
	tb.Helper()
	r := s.signed(tb, uid, "GET", bsoPath(uid, coll, id), nil)
	var got struct {
		ID      string `json:"id"`
		Payload string `json:"payload"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &got) != nil || got.ID != id || got.Payload != payload {
		tb.Fatalf("GET %s = %s, want 200 with id %q and payload %q", bsoPath(uid, coll, id), r, id, payload)
	}
}
