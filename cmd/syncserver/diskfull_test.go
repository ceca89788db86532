//go:build linux

package main

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/internal/testdb"
)

// mountSmallFS mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends (after everything registered later, such
// as the server that uses it, has stopped). It needs root.
func mountSmallFS(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		needRoot(t, "mounts a small tmpfs to fill")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			needRoot(t, "mount(2) of a tmpfs: "+err.Error())
		}
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// A server that used the file system may still be closing its
		// files for a moment after it was told to stop (PostgreSQL's
		// children outlive its pid file): retry while the mount is busy.
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := syscall.Unmount(dir, 0)
			if err == nil {
				return
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				t.Errorf("unmounting %s: %v", dir, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// fillFS writes path until the file system is full, then gives back keep
// bytes, and returns how much it wrote.
func fillFS(t *testing.T, path string, keep int64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
	n = max(0, n-keep)
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sqliteQuickCheck runs PRAGMA quick_check on a sqlite file through a connection
// of its own, as a second process would.
func sqliteQuickCheck(t *testing.T, path string) {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got string
	if err := conn.QueryRow("PRAGMA quick_check").Scan(&got); err != nil {
		t.Fatalf("quick_check: %v", err)
	}
	if got != "ok" {
		t.Errorf("quick_check of %s: %q, want ok: the database is damaged", path, got)
	}
}

// TestDiskFull fills the file system under the database (a small tmpfs:
// first a filler file, then the server's own writes), for sqlite and for
// a PostgreSQL server of its own, and checks what clients see:
//
//   - a write that does not fit answers 503 with Retry-After, never a 500;
//   - reads keep working, and every acknowledged record is still there,
//     unchanged;
//   - a batch whose commit did not fit is still whole and can be committed
//     later (nothing half-committed);
//   - once the filler is deleted, writes work again in the same process,
//     without a restart;
//   - the database passes quick_check throughout (sqlite).
//
// MariaDB is left out: on a full disk InnoDB may abort the whole server
// ("Out of disk space in rollback"), which is no longer about syncserver.
func TestDiskFull(t *testing.T) {
	testdb.SkipShort(t, "mounts a file system")
	t.Run("sqlite", func(t *testing.T) {
		dir := mountSmallFS(t, 8<<20)
		dbPath := filepath.Join(dir, "syncserver.db")
		runDiskFull(t, dir, "sqlite:///"+dbPath, "[storage]\nsqlite_synchronous = \"FULL\"\n",
			func() { sqliteQuickCheck(t, dbPath) })
	})
	// A PostgreSQL server of its own whose data directory is on the small
	// file system.
	t.Run("postgres", func(t *testing.T) {
		dir := mountSmallFS(t, 64<<20)
		runDiskFull(t, dir, startScratchPostgres(t, dir), "", func() {})
	})
}

// runDiskFull runs the disk-full scenario on a server whose database
// (sqluri, extra configuration) lives on the file system mounted at dir.
// check looks at the database's own consistency.
func runDiskFull(t *testing.T, dir, sqluri, extra string, check func()) {
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`[syncserver]
public_url = "http://127.0.0.1:%d/"
sqluri = %q
secret = %q

%s`, port, sqluri, testSecret, extra))
	m, logs := newTestMain(t, "-config", cfg, "-http", fmt.Sprintf("127.0.0.1:%d", port))
	runMain(t, m, logs)
	c := newStorageClient(t, port, 1)
	s := &diskFullState{t: t, c: c, acked: map[string]map[string]storedBSO{}}

	// Before: some records of each kind of write, and a batch left open.
	for i := range 10 {
		s.put("bookmarks", fmt.Sprintf("b%d", i), 1000)
	}
	s.post("history", "h0-", 50, 1000)
	batch := s.stageBatch("tabs", 2, 20)
	check()

	// Fill: a filler file takes all but 1 MiB, and the server's writes the
	// rest, until writes are refused.
	filler := filepath.Join(dir, "filler")
	fillFS(t, filler, 1<<20)
	refused := 0
	for i := 0; i < 400 && refused < 10; i++ {
		var ok bool
		switch i % 3 {
		case 0:
			ok = s.put("bookmarks", fmt.Sprintf("full%d", i), 8000)
		case 1:
			ok = s.post("history", fmt.Sprintf("full%d-", i), 5, 8000)
		default:
			ok = s.stageBatch("forms", 1, 5) != ""
		}
		if !ok {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("400 writes of 8 kB fitted in the last MiB of the file system: it never filled\n%s", logs)
	}
	t.Logf("%d records acknowledged, %d writes refused while the disk filled", s.ackedCount(), refused)

	// Full: reads work and show everything acknowledged; the open batch's
	// commit does not half-happen.
	s.read()
	if r, err := c.do(http.MethodGet, "/info/collections", nil); err != nil || r.Status != http.StatusOK {
		t.Errorf("GET info/collections on a full disk: %v %v", r, err)
	}
	committed := s.commit("tabs", batch, 2*20)
	s.read()
	check()

	// Freed: writes work again, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !s.put("bookmarks", "after", 1000) {
		t.Fatalf("a write after space was freed was refused\n%s", logs)
	}
	if !s.post("history", "after-", 20, 1000) {
		t.Fatalf("a POST after space was freed was refused\n%s", logs)
	}
	if !committed && !s.commit("tabs", batch, 2*20) {
		t.Fatalf("the batch refused on the full disk could not be committed after space was freed\n%s", logs)
	}
	s.read()
	check()
	if testing.Verbose() {
		t.Logf("server log:\n%s", logs)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("the server panicked:\n%s", logs)
	}
}

// diskFullState is one client's writes and what the server acknowledged.
type diskFullState struct {
	t       *testing.T
	c       *storageClient
	version int
	acked   map[string]map[string]storedBSO // collection → id → record
	// staged are the records of open batches, by batch id.
	staged map[string][]string
}

func (s *diskFullState) ackedCount() int {
	n := 0
	for _, recs := range s.acked {
		n += len(recs)
	}
	return n
}

func (s *diskFullState) ack(coll string, r storedBSO) {
	if s.acked[coll] == nil {
		s.acked[coll] = map[string]storedBSO{}
	}
	s.acked[coll][r.ID] = r
}

// refusedOK reports whether an answer that is not a success is the one a
// full disk must give: 503 with Retry-After. Anything else fails the test.
func (s *diskFullState) refusedOK(what string, r *storageReply, err error) {
	s.t.Helper()
	switch {
	case err != nil:
		s.t.Errorf("%s: %v", what, err)
	case r.Status != http.StatusServiceUnavailable:
		s.t.Errorf("%s: %s, want 200 or 503", what, r)
	case r.Header.Get("Retry-After") != "300":
		// 300 is the answer for a full database (60 for other failures).
		s.t.Errorf("%s: 503 with Retry-After %q, want 300 (the database is full)", what, r.Header.Get("Retry-After"))
	}
}

// put writes one record with PUT and reports whether it was acknowledged.
func (s *diskFullState) put(coll, id string, size int) bool {
	s.t.Helper()
	s.version++
	p := payloadOf(id, s.version, size)
	r, err := s.c.do(http.MethodPut, "/storage/"+coll+"/"+id, mustJSONBody(map[string]string{"payload": p}))
	if err == nil && r.Status == http.StatusOK {
		m, perr := parseTimestampBody(r.Body)
		if perr != nil {
			s.t.Fatalf("PUT %s/%s: %v", coll, id, perr)
		}
		s.ack(coll, storedBSO{ID: id, Payload: p, Modified: m})
		return true
	}
	s.refusedOK("PUT "+coll+"/"+id, r, err)
	return false
}

// post writes n records with one POST and reports whether it was
// acknowledged.
func (s *diskFullState) post(coll, prefix string, n, size int) bool {
	s.t.Helper()
	s.version++
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	v := s.version
	r, err := s.c.do(http.MethodPost, "/storage/"+coll, recordsJSON(ids, func(id string) string { return payloadOf(id, v, size) }))
	if err == nil && r.Status == http.StatusOK {
		a, m, perr := decodePost(r.Body)
		if perr != nil || len(a.Success) != n {
			s.t.Fatalf("POST %s: %v, %d successes of %d", coll, perr, len(a.Success), n)
		}
		for _, id := range ids {
			s.ack(coll, storedBSO{ID: id, Payload: payloadOf(id, v, size), Modified: m})
		}
		return true
	}
	s.refusedOK("POST "+coll, r, err)
	return false
}

// stageBatch opens a batch and appends posts × n records of 200 bytes; it
// returns the batch id, or "" when a POST was refused.
func (s *diskFullState) stageBatch(coll string, posts, n int) string {
	s.t.Helper()
	if s.staged == nil {
		s.staged = map[string][]string{}
	}
	batch := "true"
	var ids []string
	for p := range posts {
		s.version++
		chunk := make([]string, n)
		for i := range chunk {
			chunk[i] = fmt.Sprintf("%s-%d-%d", coll, s.version, i)
		}
		v := s.version
		r, err := s.c.do(http.MethodPost, "/storage/"+coll+"?batch="+batch,
			recordsJSON(chunk, func(id string) string { return payloadOf(id, v, 200) }))
		if err != nil || r.Status != http.StatusAccepted {
			s.refusedOK(fmt.Sprintf("POST %s batch, part %d", coll, p), r, err)
			return ""
		}
		a, _, perr := decodePost(r.Body)
		if perr != nil || a.Batch == "" {
			s.t.Fatalf("POST %s batch: %v, batch %q", coll, perr, a.Batch)
		}
		batch = a.Batch
		for _, id := range chunk {
			ids = append(ids, id+"#"+fmt.Sprint(v))
		}
	}
	s.staged[batch] = ids
	return batch
}

// commit commits a staged batch of want records and reports whether it
// was acknowledged.
func (s *diskFullState) commit(coll, batch string, want int) bool {
	s.t.Helper()
	r, err := s.c.do(http.MethodPost, "/storage/"+coll+"?batch="+batch+"&commit=true", []byte("[]"))
	if err != nil || r.Status != http.StatusOK {
		s.refusedOK("commit of batch "+batch, r, err)
		return false
	}
	_, m, perr := decodePost(r.Body)
	if perr != nil {
		s.t.Fatal(perr)
	}
	if len(s.staged[batch]) != want {
		s.t.Fatalf("batch %s staged %d records, want %d", batch, len(s.staged[batch]), want)
	}
	for _, iv := range s.staged[batch] {
		id, v, _ := strings.Cut(iv, "#")
		var version int
		fmt.Sscan(v, &version)
		s.ack(coll, storedBSO{ID: id, Payload: payloadOf(id, version, 200), Modified: m})
	}
	return true
}

// read reads back every collection written and compares it with what was
// acknowledged; the batch collection must hold all of a batch or none.
func (s *diskFullState) read() {
	s.t.Helper()
	for coll, want := range s.acked {
		got := s.c.readCollection(s.t, coll)
		for id, w := range want {
			g, ok := got[id]
			switch {
			case !ok:
				s.t.Errorf("%s/%s was acknowledged but is gone", coll, id)
			case g.Payload != w.Payload || g.Modified != w.Modified:
				s.t.Errorf("%s/%s: stored payload %.30q… modified %v, acknowledged %.30q… modified %v",
					coll, id, g.Payload, g.Modified, w.Payload, w.Modified)
			}
		}
		if coll == "tabs" && len(got) != 0 && len(got) != 40 {
			s.t.Errorf("tabs holds %d records: a batch of 40 was half committed", len(got))
		}
	}
	if _, ok := s.acked["tabs"]; !ok {
		if got := s.c.readCollection(s.t, "tabs"); len(got) != 0 {
			s.t.Errorf("tabs holds %d records, though its batch's commit was refused", len(got))
		}
	}
}

// startScratchPostgres creates and starts a PostgreSQL server of its own
// with its data directory in dir, as the postgres user (PostgreSQL refuses
// to run as root), and returns its sqluri; it is stopped when the test
// ends. Without PostgreSQL's programs or its user the test skips, or fails
// when SYNCSERVER_TEST_REQUIRE lists "postgres".
func startScratchPostgres(t *testing.T, dir string) string {
	t.Helper()
	missing := func(what string) {
		msg := "needs " + what + " to run a PostgreSQL server of its own (Debian package postgresql)"
		if testdb.Required("postgres") {
			t.Fatalf("%s, and %s lists \"postgres\"", msg, testdb.RequireEnv)
		}
		t.Skip(msg)
	}
	bin := ""
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		bin = filepath.Dir(p)
	} else if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(found) > 0 {
		sort.Strings(found)
		bin = filepath.Dir(found[len(found)-1])
	} else {
		missing("initdb and pg_ctl")
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		missing("the postgres user")
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	// The postgres user must reach the mount (the test's temporary
	// directories are root's, mode 0700) and own it.
	for d := filepath.Dir(dir); d != filepath.Clean(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	logDir := filepath.Join(filepath.Dir(dir), "pglog")
	for _, d := range []string{dir, logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	// Small WAL segments, so that the WAL keeps room of its own while the
	// tables fill the disk.
	run("initdb", "-D", data, "--wal-segsize=1", "-A", "trust", "-U", "syncserver", "--no-sync", "-E", "UTF8")
	port := freePort(t)
	logFile := filepath.Join(logDir, "postgresql.log")
	run("pg_ctl", "-D", data, "-l", logFile, "-w", "-o", fmt.Sprintf(
		"-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c shared_buffers=8MB -c min_wal_size=4MB -c max_wal_size=8MB", port),
		"start")
	t.Cleanup(func() {
		run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("PostgreSQL log:\n%s", b)
			}
		}
	})
	return fmt.Sprintf("postgresql://syncserver@127.0.0.1:%d/postgres", port)
}
