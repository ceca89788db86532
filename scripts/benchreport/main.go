// Command benchreport runs the syncload scenarios against a fresh
// syncserver on loopback and prints one Markdown table of the results
// (requests/s, p50, p99, errors, the server's peak RSS), so that the
// README's figures come from one command: `make bench-report`.
//
// For every scenario and run it starts its own server (the binary -server
// names, on a free loopback port, with a new sqlite database, a random
// secret and, for the token scenario, a static key set ([oauth] jwks)
// holding a key syncload signs its JWTs with, in a temporary directory),
// waits for it to answer, runs syncload
// for -d after -warmup, reads the server's peak RSS (VmHWM, Linux) and
// stops the server by its PID. With -runs above 1 each figure is the
// median of the runs. Bounded in time: about (warmup + d + set-up) per
// scenario and run.
//
// -via adds paths through a web server in front of syncserver, each a row of
// its own: nginx-fcgi (nginx → FastCGI on a unix socket) and apache-fcgi
// (Apache mod_proxy_fcgi → unix socket), configured from the shipped
// snippets of syncserver.fcgi.conf (kept-open FastCGI connections included)
// on plain HTTP at a free loopback port; the web server is started and
// stopped by its PID like the server. The runs of the paths are interleaved,
// so that the machine's load changes them alike.
//
// Each row also gives the CPU time per request of each process over the
// measured window (user + system, from /proc/PID/stat, sampled when syncload
// says it starts and ends measuring): syncserver, the web server (master and
// workers), and syncload. On a shared machine it is steadier than requests
// per second, and it shows where a path's cost goes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	server, syncload string
	scenarios        []string
	via              []string
	snippets         string
	nginx, apache    string
	nginxWorkers     string
	clients          int
	users            int
	duration, warmup time.Duration
	runs             int
	out              string
	synchronous      string
}

// result is one syncload run of one scenario.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
	requests int64 // measured
	rssKB    int64
	// CPU time per request of syncserver, the web server and syncload,
	// over the measured window.
	cpuServer, cpuWeb, cpuLoad time.Duration
}

func main() {
	var o options
	var scen, via string
	flag.StringVar(&o.server, "server", "bin/syncserver", "the syncserver binary")
	flag.StringVar(&o.syncload, "syncload", "bin/syncload", "the syncload binary")
	flag.StringVar(&scen, "scenarios", "lbheartbeat,s1,get100,post100,s6,token", "comma-separated syncload scenarios")
	flag.IntVar(&o.clients, "c", 32, "concurrent clients")
	flag.IntVar(&o.users, "users", 100, "distinct users (s6 uses 10 times as many)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "measured duration of each run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up of each run")
	flag.IntVar(&o.runs, "runs", 1, "runs of each scenario; the table gives their medians")
	flag.StringVar(&o.out, "o", "", "write the table to this file instead of stdout")
	flag.StringVar(&o.synchronous, "synchronous", "", "sqlite synchronous of the server (default: the server's)")
	flag.StringVar(&via, "via", viaStandalone, "comma-separated paths to the server: standalone, nginx-fcgi, apache-fcgi")
	flag.StringVar(&o.snippets, "snippets", "syncserver.fcgi.conf", "the shipped web-server snippets (for -via)")
	flag.StringVar(&o.nginx, "nginx", "/usr/sbin/nginx", "the nginx binary (for -via nginx-fcgi)")
	flag.StringVar(&o.apache, "apache", "/usr/sbin/apache2", "the Apache binary (for -via apache-fcgi)")
	flag.StringVar(&o.nginxWorkers, "nginx-workers", "auto", "nginx worker_processes (Debian's default: auto, one per CPU)")
	flag.Parse()
	o.scenarios = list(scen)
	o.via = list(via)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// list splits a comma-separated flag.
func list(s string) []string {
	var l []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l = append(l, v)
		}
	}
	return l
}

// rowKey names a row: the scenario, and the path when it is not standalone.
func rowKey(sc, via string) string {
	if via == viaStandalone {
		return sc
	}
	return sc + " via " + via
}

