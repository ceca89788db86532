package deploytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"syncserver/internal/fxatest"
)

// deployment is one shipped snippet and how to run it.
type deployment struct {
	snippet string // name in file
	file    string
	server  string // "nginx" or "apache"
	fcgid   bool   // Apache starts syncserver itself
}

var deployments = []deployment{
	{snippet: "nginx-fastcgi-tcp", file: "syncserver.fcgi.conf", server: "nginx"},
	{snippet: "nginx-fastcgi-unix", file: "syncserver.fcgi.conf", server: "nginx"},
	{snippet: "apache-proxy-fcgi-tcp", file: "syncserver.fcgi.conf", server: "apache"},
	{snippet: "apache-proxy-fcgi-unix", file: "syncserver.fcgi.conf", server: "apache"},
	{snippet: "apache-fcgid", file: "syncserver.fcgi.conf", server: "apache", fcgid: true},
	{snippet: "nginx-proxy-http", file: "contrib/nginx/syncserver-proxy.conf", server: "nginx"},
	{snippet: "apache-proxy-http", file: "contrib/apache/syncserver-proxy.conf", server: "apache"},
}

func findDeployment(tb testing.TB, name string) deployment {
	tb.Helper()
	for _, d := range deployments {
		if d.snippet == name {
			return d
		}
	}
	tb.Fatalf("no deployment %s", name)
	return deployment{}
}

// setup says how to vary a deployment for a test.
type setup struct {
	prefix string // "/" or "/ff-sync/"
	// ini adds or overrides syncserver.ini settings (TOML values).
	ini map[string]map[string]string
	// edit changes the rendered web-server configuration (a misconfiguration).
	edit func([]string) []string
	// apacheExtra is added to Apache's server configuration.
	apacheExtra string
	// heldSocket hands syncserver a unix socket the test made, on standard
	// input, instead of the -fcgi argument, as systemd socket activation
	// does (syncserver-fcgi.socket). Unix-socket snippets only.
	heldSocket bool
	// heldTCPSocket hands syncserver the TCP socket of the standalone HTTP
	// snippets, made by the test, on descriptor 3 with LISTEN_FDS=1, as
	// systemd's syncserver.socket does.
	heldTCPSocket bool
	// noWebServer runs syncserver alone; the client talks to it directly.
	noWebServer bool
	// publicURLPath, when set, gives public_url this path instead of
	// prefix, the web server's location: a misconfiguration.
	publicURLPath string
}

// env is a running deployment.
type env struct {
	fxa       *fxatest.Server
	http      *http.Client
	base      string // where the client connects: public_url without trailing slash
	publicURL string
	values    map[string]string // what the snippet's placeholders became
	web       *webServer        // nil with noWebServer
	sync      *syncserverProc   // nil under mod_fcgid
}

// syncLog is what syncserver logged: its output, or Apache's error log when
// mod_fcgid runs it.
func (e *env) syncLog() string {
	if e.sync != nil {
		return e.sync.out.String()
	}
	b, _ := os.ReadFile(e.web.errorLog)
	return string(b)
}

// deploy renders a snippet for this machine, starts syncserver and the web
// server, and returns a client's view of them.
func deploy(tb testing.TB, d deployment, s setup) *env {
	tb.Helper()
	switch {
	case s.noWebServer:
	case d.server == "nginx":
		requireNginx(tb)
	case d.fcgid:
		requireApache(tb, "fcgid")
	default:
		requireApache(tb)
	}
	if s.prefix == "" {
		s.prefix = "/"
	}
	u := currentWebUser(tb)
	cert := loopbackCert(tb)
	port := freePort(tb)
	stateDir := tb.TempDir()
	sockDir := shortTempDir(tb)
	fcgiPort, httpPort := freePort(tb), freePort(tb)
	pub := fmt.Sprintf("https://127.0.0.1:%d%s", port, s.prefix)
	values := map[string]string{
		phCert:       cert.CertFile,
		phKey:        cert.KeyFile,
		phPublicURL:  pub,
		phHost:       "127.0.0.1",
		phNginxPort:  fmt.Sprintf("listen 127.0.0.1:%d", port),
		phApachePort: fmt.Sprintf("*:%d", port),
		phPrefix:     s.prefix,
		phFCGIAddr:   fmt.Sprintf("127.0.0.1:%d", fcgiPort),
		phSocket:     filepath.Join(sockDir, "fcgi.sock"),
		phBinary:     syncserverBinary(tb),
		phConfig:     filepath.Join(stateDir, "syncserver.ini"),
		phHTTPAddr:   fmt.Sprintf("127.0.0.1:%d", httpPort),
		phHTTPPort:   fmt.Sprintf("port = %d", httpPort),
	}
	snip, ok := loadSnippets(tb, d.file)[d.snippet]
	if !ok {
		tb.Fatalf("%s has no snippet %s", d.file, d.snippet)
	}
	r := snip.render(tb, values, s.edit)
	if got := publicURL(r.INI); got != pub {
		tb.Fatalf("%s: the snippet's public_url becomes %q, want %q", d.snippet, got, pub)
	}

	fxa := fxatest.New(tb)
	ini := s.ini
	for _, l := range r.INI {
		if strings.HasPrefix(l, "socket_group") && u.group != "www-data" {
			// Not root: the socket can only be given to our own group,
			// which the web server (running as us) is in.
			ini = mergeINI(ini, map[string]map[string]string{"server:main": {"socket_group": tomlString(u.group)}})
		}
	}
	if s.publicURLPath != "" {
		wrong := fmt.Sprintf("https://127.0.0.1:%d%s", port, s.publicURLPath)
		ini = mergeINI(ini, map[string]map[string]string{"syncserver": {"public_url": tomlString(wrong)}})
	}
	if s.noWebServer {
		// Alone, syncserver is reached over plain HTTP on its own port.
		pub = fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, s.prefix)
		ini = mergeINI(map[string]map[string]string{"syncserver": {"public_url": tomlString(pub)}}, ini)
	}
	cfg := syncserverConfig(tb, stateDir, r.INI, fxa, ini)
	if cfg != values[phConfig] {
		tb.Fatalf("config written to %s, the snippet names %s", cfg, values[phConfig])
	}
	e := &env{fxa: fxa, http: cert.httpClient(64), base: strings.TrimSuffix(pub, "/"), publicURL: pub, values: values}

	if d.fcgid {
		// mod_fcgid runs syncserver as the web server's user, which must be
		// able to write the database's directory.
		u.giveTo(tb, stateDir)
	} else {
		e.sync = startFromCommand(tb, r.Command, values, s)
	}
	if s.noWebServer {
		return e
	}
	switch d.server {
	case "nginx":
		e.web = startNginx(tb, r.Config, port)
	case "apache":
		e.web = startApache(tb, r.Config, port, apacheOptions{fcgid: d.fcgid, extra: s.apacheExtra})
	}
	return e
}

