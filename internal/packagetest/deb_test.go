package packagetest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"syncserver/internal/testdb"
	"syncserver/token"
)

// What the package installs or creates.
const (
	debPackage  = "syncserver"
	debUser     = "syncserver"
	debBinary   = "/usr/bin/syncserver"
	debConfDir  = "/etc/syncserver"
	debConfig   = "/etc/syncserver/syncserver.ini"
	debState    = "/var/lib/syncserver"
	debDatabase = "/var/lib/syncserver/syncserver.db"
	debUnitDir  = "/lib/systemd/system"
	debDocDir   = "/usr/share/doc/syncserver"
)

var debUnits = []string{"syncserver.service", "syncserver.socket", "syncserver-fcgi.service", "syncserver-fcgi.socket"}

// debUID is the Sync user whose record the test writes and reads back
// across removal and reinstallation.
const debUID = 4242

// TestDeb installs dist/syncserver_<version>_<arch>.deb with dpkg on this
// machine, as an operator does, and checks what the package promises:
// the files, their owners and modes; the system user; units that
// systemd-analyze verify accepts; `syncserver check` and the server
// running as user syncserver (heartbeat, one Hawk-signed write and its
// read). Then `dpkg -r` must keep the configuration and the data, a
// reinstallation must serve the same record, an upgrade must keep the
// operator's edited configuration, `dpkg -P` must delete the
// configuration and the user but keep /var/lib/syncserver, and installing
// once more must give the kept data back to the new user. Whatever
// happens, the test purges the package and deletes what it created, so
// the machine is left as it was found; it refuses to run on a machine
// that already has any of it.
func TestDeb(t *testing.T) {
	if os.Geteuid() != 0 {
		missing(t, "root", "TestDeb installs the Debian package: run it as root (make test-packaging)")
	}
	for _, p := range []string{"dpkg", "dpkg-query", "runuser", "userdel", "groupdel"} {
		if _, ok := testdb.LookProgram(p); !ok {
			missing(t, "dpkg", p+" not found: TestDeb needs a Debian system (packages dpkg, util-linux, passwd)")
		}
	}
	analyze, ok := testdb.LookProgram("systemd-analyze")
	if !ok {
		missing(t, "systemd", "systemd-analyze not installed: apt-get install systemd")
	}
	deb := debFile(t)
	refuseInstalled(t)
	t.Cleanup(func() { undoInstall(t) })

	dpkg(t, "-i", deb)
	installed := checkInstalled(t)
	checkUnits(t, analyze)
	checkCommand(t)

	srv := startDebServer(t)
	secret := storedSecret(t)
	const payload = "written before dpkg -r"
	if code, body := srv.do(t, secret, "PUT", "/storage/tabs/deb", []byte(`{"payload":"`+payload+`"}`)); code != http.StatusOK {
		t.Fatalf("PUT a record: %d %s", code, body)
	}
	checkRecord(t, srv, secret, payload)
	srv.stop(t)
	checkOwner(t, debDatabase, debUser, debUser)

	t.Log("dpkg -r: the configuration, the user and the data stay")
	dpkg(t, "-r", debPackage)
	if st := status(t); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r, the package's status is %q, want %q", st, "deinstall ok config-files")
	}
	for _, p := range append([]string{debBinary}, unitPaths()...) {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after dpkg -r, %s is still there (%v)", p, err)
		}
	}
	checkMode(t, debConfig, 0o640, "root", debUser)
	if b, err := os.ReadFile(debConfig); err != nil || !bytes.Equal(b, installed) {
		t.Errorf("after dpkg -r, %s changed or went (%v)", debConfig, err)
	}
	checkOwner(t, debDatabase, debUser, debUser)
	checkMode(t, debState, os.ModeDir|0o750, debUser, debUser)

	t.Log("dpkg -i again: the same record")
	dpkg(t, "-i", deb)
	srv = startDebServer(t)
	if s := storedSecret(t); s != secret {
		t.Errorf("the reinstalled server signs with another secret")
	}
	checkRecord(t, srv, secret, payload)
	srv.stop(t)

	t.Log("upgrade to a newer version: the operator's configuration stays")
	edited := bytes.Replace(installed, []byte("\nallow_new_users = true\n"), []byte("\nallow_new_users = false\n"), 1)
	if bytes.Equal(edited, installed) {
		t.Fatalf("%s has no line allow_new_users = true to edit", debConfig)
	}
	if err := os.WriteFile(debConfig, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	newer := newerDeb(t, deb)
	dpkg(t, "-i", newer)
	if st := status(t); st != "install ok installed" {
		t.Errorf("after the upgrade, the package's status is %q", st)
	}
	if b, err := os.ReadFile(debConfig); err != nil || !bytes.Equal(b, edited) {
		t.Errorf("the upgrade did not keep the edited %s (%v)", debConfig, err)
	}
	checkMode(t, debConfig, 0o640, "root", debUser)
	srv = startDebServer(t)
	checkRecord(t, srv, secret, payload)
	srv.stop(t)

	t.Log("dpkg -P: the configuration and the user go, the data stays")
	uid, gid := ownerIDs(t, debState)
	dpkg(t, "-P", debPackage)
	if st := status(t); st != "" && st != "unknown ok not-installed" {
		t.Errorf("after dpkg -P, the package's status is %q", st)
	}
	if _, err := os.Lstat(debConfDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after dpkg -P, %s is still there (%v)", debConfDir, err)
	}
	if u, err := user.Lookup(debUser); err == nil {
		t.Errorf("after dpkg -P, the user %s (uid %s) is still there", debUser, u.Uid)
	}
	if g, err := user.LookupGroup(debUser); err == nil {
		t.Errorf("after dpkg -P, the group %s (gid %s) is still there", debUser, g.Gid)
	}
	if fi, err := os.Stat(debDatabase); err != nil || fi.Size() == 0 {
		t.Fatalf("after dpkg -P, the database %s is gone or empty: %v", debDatabase, err)
	}

	t.Log("dpkg -i after the purge: the new user owns the kept data")
	dpkg(t, "-i", deb)
	if u, err := user.Lookup(debUser); err != nil || u.Uid != uid || u.Gid != gid {
		t.Errorf("the user made again is %+v (%v), want uid %s gid %s, which own %s", u, err, uid, gid, debState)
	}
	srv = startDebServer(t)
	checkRecord(t, srv, secret, payload)
	srv.stop(t)
}

