package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The paths a run can take to the server (-via).
const (
	viaStandalone = "standalone"  // syncload → syncserver's own HTTP server
	viaNginxFCGI  = "nginx-fcgi"  // syncload → nginx → FastCGI on a unix socket
	viaApacheFCGI = "apache-fcgi" // syncload → Apache mod_proxy_fcgi → unix socket
)

// snippetFor names the shipped snippet each web-server path runs.
var snippetFor = map[string]string{
	viaNginxFCGI:  "nginx-fastcgi-unix",
	viaApacheFCGI: "apache-proxy-fcgi-unix",
}

// snippet returns the lines between "#@ begin name" and "#@ end" of the
// shipped snippets file.
func snippet(file, name string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w (run from the repository's root, or give -snippets)", err)
	}
	_, rest, ok := strings.Cut(string(b), "#@ begin "+name+"\n")
	if !ok {
		return "", fmt.Errorf("%s: no snippet %s", file, name)
	}
	body, _, ok := strings.Cut(rest, "#@ end")
	if !ok {
		return "", fmt.Errorf("%s: snippet %s has no end", file, name)
	}
	return body, nil
}

// localSite turns a shipped snippet into a site on plain HTTP at
// 127.0.0.1:port, at the root of the host, with syncserver on socket: the
// snippet's own lines otherwise, fastcgi_keep_conn, keepalive pool and
// enablereuse included. TLS is left out so that the figure is the FastCGI
// hop's, not the TLS handshakes' and record encryption's of the client side.
// A substitution that finds nothing is an error: the snippet changed, and the
// benchmark would not measure what it says.
func localSite(s string, port int, socket string) (string, error) {
	var out []string
	var found struct{ listen, location, socket bool }
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "#"):
			continue
		case strings.HasPrefix(t, "ssl_certificate"), strings.HasPrefix(t, "SSLEngine"), strings.HasPrefix(t, "SSLCertificate"):
			continue
		case t == "listen 443 ssl;":
			line, found.listen = fmt.Sprintf("    listen 127.0.0.1:%d;", port), true
		case t == "<VirtualHost *:443>":
			line, found.listen = fmt.Sprintf("<VirtualHost 127.0.0.1:%d>", port), true
		case t == "location /ff-sync/ {", t == `<Location "/ff-sync/">`:
			line, found.location = strings.Replace(line, "/ff-sync/", "/", 1), true
		case strings.Contains(t, "/run/syncserver/fcgi.sock"):
			line, found.socket = strings.Replace(line, "/run/syncserver/fcgi.sock", socket, 1), true
		}
		out = append(out, line)
	}
	if !found.listen || !found.location || !found.socket {
		return "", fmt.Errorf("the snippet no longer has the lines this tool changes (listen 443 ssl or <VirtualHost *:443>, the /ff-sync/ location, /run/syncserver/fcgi.sock): %+v", found)
	}
	return strings.Join(out, "\n"), nil
}

// webServer is a running nginx or Apache.
type webServer struct {
	pid     int
	exited  chan error
	log     bytes.Buffer
	errFile string
}

// logs is what the web server wrote, for an error message.
func (w *webServer) logs() string {
	b, _ := os.ReadFile(w.errFile)
	return w.log.String() + string(b)
}

// stop ends the web server by its PID (SIGTERM: both stop at once).
func (w *webServer) stop() { stop(w.pid, w.exited) }

// runAs is the user the web server's workers run as when this tool runs as
// root: nginx and Apache start as root and drop to it, as on Debian.
func runAs() (name string, uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return "", -1, -1, nil
	}
	u, err := user.Lookup("www-data")
	if err != nil {
		return "", 0, 0, fmt.Errorf("running as root, the web server's workers run as www-data: %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return u.Username, uid, gid, nil
}

// startWebServer runs the web server of path via in dir with site.
func startWebServer(via, dir, site string, port int, o options) (*webServer, error) {
	name, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	w := &webServer{exited: make(chan error, 1), errFile: filepath.Join(dir, "error.log")}
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644); err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch via {
	case viaNginxFCGI:
		user := ""
		if name != "" {
			user = "user " + name + ";"
		}
		tmp := filepath.Join(dir, "tmp")
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return nil, err
		}
		if uid >= 0 {
			if err := os.Chown(tmp, uid, gid); err != nil {
				return nil, err
			}
		}
		// fastcgi_params is included by relative name, as on Debian,
		// and resolved against nginx.conf's directory.
		params, err := os.ReadFile("/etc/nginx/fastcgi_params")
		if err != nil {
			return nil, fmt.Errorf("nginx's fastcgi_params: %w (apt-get install nginx)", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "fastcgi_params"), params, 0o644); err != nil {
			return nil, err
		}
		conf := fmt.Sprintf(`# Written by scripts/benchreport: one site, the access log on as by default.
daemon off;
%[2]s
worker_processes %[3]s;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {
    worker_connections 1024;
}
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/tmp/client_body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[1]s/site.conf;
}
`, dir, user, o.nginxWorkers)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cmd = exec.Command(o.nginx, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", w.errFile)
	case viaApacheFCGI:
		user := ""
		if name != "" {
			user = "User " + name + "\nGroup " + name
		}
		mods := "/usr/lib/apache2/modules"
		conf := fmt.Sprintf(`# Written by scripts/benchreport: Debian's event MPM and its settings, the
# modules the snippet needs, one site, the access log on as by default.
ServerRoot "%[1]s"
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile %[1]s/apache2.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s default
ErrorLog %[1]s/error.log
LogLevel warn
DocumentRoot %[1]s
%[3]s
LoadModule mpm_event_module %[4]s/mod_mpm_event.so
Include /etc/apache2/mods-available/mpm_event.conf
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule proxy_module %[4]s/mod_proxy.so
LoadModule proxy_fcgi_module %[4]s/mod_proxy_fcgi.so
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
LogFormat "%%h %%l %%u %%t \"%%r\" %%>s %%O" common
CustomLog %[1]s/access.log common
Include %[1]s/site.conf
`, dir, port, user, mods)
		if err := os.WriteFile(filepath.Join(dir, "httpd.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cmd = exec.Command(o.apache, "-f", filepath.Join(dir, "httpd.conf"), "-DFOREGROUND")
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	default:
		return nil, fmt.Errorf("unknown path %q", via)
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &w.log, &w.log
	// Its own process group, so that it is not sent the terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.pid = cmd.Process.Pid
	go func() { w.exited <- cmd.Wait() }()
	return w, nil
}

// waitSocket waits up to 30 s for the server's FastCGI socket file.
func waitSocket(path string, exited chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // for stop, which waits for it too
			return fmt.Errorf("the server exited: %v", err)
		default:
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the server's FastCGI socket did not appear within 30 s")
}