// startFromCommand starts syncserver with the arguments of a snippet's
// documented command line, and waits until it listens where that says.
func startFromCommand(tb testing.TB, command []string, values map[string]string, s setup) *syncserverProc {
	tb.Helper()
	if len(command) == 0 || command[0] != values[phBinary] {
		tb.Fatalf("the snippet's start command %q does not run %s", command, values[phBinary])
	}
	args := command[1:]
	network, addr := "tcp", values[phHTTPAddr]
	var stdin, passed *os.File
	if s.heldTCPSocket {
		// As syncserver.socket: systemd listens on the address before
		// syncserver starts, and keeps the socket across restarts.
		passed = heldTCPSocket(tb, addr)
		network, addr = "", ""
	}
	for i := 0; i < len(args)-1; i++ {
		if args[i] != "-fcgi" {
			continue
		}
		addr = args[i+1]
		if p, ok := strings.CutPrefix(addr, "unix:"); ok {
			network, addr = "unix", p
		}
		if s.heldSocket {
			if network != "unix" {
				tb.Fatalf("heldSocket needs a unix socket snippet")
			}
			// As syncserver-fcgi.socket: the socket exists before
			// syncserver starts, and syncserver is run without -fcgi.
			stdin = heldSocket(tb, addr)
			args = append(append([]string(nil), args[:i]...), args[i+2:]...)
			network, addr = "", ""
		}
		break
	}
	return startSyncserverWith(tb, args, stdin, passed, network, addr)
}

func mergeINI(a, b map[string]map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range []map[string]map[string]string{a, b} {
		for sec, kv := range m {
			if out[sec] == nil {
				out[sec] = map[string]string{}
			}
			for k, v := range kv {
				out[sec][k] = v
			}
		}
	}
	return out
}

// TestDeployments runs the token and storage scenario through every
// shipped snippet, at the root of the host and under /ff-sync/.
func TestDeployments(t *testing.T) {
	for _, d := range deployments {
		for _, prefix := range []string{"/", "/ff-sync/"} {
			name := d.snippet + "/root"
			if prefix != "/" {
				name = d.snippet + "/ff-sync"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := deploy(t, d, setup{prefix: prefix})
				runScenario(t, e)
				if e.sync == nil {
					checkNoRace(t, "syncserver (under mod_fcgid)", e.syncLog())
				}
			})
		}
	}
}

// TestStandalone runs the scenario against syncserver alone (no web
// server), as a baseline for the others.
func TestStandalone(t *testing.T) {
	e := deploy(t, findDeployment(t, "nginx-proxy-http"), setup{noWebServer: true})
	runScenario(t, e)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// heldTCPSocket listens on addr as syncserver.socket does and returns the
// socket as a file to pass on descriptor 3; it stays open, across
// syncserver restarts, until the test ends.
func heldTCPSocket(tb testing.TB, addr string) *os.File {
	tb.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close() // f holds the socket
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}

// heldSocket makes the listening unix socket at path as systemd's
// syncserver-fcgi.socket does (SocketMode=0660, SocketGroup=www-data) and
// returns it as a file to pass as standard input. It stays open, across
// syncserver restarts, until the test ends.
func heldSocket(tb testing.TB, path string) *os.File {
	tb.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	u := currentWebUser(tb)
	if err := os.Chmod(path, 0o660); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(path, -1, u.gid); err != nil {
		tb.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}
