package clustertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/sqldb"
	"syncserver/internal/testdb"
)

// pgBin is the newest PostgreSQL's bin directory, or "".
func pgBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(dirs) == 0 {
		return ""
	}
	return dirs[len(dirs)-1]
}

// requireReplication skips the test (or fails it, when
// SYNCSERVER_TEST_REQUIRE lists "pgreplica") unless it can run a
// PostgreSQL primary and replica here.
func requireReplication(t *testing.T) string {
	t.Helper()
	bin := pgBin()
	msg := ""
	switch {
	case os.Geteuid() != 0:
		msg = "a PostgreSQL primary and replica need root (the servers run as the postgres user)"
	case bin == "":
		msg = "no PostgreSQL under /usr/lib/postgresql (package postgresql)"
	}
	if _, err := user.Lookup("postgres"); msg == "" && err != nil {
		msg = "no postgres user (package postgresql)"
	}
	if msg == "" {
		return bin
	}
	if testdb.Required("pgreplica") {
		t.Fatalf("%s, and %s lists \"pgreplica\", so this is a failure, not a skip", msg, testdb.RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// pgServer is one PostgreSQL server of the test.
type pgServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

func (p *pgServer) run(name string, args ...string) {
	p.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, name)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (p *pgServer) start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.dir, "-l", p.dir+".log", "-w", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", p.port, filepath.Dir(p.dir)), "start")
}

func (p *pgServer) stop() {
	cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-m", "fast", "-w", "stop")
	cmd.Run()
}

// TestPostgresSwitchover runs writers on a primary and its streaming
// replica, listed both in the sqluri with target_session_attrs=read-write,
// then switches over: the primary stops, the replica is promoted, the old
// primary comes back as a replica of the new one. The store follows
// without a restart, and every write it acknowledged is there.
func TestPostgresSwitchover(t *testing.T) {
	bin := requireReplication(t)
	root, err := os.MkdirTemp("", "syncserver-pgreplica-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if out, err := exec.Command("chown", "postgres", root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	ports := freePorts(t, 2)
	a := &pgServer{t: t, bin: bin, dir: filepath.Join(root, "a"), port: ports[0]}
	b := &pgServer{t: t, bin: bin, dir: filepath.Join(root, "b"), port: ports[1]}
	t.Cleanup(a.stop)
	t.Cleanup(b.stop)
	a.run("initdb", "-D", a.dir, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--auth=trust", "--no-sync")
	a.start()
	a.run("psql", "-q", "-h", root, "-p", strconv.Itoa(a.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
		"-c", "CREATE ROLE syncserver LOGIN", "-c", "CREATE DATABASE syncserver OWNER syncserver")
	// The replica: a base backup of the primary that streams from it.
	b.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(a.port), "-U", "postgres", "-D", b.dir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	b.start()

	uri := fmt.Sprintf("postgresql://syncserver@127.0.0.1:%d,127.0.0.1:%d/syncserver?target_session_attrs=read-write&connect_timeout=2", a.port, b.port)
	s, err := testdb.OpenURIErr(context.Background(), uri, testdb.Options{Pool: sqldb.Pool{Size: 4, MaxOverflow: 4, Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	acked := map[string]db.UID{}
	failed := 0
	var lastFail time.Time
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				p := "payload " + id
				err := s.Update(ctx, db.UID(w+1), func(tx db.Tx) error { return tx.PutBSO("history", db.BSOUpdate{ID: id, Payload: &p}) })
				mu.Lock()
				if err == nil {
					acked[id] = db.UID(w + 1)
				} else if ctx.Err() == nil {
					failed++
					lastFail = time.Now()
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(2 * time.Second)

	// Switchover: the primary stops cleanly (its last WAL reaches the
	// replica), the replica is promoted, the old primary follows it.
	switchAt := time.Now()
	a.stop()
	b.run("pg_ctl", "-D", b.dir, "-w", "promote")
	if err := os.WriteFile(filepath.Join(a.dir, "standby.signal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("\nprimary_conninfo = 'host=127.0.0.1 port=%d user=postgres'\n", b.port)
	f, err := os.OpenFile(filepath.Join(a.dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	exec.Command("chown", "-R", "postgres", a.dir).Run()
	a.start()
	time.Sleep(3 * time.Second)
	cancel()
	if out, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "psql"), "-h", root, "-p", strconv.Itoa(a.port),
		"-U", "postgres", "-tAc", "SELECT pg_is_in_recovery()").CombinedOutput(); err != nil || string(out) != "t\n" {
		t.Errorf("the old primary is not a replica after the switchover: %q, %v", out, err)
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	// After the switchover, writes go on without a restart.
	if err := s.Update(context.Background(), 99, func(tx db.Tx) error {
		p := "after"
		return tx.PutBSO("history", db.BSOUpdate{ID: "after", Payload: &p})
	}); err != nil {
		t.Fatalf("a write after the switchover: %v", err)
	}
	lost := 0
	for id, uid := range acked {
		var ts db.Timestamp
		if err := s.View(context.Background(), uid, func(tx db.Tx) error {
			var err error
			ts, err = tx.BSOTimestamp("history", id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if ts == 0 {
			lost++
		}
	}
	outage := time.Duration(0)
	if failed > 0 {
		outage = lastFail.Sub(switchAt)
	}
	t.Logf("switchover: %d writes acknowledged, %d lost, %d failed (503) until %.2fs after the primary stopped; %d transactions run again",
		len(acked), lost, failed, outage.Seconds(), s.Retries())
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
	if len(acked) < 100 {
		t.Errorf("only %d writes acknowledged", len(acked))
	}
}
