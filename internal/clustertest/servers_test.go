package clustertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// syncserverBinary builds cmd/syncserver once per run.
func syncserverBinary(t *testing.T) string {
	t.Helper()
	buildBinary()
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// buildBinary builds cmd/syncserver unless it is built; it may run in a
// goroutine of its own.
func buildBinary() {
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "syncserver-clustertest-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "syncserver")
		if out, err := exec.Command("go", "build", "-o", build.path, "syncserver/cmd/syncserver").CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build cmd/syncserver: %v\n%s", err, out)
		}
	})
}

// server is one syncserver process: the token server or a storage node.
type server struct {
	t      *testing.T
	name   string
	role   string // "token" or "storage"
	url    string // public_url, no trailing slash
	addr   string
	config string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	// sock, when set, is the listening socket the test holds and passes
	// to each of the server's processes (LISTEN_FDS=1, descriptor 3), as
	// systemd's syncserver.socket does: it stays open across restarts.
	sock *os.File
}

// topology is what the servers are: which role each plays, and which
// Galera member each lists first. Switching to role=all servers is a
// change of this table.
type spec struct {
	name  string
	role  string
	first int // the Galera member listed first in its sqluri
}

// writeConfig writes the server's syncserver.ini.
func (s *server) writeConfig(dir, sqluri, idp, secrets string) {
	s.t.Helper()
	cfg := fmt.Sprintf(`[syncserver]
public_url = %q
role = %q
sqluri = %q
identity_provider = %q

[tokenserver]
multi_node = true
secrets_file = %q
# Short tokens: clients come back to the token server every few seconds,
# so that its restart is tried under token requests.
token_duration = 10

[storage]
pool_size = 10
pool_max_overflow = 10
pool_timeout = 10
`, s.url+"/", s.role, sqluri, idp, secrets)
	s.config = filepath.Join(dir, s.name+".ini")
	s.log = filepath.Join(dir, s.name+".log")
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// start runs the server and waits until it serves.
func (s *server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	served := s.count("msg=serving")
	if s.sock != nil {
		s.cmd = exec.Command(syncserverBinary(s.t), "-config", s.config)
		s.cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_FDS=1", "LISTEN_FDNAMES=clustertest"}
		s.cmd.ExtraFiles = []*os.File{s.sock}
	} else {
		s.cmd = exec.Command(syncserverBinary(s.t), "-config", s.config, "-http", s.addr)
		s.cmd.Env = []string{"PATH=/usr/bin:/bin"}
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	logf.Close()
	s.exited = make(chan struct{})
	cmd, exited := s.cmd, s.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A held socket accepts connections before the process serves:
		// its log says when it does.
		if s.sock != nil && s.count("msg=serving") > served {
			return
		}
		if s.sock == nil {
			if c, err := net.Dial("tcp", s.addr); err == nil {
				c.Close()
				return
			}
		}
		select {
		case <-exited:
			s.t.Fatalf("%s exited at start:\n%s", s.name, s.tail())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s does not serve after 30 s:\n%s", s.name, s.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM (a graceful drain) and waits.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// run runs a command of the binary with the server's configuration.
func (s *server) run(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(syncserverBinary(s.t), append([]string{"-config", s.config}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("syncserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// count counts the lines of the server's log that contain sub.
func (s *server) count(sub string) int {
	b, _ := os.ReadFile(s.log)
	return strings.Count(string(b), sub)
}

// startServers writes the secrets file and the configurations and starts
// the servers of specs on the cluster. The test holds the token server's
// listening socket, as syncserver.socket does under systemd.
func startServers(t *testing.T, c *cluster, specs []spec, idp string) map[string]*server {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, len(specs))
	servers := make(map[string]*server)
	var secrets strings.Builder
	for i, sp := range specs {
		addr := "127.0.0.1:" + strconv.Itoa(ports[i])
		s := &server{t: t, name: sp.name, role: sp.role, url: "http://" + addr, addr: addr}
		servers[sp.name] = s
		if sp.role == "token" {
			s.sock = holdSocket(t, addr)
		}
		if sp.role != "token" {
			fmt.Fprintf(&secrets, "%s,1700000000:%x\n", s.url, randomKey())
		}
	}
	secretsFile := filepath.Join(dir, "secrets.csv")
	if err := os.WriteFile(secretsFile, []byte(secrets.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sp := range specs {
		s := servers[sp.name]
		s.writeConfig(dir, c.sqluri(sp.first), idp, secretsFile)
		t.Cleanup(s.stop)
	}
	// The token server first: it migrates the schema; then the nodes.
	for _, sp := range specs {
		if sp.role == "token" {
			servers[sp.name].start()
		}
	}
	for _, sp := range specs {
		if sp.role != "token" {
			servers[sp.name].start()
		}
	}
	return servers
}

// lines returns up to n lines of the server's log that contain sub.
func (s *server) lines(sub string, n int) []string {
	b, _ := os.ReadFile(s.log)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) && len(out) < n {
			out = append(out, l)
		}
	}
	return out
}

// holdSocket listens on addr and returns the socket as a file to pass to
// child processes; it is closed when the test ends.
func holdSocket(t *testing.T, addr string) *os.File {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close() // f holds the socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
