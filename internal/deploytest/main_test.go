package deploytest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// requireEnv names the environment variable that lists the servers whose
// absence fails the tests instead of skipping them (CI sets it).
const requireEnv = "SYNCSERVER_TEST_REQUIRE"

// workDir holds what every test shares: the syncserver binary. TestMain
// makes it and removes it; it is readable by the web servers' user, since
// Apache mod_fcgid runs the binary from there.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploytest:", err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// required reports whether SYNCSERVER_TEST_REQUIRE lists name.
func required(name string) bool {
	for _, s := range strings.Split(os.Getenv(requireEnv), ",") {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return true
		}
	}
	return false
}

// missing skips the test because something is not installed, or fails it
// when SYNCSERVER_TEST_REQUIRE lists what needs it.
func missing(tb testing.TB, name, msg string) {
	tb.Helper()
	if required(name) {
		tb.Fatalf("%s (%s lists %q, so this is a failure, not a skip)", msg, requireEnv, name)
	}
	tb.Skip(msg)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// syncserverBinary builds cmd/syncserver once per run (with the race
// detector when the tests have it, so races in the real server under load
// are caught too) and returns its path.
func syncserverBinary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			build.err = fmt.Errorf("building cmd/syncserver: %v", err)
			return
		}
		dir := filepath.Join(workDir, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			build.err = err
			return
		}
		out := filepath.Join(dir, "syncserver")
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "syncserver/cmd/syncserver")
		cmd := exec.Command(goTool, args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build cmd/syncserver: %v\n%s", err, b)
			return
		}
		build.path = out
	})
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.path
}

// webUser is the account the web servers run as. As root the tests drop
// them to Debian's www-data, as in production; otherwise they run as the
// current user, who owns everything they need.
type webUser struct {
	cred  *syscall.Credential // nil: run as the current user
	uid   int
	gid   int
	group string // group name, for socket_group
}

func currentWebUser(tb testing.TB) webUser {
	tb.Helper()
	if os.Geteuid() != 0 {
		g, err := user.LookupGroupId(strconv.Itoa(os.Getegid()))
		if err != nil {
			tb.Fatal(err)
		}
		return webUser{uid: os.Geteuid(), gid: os.Getegid(), group: g.Name}
	}
	u, err := user.Lookup("www-data")
	if err != nil {
		tb.Fatalf("running as root, the web servers run as www-data, which does not exist: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return webUser{
		cred:  &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
		uid:   uid,
		gid:   gid,
		group: "www-data",
	}
}

// giveTo makes dir and everything in it belong to the web user, and the
// directories above it passable, so that a server dropped to www-data can
// write its logs, pid file and temporary files there.
func (u webUser) giveTo(tb testing.TB, dir string) {
	tb.Helper()
	if u.cred == nil {
		return
	}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	})
	if err != nil {
		tb.Fatal(err)
	}
	passable(tb, dir)
}

// passable lets other users through the directories above dir (t.TempDir
// makes them 0700).
func passable(tb testing.TB, dir string) {
	tb.Helper()
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			tb.Fatal(err)
		}
		if fi.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