// newerDeb repacks deb as the next version, "<version>+upgrade" (same
// files and scripts, uncompressed for speed), for an upgrade.
func newerDeb(t *testing.T, deb string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("dpkg-deb", "-R", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -R: %v\n%s", err, out)
	}
	control := filepath.Join(dir, "DEBIAN", "control")
	b, err := os.ReadFile(control)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Version: ") {
			lines[i] = l + "+upgrade"
		}
	}
	if err := os.WriteFile(control, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(filepath.Dir(dir), "newer.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Znone", "-b", dir, newer).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v\n%s", err, out)
	}
	return newer
}

// debFile is the package to install: $SYNCSERVER_TEST_DEB, or the one
// `make deb` wrote for this checkout and this machine's architecture.
func debFile(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SYNCSERVER_TEST_DEB"); p != "" {
		return p
	}
	root := testdb.ModuleRoot(t)
	p := filepath.Join(distDir(t), fmt.Sprintf("syncserver_%s_%s.deb", debVersion(t, root), runtime.GOARCH))
	if _, err := os.Stat(p); err != nil {
		missing(t, "dpkg", fmt.Sprintf("%s not found: run make deb first (make test-packaging builds it, then runs this test)", p))
	}
	return p
}

// refuseInstalled stops the test on a machine that has syncserver or its
// user already: the test purges and deletes what it finds at the end.
func refuseInstalled(t *testing.T) {
	t.Helper()
	var found []string
	if st := status(t); st != "" && st != "unknown ok not-installed" {
		found = append(found, "the package ("+st+")")
	}
	if _, err := user.Lookup(debUser); err == nil {
		found = append(found, "the user "+debUser)
	}
	if _, err := user.LookupGroup(debUser); err == nil {
		found = append(found, "the group "+debUser)
	}
	for _, p := range append([]string{debBinary, debConfDir, debState}, unitPaths()...) {
		if _, err := os.Lstat(p); err == nil {
			found = append(found, p)
		}
	}
	if len(found) > 0 {
		missing(t, "dpkg", "this machine already has syncserver installed ("+strings.Join(found, ", ")+
			"): TestDeb would purge it; run it on a machine without")
	}
}

