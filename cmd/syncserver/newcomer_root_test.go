package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"syncserver/db/sqlite"
	"syncserver/internal/testdb"
)

// The traps of permissions, tested as an operator meets them: commands
// run as root, and the server and check run as the service's user
// (www-data, as under Apache mod_fcgid), against the real binary.

// serviceUser is the unprivileged user the server runs as in these tests.
type serviceUser struct {
	name     string
	uid, gid int
}

// needServiceUser skips the test unless it runs as root (it changes users and
// owners), or fails it when SYNCSERVER_TEST_REQUIRE lists "root". It
// returns the service's user: www-data, or nobody where there is none.
func needServiceUser(t *testing.T) serviceUser {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "not root: the tests of file owners run commands as root and the server as www-data"
		if testdb.Required("root") {
			t.Fatalf("%s, and %s lists \"root\", so this is a failure, not a skip", msg, testdb.RequireEnv)
		}
		t.Skip(msg)
	}
	for _, name := range []string{"www-data", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return serviceUser{name: name, uid: uid, gid: gid}
	}
	t.Fatal("neither www-data nor nobody exists")
	return serviceUser{}
}

// openDir makes a directory every user may enter, removed at the end
// (t.TempDir's are private to root).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "syncserver-owners-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// ownedDir makes dir/name owned by u (or root, for a zero user).
func ownedDir(t *testing.T, parent, name string, u serviceUser) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// binaryIn builds the program into dir, where every user may run it.
func binaryIn(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "syncserver")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// ownerConfig writes a readable configuration whose database is db.
func ownerConfig(t *testing.T, dir, db string) string {
	t.Helper()
	path := filepath.Join(dir, "syncserver.ini")
	body := fmt.Sprintf("[syncserver]\npublic_url = \"http://localhost:5000/\"\nsqluri = \"sqlite:///%s\"\n", db)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs the binary, as user when it is not "", and returns its exit
// status and output.
func run(t *testing.T, as, bin string, args ...string) (int, string) {
	t.Helper()
	if as != "" {
		args = append([]string{"-u", as, "--", bin}, args...)
		bin = "runuser"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return 0, string(out)
}

// serveAs starts the binary as u (setpriv replaces itself with it, so
// the process is the server's) and checks that it answers.
func serveAs(t *testing.T, u serviceUser, bin, cfg string) {
	t.Helper()
	cmd, addr, logs := startBinary(t, "setpriv", "--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid),
		"--clear-groups", "--", bin, "-config", cfg, "-http", "127.0.0.1:0")
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	resp, err := http.Get("http://" + addr + "/__heartbeat__")
	if err != nil {
		t.Fatalf("heartbeat: %v\n%s", err, logs)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the server running as %s answers %d to the heartbeat\n%s", u.name, resp.StatusCode, logs)
	}
}

// ownerOf is the uid owning path; -1 when it does not exist.
func ownerOf(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// legacySQLite writes a legacy server's database: a single-node users
// table and a storage table, in rollback-journal mode.
func legacySQLite(t *testing.T, path string) {
	t.Helper()
	legacy, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	for _, stmt := range []string{
		`CREATE TABLE users (uid INTEGER NOT NULL, service VARCHAR(32) NOT NULL, email VARCHAR(255) NOT NULL,
			generation BIGINT NOT NULL, client_state VARCHAR(32) NOT NULL, created_at BIGINT NOT NULL,
			replaced_at BIGINT, keys_changed_at BIGINT, node VARCHAR(255), PRIMARY KEY (uid))`,
		`CREATE INDEX lookup_idx ON users (email, service, created_at)`,
		`CREATE TABLE collections (collectionid INTEGER PRIMARY KEY, name VARCHAR(32) NOT NULL)`,
		`INSERT INTO users VALUES (7, 'sync-1.5', 'abc@api.accounts.firefox.com', 0, 'aaaa', 1500000000000, NULL, NULL, 'https://old.example')`,
	} {
		if _, err := legacy.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRootCommandsLeaveFilesTheServiceCanOpen: an administrator runs
// commands as root before and after the first start; every file they
// create (the database, its -wal and -shm, the copy of a legacy database)
// belongs to the service's user, and the server running as that user
// serves.
func TestRootCommandsLeaveFilesTheServiceCanOpen(t *testing.T) {
	svc := needServiceUser(t)
	top := openDir(t)
	bin := binaryIn(t, top)

	t.Run("new database", func(t *testing.T) {
		dir := ownedDir(t, top, "new", svc)
		db := filepath.Join(dir, "syncserver.db")
		cfg := ownerConfig(t, dir, db)
		if code, out := run(t, "", bin, "users", "list", "-config", cfg); code != 0 {
			t.Fatalf("users list as root: exit %d\n%s", code, out)
		}
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			if uid := ownerOf(t, f); uid != -1 && uid != svc.uid {
				t.Errorf("%s belongs to uid %d after a command run as root, want %s's %d", f, uid, svc.name, svc.uid)
			}
		}
		serveAs(t, svc, bin, cfg)
	})

	t.Run("existing database opened by root", func(t *testing.T) {
		dir := ownedDir(t, top, "existing", svc)
		db := filepath.Join(dir, "syncserver.db")
		cfg := ownerConfig(t, dir, db)
		if code, out := run(t, svc.name, bin, "users", "list", "-config", cfg); code != 0 {
			t.Fatalf("users list as %s: exit %d\n%s", svc.name, code, out)
		}
		// The -wal and -shm files a root process creates while it holds
		// the database open.
		os.Remove(db + "-wal")
		os.Remove(db + "-shm")
		s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{db + "-wal", db + "-shm"} {
			if uid := ownerOf(t, f); uid != svc.uid {
				t.Errorf("%s belongs to uid %d while root holds the database open, want %s's %d", f, uid, svc.name, svc.uid)
			}
		}
		s.Close()
		serveAs(t, svc, bin, cfg)
	})

	t.Run("legacy database converted by root", func(t *testing.T) {
		dir := ownedDir(t, top, "legacy", svc)
		db := filepath.Join(dir, "syncserver.db")
		legacySQLite(t, db)
		if err := os.Chown(db, svc.uid, svc.gid); err != nil {
			t.Fatal(err)
		}
		cfg := ownerConfig(t, dir, db)
		// users list migrates the database and converts its users table,
		// each after a copy.
		code, out := run(t, "", bin, "users", "list", "-config", cfg)
		if code != 0 || !strings.Contains(out, "abc@api.accounts.firefox.com") {
			t.Fatalf("users list as root: exit %d\n%s", code, out)
		}
		copies, _ := filepath.Glob(db + ".*.bak")
		if len(copies) == 0 {
			t.Fatalf("no copy of the legacy database beside it")
		}
		for _, f := range append(copies, db, db+"-wal", db+"-shm") {
			if uid := ownerOf(t, f); uid != -1 && uid != svc.uid {
				t.Errorf("%s belongs to uid %d after a command run as root, want %s's %d", f, uid, svc.name, svc.uid)
			}
		}
		serveAs(t, svc, bin, cfg)
	})
}

// TestCheckTestsAsTheServiceUser: check run as the service's user fails,
// saying what to change, where the server would fail, and passes where
// it serves.
func TestCheckTestsAsTheServiceUser(t *testing.T) {
	svc := needServiceUser(t)
	root := serviceUser{name: "root"}
	top := openDir(t)
	bin := binaryIn(t, top)

	check := func(t *testing.T, wantCode int, cfg string, want []string, extra ...string) {
		t.Helper()
		code, out := run(t, svc.name, bin, append([]string{"check", "-config", cfg}, extra...)...)
		if code != wantCode {
			t.Errorf("check as %s: exit %d, want %d\n%s", svc.name, code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("check as %s says:\n%s\nwant %q in it", svc.name, out, w)
			}
		}
	}

	t.Run("directory the service cannot write", func(t *testing.T) {
		dir := ownedDir(t, top, "rootdir", root)
		db := filepath.Join(dir, "syncserver.db")
		cfg := ownerConfig(t, dir, db)
		check(t, 1, cfg, []string{"FAIL", svc.name + " may not write in " + dir, "chown " + svc.name + " " + dir})
		if code, out := run(t, "", bin, "check", "-config", cfg); code != 0 || strings.Contains(out, "FAIL") {
			t.Errorf("check as root: exit %d\n%s", code, out)
		}
		// As the check said, the server fails there.
		cmd := exec.Command("setpriv", "--reuid", strconv.Itoa(svc.uid), "--regid", strconv.Itoa(svc.gid), "--clear-groups", "--",
			bin, "-config", cfg, "-http", "127.0.0.1:0")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("the server started where check failed:\n%s", out)
		}
		if err := os.Chown(dir, svc.uid, svc.gid); err != nil {
			t.Fatal(err)
		}
		check(t, 0, cfg, []string{"does not exist yet: the server creates it"})
		serveAs(t, svc, bin, cfg)
	})

	t.Run("database root made", func(t *testing.T) {
		dir := ownedDir(t, top, "rootdb", svc)
		db := filepath.Join(dir, "syncserver.db")
		cfg := ownerConfig(t, dir, db)
		s, err := sqlite.Open(context.Background(), db, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		// As an older syncserver, or a hand-made copy, leaves it.
		if err := os.Chown(db, 0, 0); err != nil {
			t.Fatal(err)
		}
		check(t, 1, cfg, []string{svc.name + " may not read and write " + db, "chown " + svc.name + " " + db})
		if err := os.Chown(db, svc.uid, svc.gid); err != nil {
			t.Fatal(err)
		}
		check(t, 0, cfg, []string{svc.name + " may read and write " + db})
	})

	t.Run("check run as root", func(t *testing.T) {
		dir := ownedDir(t, top, "asroot", svc)
		cfg := ownerConfig(t, dir, filepath.Join(dir, "syncserver.db"))
		if code, out := run(t, "", bin, "check", "-config", cfg); code != 0 || !strings.Contains(out, "runuser -u "+svc.name+" -- syncserver check") {
			t.Errorf("check as root on %s's directory: exit %d\n%s", svc.name, code, out)
		}
		// A user with no name, as systemd's DynamicUser= is while its
		// service is stopped.
		if err := os.Chown(dir, 61999, 61999); err != nil {
			t.Fatal(err)
		}
		if code, out := run(t, "", bin, "check", "-config", cfg); code != 0 || !strings.Contains(out, "setpriv --reuid=61999 --regid=61999") {
			t.Errorf("check as root on a dynamic user's directory: exit %d\n%s", code, out)
		}
	})

	t.Run("socket directory", func(t *testing.T) {
		dir := ownedDir(t, top, "socket", svc)
		cfg := ownerConfig(t, dir, filepath.Join(dir, "syncserver.db"))
		missing := filepath.Join(dir, "run", "syncserver")
		check(t, 1, cfg, []string{"the socket's directory " + missing + " does not exist", "mkdir -p " + missing, "RuntimeDirectory="},
			"-fcgi", "unix:"+missing+"/fcgi.sock")
		rootRun := ownedDir(t, dir, "run", root)
		check(t, 1, cfg, []string{svc.name + " may not create the socket", "chown " + svc.name + " " + rootRun},
			"-fcgi", "unix:"+rootRun+"/fcgi.sock")
		check(t, 0, cfg, []string{svc.name + " may create the socket"}, "-fcgi", "unix:"+dir+"/fcgi.sock")
	})
}