func run(o options) error {
	if o.runs < 1 || o.clients < 1 || o.duration <= 0 {
		return errors.New("-runs, -c and -d must be positive")
	}
	if len(o.via) == 0 {
		o.via = []string{viaStandalone}
	}
	for _, v := range o.via {
		if _, ok := snippetFor[v]; !ok && v != viaStandalone {
			return fmt.Errorf("-via %s: want standalone, nginx-fcgi or apache-fcgi", v)
		}
	}
	for _, bin := range []*string{&o.server, &o.syncload} {
		if _, err := os.Stat(*bin); err != nil {
			return fmt.Errorf("%w (make build, and go build -o bin/syncload ./cmd/syncload)", err)
		}
		// The server runs in its temporary directory.
		abs, err := filepath.Abs(*bin)
		if err != nil {
			return err
		}
		*bin = abs
	}
	rows := make(map[string][]result)
	for _, sc := range o.scenarios {
		for i := range o.runs {
			for _, via := range o.via {
				k := rowKey(sc, via)
				fmt.Fprintf(os.Stderr, "benchreport: %s, run %d of %d\n", k, i+1, o.runs)
				r, err := runOne(o, sc, via)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				rows[k] = append(rows[k], r)
			}
		}
	}
	table := render(o, rows)
	if o.out == "" {
		_, err := os.Stdout.WriteString(table)
		return err
	}
	return os.WriteFile(o.out, []byte(table), 0o644)
}

// runOne starts a server (and the web server of via), loads it with
// scenario sc and stops them.
func runOne(o options, sc, via string) (result, error) {
	dir, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	// The web server's workers (www-data when run as root) reach the
	// socket through it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return result{}, err
	}
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	sync := ""
	if o.synchronous != "" {
		sync = fmt.Sprintf("\n[storage]\nsqlite_synchronous = %q\n", o.synchronous)
	}
	socket := filepath.Join(dir, "fcgi.sock")
	// Under FastCGI, host and port are not listened on. The socket is
	// open to all: it is in this run's own directory, and the web
	// server's workers may run as another user.
	// The token scenario's JWTs are signed with a key of this run, which
	// the server's static key set holds.
	jwtKey := filepath.Join(dir, "jwt.pem")
	jwks, err := exec.Command(o.syncload, "-jwt-key", jwtKey, "-print-jwks").Output()
	if err != nil {
		return result{}, fmt.Errorf("syncload -print-jwks: %w", err)
	}
	cfg := fmt.Sprintf(`["server:main"]
host = "127.0.0.1"
port = %d
socket_mode = "0666"

[syncserver]
public_url = "%s/"
secret = "%s"
sqluri = "sqlite:///%s"

[oauth]
jwks = '%s'
%s`, port, url, hex.EncodeToString(secret), filepath.Join(dir, "syncserver.db"), strings.TrimSpace(string(jwks)), sync)
	cfgPath := filepath.Join(dir, "syncserver.ini")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return result{}, err
	}
	args := []string{"-config", cfgPath}
	if via != viaStandalone {
		args = append(args, "-fcgi", "unix:"+socket)
	}
	var serverLog bytes.Buffer
	srv := exec.Command(o.server, args...)
	srv.Dir = dir
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	pid := srv.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer stop(pid, exited)

	webPID := 0
	if via != viaStandalone {
		if err := waitSocket(socket, exited); err != nil {
			return result{}, fmt.Errorf("%w; server output:\n%s", err, serverLog.String())
		}
		sn, err := snippet(o.snippets, snippetFor[via])
		if err != nil {
			return result{}, err
		}
		site, err := localSite(sn, port, socket)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", snippetFor[via], err)
		}
		web, err := startWebServer(via, dir, site, port, o)
		if err != nil {
			return result{}, err
		}
		defer web.stop()
		if err := waitUp(url, web.exited); err != nil {
			return result{}, fmt.Errorf("%s: %w; its output:\n%s\nserver output:\n%s", via, err, web.logs(), serverLog.String())
		}
		webPID = web.pid
	} else if err := waitUp(url, exited); err != nil {
		return result{}, fmt.Errorf("%w; server output:\n%s", err, serverLog.String())
	}

	users := o.users
	if sc == "s6" {
		users *= 10
	}
	// The set-up of s6 (1,000 users' records) takes a while; anything
	// beyond this is a hang.
	ctx, cancel := context.WithTimeout(context.Background(), o.warmup+o.duration+5*time.Minute)
	defer cancel()
	load := exec.CommandContext(ctx, o.syncload, "-url", url, "-secret", hex.EncodeToString(secret), "-scenario", sc,
		"-c", strconv.Itoa(o.clients), "-d", o.duration.String(), "-warmup", o.warmup.String(),
		"-users", strconv.Itoa(users), "-jwt-key", jwtKey)
	stderr, err := load.StderrPipe()
	if err != nil {
		return result{}, err
	}
	var stdout bytes.Buffer
	load.Stdout = &stdout
	if err := load.Start(); err != nil {
		return result{}, err
	}
	// syncload marks its measured window on stderr; the CPU times are
	// sampled at its two ends.
	var begin, end cpuSample
	var marks int
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		switch lines.Text() {
		case "syncload: measuring":
			begin = sampleCPU(pid, webPID, load.Process.Pid)
			marks++
		case "syncload: measured":
			end = sampleCPU(pid, webPID, load.Process.Pid)
			marks++
		}
	}
	if err := load.Wait(); err != nil {
		return result{}, fmt.Errorf("syncload: %w: %s", err, stdout.String())
	}
	r, err := parse(stdout.String())
	if err != nil {
		return result{}, err
	}
	if marks == 2 && r.requests > 0 {
		per := func(a, b time.Duration) time.Duration { return (b - a) / time.Duration(r.requests) }
		r.cpuServer, r.cpuWeb, r.cpuLoad = per(begin.server, end.server), per(begin.web, end.web), per(begin.load, end.load)
	}
	r.rssKB, err = peakRSS(pid)
	return r, err
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitUp waits up to 30 s for the server's /__lbheartbeat__.
func waitUp(url string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the server exited: %v", err)
		default:
		}
		resp, err := http.Get(url + "/__lbheartbeat__")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the server did not answer within 30 s")
}