// undoInstall leaves the machine as the test found it, whatever step
// failed: no package, no user, no configuration, no data.
func undoInstall(t *testing.T) {
	for _, s := range running {
		s.kill()
	}
	running = nil
	if st := status(t); st != "" && st != "unknown ok not-installed" {
		if out, err := exec.Command("dpkg", "-P", debPackage).CombinedOutput(); err != nil {
			t.Errorf("cleaning up: dpkg -P %s: %v\n%s", debPackage, err, out)
		}
	}
	if _, err := user.Lookup(debUser); err == nil {
		if out, err := exec.Command("userdel", debUser).CombinedOutput(); err != nil {
			t.Errorf("cleaning up: userdel %s: %v\n%s", debUser, err, out)
		}
	}
	if _, err := user.LookupGroup(debUser); err == nil {
		if out, err := exec.Command("groupdel", debUser).CombinedOutput(); err != nil {
			t.Errorf("cleaning up: groupdel %s: %v\n%s", debUser, err, out)
		}
	}
	for _, p := range []string{debConfDir, debState} {
		if err := os.RemoveAll(p); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	}
}

func unitPaths() []string {
	var ps []string
	for _, u := range debUnits {
		ps = append(ps, filepath.Join(debUnitDir, u))
	}
	return ps
}

