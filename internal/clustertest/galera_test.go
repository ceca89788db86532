package clustertest

import (
	"bytes"
	"context"
	"database/sql"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"syncserver/internal/testdb"
)

// galeraProvider is Debian's galera-4 library.
const galeraProvider = "/usr/lib/galera/libgalera_smm.so"

// requireGalera skips the test (or fails it, when SYNCSERVER_TEST_REQUIRE
// lists "galera") unless it can run a Galera cluster here.
func requireGalera(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (mariadbd runs as the mysql user with data directories of its own)")
	}
	for _, p := range []string{"mariadbd", "mariadb-install-db", "mariadb", "rsync", "wsrep_sst_rsync"} {
		if _, ok := testdb.LookProgram(p); !ok {
			missing = append(missing, p)
		}
	}
	if _, err := os.Stat(galeraProvider); err != nil {
		missing = append(missing, galeraProvider+" (package galera-4)")
	}
	if _, err := user.Lookup("mysql"); err != nil {
		missing = append(missing, "the mysql user (package mariadb-server)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "a Galera cluster needs " + strings.Join(missing, ", ")
	if testdb.Required("galera") {
		t.Fatalf("%s, and %s lists \"galera\", so this is a failure, not a skip", msg, testdb.RequireEnv)
	}
	t.Skip(msg)
}

// freePorts returns n TCP ports of loopback that nothing listens on.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// member is one mariadbd of the cluster.
type member struct {
	t                     *testing.T
	i                     int
	dir                   string
	port, gcomm, ist, sst int
	cmd                   *exec.Cmd
	exited                chan struct{}
}

// cluster is a Galera cluster of three members on loopback.
type cluster struct {
	t       *testing.T
	members []*member
	address string // wsrep_cluster_address
}

// Galera settings of the test. The failure detection is tightened from
// Galera's defaults (suspect 5 s, inactive 15 s) so that a killed member
// is evicted in about two seconds: on loopback, a live member answers
// its keepalives within milliseconds.
const evsOptions = "evs.keepalive_period=PT0.5S;evs.inactive_check_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.install_timeout=PT3S"

// startCluster starts three members, the first bootstrapping the
// cluster, and waits until all are Synced; it makes database syncserver
// and its user.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	root, err := os.MkdirTemp("", "syncserver-galera-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 12)
	c := &cluster{t: t}
	var peers []string
	for i := range 3 {
		m := &member{t: t, i: i, dir: filepath.Join(root, "m"+strconv.Itoa(i)),
			port: ports[i], gcomm: ports[3+i], ist: ports[6+i], sst: ports[9+i]}
		peers = append(peers, "127.0.0.1:"+strconv.Itoa(m.gcomm))
		c.members = append(c.members, m)
	}
	c.address = "gcomm://" + strings.Join(peers, ",")
	t.Cleanup(c.stop)
	for _, m := range c.members {
		m.install()
	}
	c.members[0].start(c.address, true)
	c.members[0].waitState("Synced", 60*time.Second)
	for _, m := range c.members[1:] {
		m.start(c.address, false)
	}
	for _, m := range c.members[1:] {
		m.waitState("Synced", 90*time.Second)
	}
	m0 := c.members[0].root()
	defer m0.Close()
	for _, q := range []string{
		"CREATE DATABASE syncserver CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		"CREATE USER 'syncserver'@'127.0.0.1' IDENTIFIED BY 'galera-test'",
		"GRANT ALL PRIVILEGES ON syncserver.* TO 'syncserver'@'127.0.0.1'",
	} {
		if _, err := m0.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return c
}

// sqluri lists the members starting with member first.
func (c *cluster) sqluri(first int) string {
	var hosts []string
	for k := range c.members {
		hosts = append(hosts, "127.0.0.1:"+strconv.Itoa(c.members[(first+k)%len(c.members)].port))
	}
	return "mysql://syncserver:galera-test@" + strings.Join(hosts, ",") + "/syncserver"
}

func (c *cluster) stop() {
	for _, m := range c.members {
		m.stop()
	}
}

func (m *member) install() {
	m.t.Helper()
	if err := os.MkdirAll(filepath.Join(m.dir, "data"), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "mysql:mysql", m.dir).CombinedOutput(); err != nil {
		m.t.Fatalf("chown: %v %s", err, out)
	}
	out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir="+filepath.Join(m.dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		m.t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
}

// start runs mariadbd; bootstrap starts a new cluster.
func (m *member) start(address string, bootstrap bool) {
	m.t.Helper()
	bin, ok := testdb.LookProgram("mariadbd")
	if !ok {
		m.t.Fatal("mariadbd not found")
	}
	args := []string{"--no-defaults", "--user=mysql",
		"--datadir=" + filepath.Join(m.dir, "data"),
		"--socket=" + m.socket(), "--pid-file=" + filepath.Join(m.dir, "mysqld.pid"),
		"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(m.port),
		"--log-error=" + filepath.Join(m.dir, "error.log"),
		"--innodb-buffer-pool-size=64M", "--max-connections=300",
		// Galera's requirements: row-based replication, interleaved
		// auto-increment locks, InnoDB.
		"--binlog-format=ROW", "--innodb-autoinc-lock-mode=2", "--default-storage-engine=InnoDB",
		// A commit is durable once the cluster has it; the members
		// need not flush at every commit (Galera's usual setting).
		"--innodb-flush-log-at-trx-commit=2",
		"--wsrep-on=ON", "--wsrep-provider=" + galeraProvider,
		"--wsrep-cluster-name=syncserver-test", "--wsrep-cluster-address=" + address,
		"--wsrep-node-address=127.0.0.1:" + strconv.Itoa(m.gcomm),
		"--wsrep-node-incoming-address=127.0.0.1:" + strconv.Itoa(m.port),
		"--wsrep-sst-method=rsync", "--wsrep-sst-receive-address=127.0.0.1:" + strconv.Itoa(m.sst),
		"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:" + strconv.Itoa(m.gcomm) +
			";ist.recv_addr=127.0.0.1:" + strconv.Itoa(m.ist) + ";gcache.size=128M;" + evsOptions,
	}
	if bootstrap {
		args = append(args, "--wsrep-new-cluster")
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("starting member %d: %v", m.i, err)
	}
	m.exited = make(chan struct{})
	cmd, exited := m.cmd, m.exited
	go func() { cmd.Wait(); close(exited) }()
}

func (m *member) socket() string { return filepath.Join(m.dir, "mysqld.sock") }

// kill ends the member with SIGKILL, as a crash would.
func (m *member) kill() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// stop ends the member with SIGTERM, and SIGKILL after a while.
func (m *member) stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.exited
	}
	m.cmd = nil
}

// root is a connection to the member as root, through its socket.
func (m *member) root() *sql.DB {
	db, err := sql.Open("mysql", "root@unix("+m.socket()+")/?timeout=2s")
	if err != nil {
		m.t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// status reads one of the member's wsrep status variables, "" when it
// does not answer.
func (m *member) status(name string) string {
	db := m.root()
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var k, v string
	// SHOW takes no placeholder; name is one of the test's constants.
	if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err != nil {
		return ""
	}
	return v
}

// waitState waits until wsrep_local_state_comment says state.
func (m *member) waitState(state string, limit time.Duration) time.Duration {
	m.t.Helper()
	start := time.Now()
	for {
		if m.status("wsrep_local_state_comment") == state {
			return time.Since(start)
		}
		select {
		case <-m.exited:
			m.t.Fatalf("member %d exited before it was %s:\n%s", m.i, state, m.logTail())
		default:
		}
		if time.Since(start) > limit {
			m.t.Fatalf("member %d not %s after %v:\n%s", m.i, state, limit, m.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *member) logTail() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