// stop ends the server it started: SIGTERM, then SIGKILL after 10 s.
func stop(pid int, exited <-chan error) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
}

// peakRSS is the process's VmHWM in KiB.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's peak RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in the server's /proc status")
}

// parse reads syncload's summary line ("rps=… p50=… p99=… errors=…").
func parse(out string) (result, error) {
	var r result
	fields := make(map[string]string)
	for _, f := range strings.Fields(out) {
		if k, v, ok := strings.Cut(f, "="); ok {
			fields[k] = v
		}
	}
	var err error
	if r.rps, err = strconv.ParseFloat(fields["rps"], 64); err != nil {
		return r, fmt.Errorf("no rps in syncload's output %q", out)
	}
	if r.p50, err = time.ParseDuration(fields["p50"]); err != nil {
		return r, fmt.Errorf("no p50 in syncload's output %q", out)
	}
	if r.p99, err = time.ParseDuration(fields["p99"]); err != nil {
		return r, fmt.Errorf("no p99 in syncload's output %q", out)
	}
	if r.errors, err = strconv.ParseInt(fields["errors"], 10, 64); err != nil {
		return r, fmt.Errorf("no errors count in syncload's output %q", out)
	}
	if r.requests, err = strconv.ParseInt(fields["requests"], 10, 64); err != nil {
		return r, fmt.Errorf("no requests count in syncload's output %q", out)
	}
	return r, nil
}

// median of xs (the lower middle one for an even count).
func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func render(o options, rows map[string][]result) string {
	var b strings.Builder
	what := "one run"
	if o.runs > 1 {
		what = fmt.Sprintf("medians of %d runs", o.runs)
	}
	fmt.Fprintf(&b, "syncload, %d clients, %s measured after %s of warm-up, %s; a fresh server on sqlite for each run\n\n",
		o.clients, o.duration, o.warmup, what)
	b.WriteString("| scenario | requests/s | p50 | p99 | errors | RSS peak | CPU µs/request: server, web server, syncload | of standalone |\n|---|---|---|---|---|---|---|---|\n")
	for _, sc := range o.scenarios {
		var alone float64
		for _, via := range o.via {
			k := rowKey(sc, via)
			rs := rows[k]
			pick := func(f func(result) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				return median(v)
			}
			rps := pick(func(r result) float64 { return r.rps })
			p50 := time.Duration(pick(func(r result) float64 { return float64(r.p50) }))
			p99 := time.Duration(pick(func(r result) float64 { return float64(r.p99) }))
			errs := int64(pick(func(r result) float64 { return float64(r.errors) }))
			rss := pick(func(r result) float64 { return float64(r.rssKB) })
			cpu := func(f func(result) time.Duration) string {
				return fmt.Sprintf("%.0f", pick(func(r result) float64 { return float64(f(r)) })/1e3)
			}
			cpus := cpu(func(r result) time.Duration { return r.cpuServer })
			if via != viaStandalone {
				cpus += ", " + cpu(func(r result) time.Duration { return r.cpuWeb })
			} else {
				cpus += ", –"
			}
			cpus += ", " + cpu(func(r result) time.Duration { return r.cpuLoad })
			ratio := "–"
			if via == viaStandalone {
				alone = rps
			} else if alone > 0 {
				ratio = fmt.Sprintf("%.0f %%", 100*rps/alone)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.0f MB | %s | %s |\n", k, thousands(rps), ms(p50), ms(p99), errs, rss/1024, cpus, ratio)
		}
	}
	return b.String()
}

// ms formats d in milliseconds with two significant decimals below 10.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// thousands formats v rounded, with commas: 12,345.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