// dpkg runs dpkg with args and fails the test if it fails.
func dpkg(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("dpkg", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// status is dpkg's status of the package ("install ok installed"), or ""
// when dpkg has never heard of it.
func status(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", debPackage).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// checkInstalled checks the installed files, their owners and modes, and
// the system user, and returns the installed configuration.
func checkInstalled(t *testing.T) []byte {
	t.Helper()
	if st := status(t); st != "install ok installed" {
		t.Fatalf("after dpkg -i, the package's status is %q", st)
	}
	u, err := user.Lookup(debUser)
	if err != nil {
		t.Fatalf("no user %s after dpkg -i: %v", debUser, err)
	}
	g, err := user.LookupGroup(debUser)
	if err != nil {
		t.Fatalf("no group %s after dpkg -i: %v", debUser, err)
	}
	if uid, _ := strconv.Atoi(u.Uid); uid == 0 || uid >= 1000 {
		t.Errorf("user %s has uid %s, want a system user's (1-999)", debUser, u.Uid)
	}
	if u.Gid != g.Gid || u.HomeDir != debState {
		t.Errorf("user %s: gid %s home %s, want gid %s (group %s) home %s", debUser, u.Gid, u.HomeDir, g.Gid, debUser, debState)
	}
	if out, err := exec.Command("getent", "passwd", debUser).Output(); err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), ":/usr/sbin/nologin") {
		t.Errorf("user %s: %q (%v), want the shell /usr/sbin/nologin", debUser, out, err)
	}

	checkMode(t, debBinary, 0o755, "root", "root")
	checkMode(t, debConfDir, os.ModeDir|0o755, "root", "root")
	checkMode(t, debConfig, 0o640, "root", debUser)
	checkMode(t, debState, os.ModeDir|0o750, debUser, debUser)
	for _, p := range unitPaths() {
		checkMode(t, p, 0o644, "root", "root")
	}
	for _, f := range []string{"README.md", "copyright"} {
		checkMode(t, filepath.Join(debDocDir, f), 0o644, "root", "root")
	}
	readme, err := os.ReadFile(filepath.Join(testdb.ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(debDocDir, "README.md")); !bytes.Equal(b, readme) {
		t.Errorf("%s/README.md is not the repository's README.md", debDocDir)
	}

	out, err := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", debPackage).Output()
	if err != nil || !strings.Contains(string(out), " "+debConfig+" ") {
		t.Errorf("%s is not a conffile of the package: %q (%v)", debConfig, out, err)
	}
	config, err := os.ReadFile(debConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`sqluri = "sqlite:///` + debDatabase + `"`, `public_url = "`} {
		if !bytes.Contains(config, []byte("\n"+line)) {
			t.Errorf("%s has no line %s", debConfig, line)
		}
	}
	return config
}

// checkMode checks the type, permissions and owners of path.
func checkMode(t *testing.T, path string, mode os.FileMode, owner, group string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if fi.Mode() != mode {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode(), mode)
	}
	checkOwner(t, path, owner, group)
}

// checkOwner checks the owner and group of path by name.
func checkOwner(t *testing.T, path string, owner, group string) {
	t.Helper()
	uid, gid := ownerIDs(t, path)
	if uid == "" {
		return
	}
	gotUser, gotGroup := uid, gid
	if u, err := user.LookupId(uid); err == nil {
		gotUser = u.Username
	}
	if g, err := user.LookupGroupId(gid); err == nil {
		gotGroup = g.Name
	}
	if gotUser != owner || gotGroup != group {
		t.Errorf("%s is owned by %s:%s, want %s:%s", path, gotUser, gotGroup, owner, group)
	}
}

// ownerIDs returns the numeric owner and group of path.
func ownerIDs(t *testing.T, path string) (uid, gid string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("%v", err)
		return "", ""
	}
	st := fi.Sys().(*syscall.Stat_t)
	return strconv.FormatUint(uint64(st.Uid), 10), strconv.FormatUint(uint64(st.Gid), 10)
}

// checkUnits runs systemd-analyze verify on the installed units: it fails
// on a unit it cannot load or an ExecStart that is not executable, and
// warns (a line naming the unit) on an unknown setting.
func checkUnits(t *testing.T, analyze string) {
	t.Helper()
	for _, p := range unitPaths() {
		if !strings.HasSuffix(p, ".service") {
			continue // a socket unit starts no program
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := "\nExecStart=" + debBinary + " -config " + debConfig; !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s has no line %s", p, strings.TrimSpace(want))
		}
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, unitPaths()...)...).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "syncserver") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

// asService runs the installed syncserver as the package's user, as
// the units do, with args, from /.
func asService(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("runuser", append([]string{"-u", debUser, "--", debBinary}, args...)...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, env...)
	return cmd
}

// checkCommand runs `syncserver check` on the installed configuration as
// the service's user: before the first start, everything must be ready.
func checkCommand(t *testing.T) {
	t.Helper()
	out, err := asService(nil, "check", "-json", "-config", debConfig).Output()
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct{ Name, Status, Message string }
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil || err != nil || !rep.OK {
		t.Errorf("syncserver check as %s: %v, %v\n%s", debUser, err, jerr, out)
	}
	for _, c := range rep.Checks {
		if c.Status != "ok" {
			t.Logf("syncserver check: %s %s: %s", c.Status, c.Name, c.Message)
		}
	}
}

// server is the installed syncserver running as its user under runuser
// (the machine may have no systemd running), standalone HTTP on loopback.
type debServer struct {
	cmd  *exec.Cmd
	port int
	base string // its public_url without the trailing slash
	log  string
	done chan error
}

// running are the servers to stop when the test ends early.
var running []*debServer

func startDebServer(t *testing.T) *debServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &debServer{port: port, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		log: filepath.Join(t.TempDir(), "syncserver.log"), done: make(chan error, 1)}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	// The packaged configuration as it is, but for public_url (through the
	// environment) and the port (-http): the test's own loopback address.
	s.cmd = asService([]string{"SYNCSERVER_PUBLIC_URL=" + s.base + "/"},
		"-config", debConfig, "-http", fmt.Sprintf("127.0.0.1:%d", port))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s as %s: %v", debBinary, debUser, err)
	}
	running = append(running, s)
	go func() { s.done <- s.cmd.Wait() }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/__heartbeat__")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /__heartbeat__: %d %s\n%s", resp.StatusCode, body, s.logText())
			}
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("syncserver exited before answering: %v\n%s", err, s.logText())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("syncserver did not answer /__heartbeat__ within 20 s: %v\n%s", err, s.logText())
		}
	}
}

func (s *debServer) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// serverPID is the PID of syncserver itself, runuser's child.
func (s *debServer) serverPID() int {
	pid := s.cmd.Process.Pid
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if f := strings.Fields(string(b)); len(f) == 1 {
		child, _ := strconv.Atoi(f[0])
		return child
	}
	return 0
}

// stop sends SIGTERM to syncserver by its PID, as systemctl stop does: it
// must exit 0 (a clean shutdown) within its shutdown_timeout, and runuser
// with it. (A SIGTERM to runuser would be passed on, but runuser then
// reports the signal, not how syncserver ended.)
func (s *debServer) stop(t *testing.T) {
	t.Helper()
	pid := s.serverPID()
	if pid == 0 {
		t.Errorf("runuser (PID %d) has no syncserver child", s.cmd.Process.Pid)
		s.kill()
	} else {
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("syncserver after SIGTERM: %v\n%s", err, s.logText())
			}
		case <-time.After(40 * time.Second):
			s.kill()
			t.Errorf("syncserver did not exit within 40 s of SIGTERM\n%s", s.logText())
		}
	}
	for i, r := range running {
		if r == s {
			running = append(running[:i], running[i+1:]...)
			break
		}
	}
}

// kill ends the server and its runuser at once, for the cleanup.
func (s *debServer) kill() {
	if pid := s.serverPID(); pid != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	s.cmd.Process.Kill()
	<-s.done
}

// do sends a Hawk-signed storage request for debUID, with a token minted
// with secret as the tokenserver would, and returns the status and body.
func (s *debServer) do(t *testing.T, secret, method, path string, body []byte) (int, []byte) {
	t.Helper()
	secrets, err := token.NewSecrets([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	id, key, err := secrets.Mint(token.Payload{UID: debUID, Node: s.base, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return hawkDo(t, id, key, method, s.base+"/storage/1.5/"+strconv.Itoa(debUID)+path, body)
}

// checkRecord reads the test's record back.
func checkRecord(t *testing.T, s *debServer, secret, payload string) {
	t.Helper()
	code, body := s.do(t, secret, "GET", "/storage/tabs/deb", nil)
	var bso struct {
		ID      string `json:"id"`
		Payload string `json:"payload"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &bso) != nil || bso.ID != "deb" || bso.Payload != payload {
		t.Fatalf("GET the record: %d %s, want 200 with payload %q\n%s", code, body, payload, s.logText())
	}
}

// storedSecret reads the token secret the server generated at its first
// start and keeps in its database (the packaged configuration sets none),
// from a copy: the server holds the file open.
func storedSecret(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(debDatabase + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatalf("the server has no database: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "copy.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var secret string
	if err := db.QueryRow("SELECT value FROM settings WHERE name = 'secret'").Scan(&secret); err != nil || secret == "" {
		t.Fatalf("the generated secret in %s: %q, %v", debDatabase, secret, err)
	}
	return secret
}
