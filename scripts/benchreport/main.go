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
//
// -peer-cmd measures another Sync 1.5 server side by side: each run of a
// scenario against the standalone syncserver is followed by the same run
// against a fresh instance of the other server, a row of its own, and a
// last column gives syncserver's requests/s over the other's. The command
// runs as `sh -c "exec CMD"` with BENCH_PORT (a free loopback port),
// BENCH_SECRET (the token secret, hex), BENCH_URL and BENCH_DIR (an empty
// directory for its data) in its environment; the server must serve HTTP
// on 127.0.0.1:$BENCH_PORT and accept the tokenlib tokens syncload makes
// with that secret, its storage API at -peer-storage-path. A script named
// there should exec the server in turn, so that the PID stopped and read
// for CPU and RSS is the server's. lbheartbeat and token are syncserver's
// own routes and run on syncserver only.
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
	"maps"
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
	// The other Sync 1.5 server measured side by side (-peer-cmd).
	peerCmd, peerName string
	peerStoragePath   string
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
	// ops are the p99 latencies of each kind of request of a mix (s5,
	// s6), by the name syncload gives it.
	ops map[string]time.Duration
}

func main() {
	var o options
	var scen, via string
	flag.StringVar(&o.server, "server", "bin/syncserver", "the syncserver binary")
	flag.StringVar(&o.syncload, "syncload", "bin/syncload", "the syncload binary")
	flag.StringVar(&scen, "scenarios", "lbheartbeat,s1,get100,post100,s6,token", "comma-separated syncload scenarios")
	flag.IntVar(&o.clients, "c", 32, "concurrent clients")
	flag.IntVar(&o.users, "users", 100, "distinct users (s6 uses 10 times as many, s5 twice as many)")
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
	flag.StringVar(&o.peerCmd, "peer-cmd", "", "shell command starting another Sync 1.5 server to measure side by side (see the package comment)")
	flag.StringVar(&o.peerName, "peer-name", "peer", "the other server's name in the table (-peer-cmd)")
	flag.StringVar(&o.peerStoragePath, "peer-storage-path", "/1.5", "path of the other server's storage API, before /{uid} (-peer-cmd)")
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
	// The other server is compared with syncserver's own HTTP server:
	// a web server in front of one side only would measure the hop.
	if o.peerCmd != "" && !slices.Contains(o.via, viaStandalone) {
		return errors.New("-peer-cmd is compared with the standalone server: add standalone to -via")
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
			// Paths and servers alternate run by run, so that a noisy
			// minute of the shared machine falls on all of them.
			for _, via := range o.via {
				k := rowKey(sc, via)
				fmt.Fprintf(os.Stderr, "benchreport: %s, run %d of %d\n", k, i+1, o.runs)
				r, err := runOne(o, sc, via, false)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				rows[k] = append(rows[k], r)
			}
			if o.peerCmd != "" && peerRuns(sc) {
				k := peerKey(o, sc)
				fmt.Fprintf(os.Stderr, "benchreport: %s, run %d of %d\n", k, i+1, o.runs)
				r, err := runOne(o, sc, viaStandalone, true)
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

// server is a running server of a run, ready for syncload.
type server struct {
	url, secret string
	storagePath string
	jwtKey      string // the token scenario's signing key; empty for the peer
	pid, webPID int    // webPID is 0 without a web server in front
}

// runOne starts a server (syncserver on path via, or the peer), loads it
// with scenario sc and stops it.
func runOne(o options, sc, via string, peer bool) (result, error) {
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
	raw := make([]byte, 16)
	rand.Read(raw)
	secret := hex.EncodeToString(raw)
	var s server
	var cleanup func()
	if peer {
		s, cleanup, err = startPeer(o, dir, port, secret)
	} else {
		s, cleanup, err = startSyncserver(o, dir, port, secret, via)
	}
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		return result{}, err
	}
	return load(o, sc, s)
}

// startSyncserver starts syncserver in dir on path via, and waits until it
// answers. cleanup, when not nil, stops what was started, even on error.
func startSyncserver(o options, dir string, port int, secret, via string) (s server, cleanup func(), err error) {
	s = server{url: fmt.Sprintf("http://127.0.0.1:%d", port), secret: secret, storagePath: "/storage/1.5"}
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
	s.jwtKey = filepath.Join(dir, "jwt.pem")
	jwks, err := exec.Command(o.syncload, "-jwt-key", s.jwtKey, "-print-jwks").Output()
	if err != nil {
		return s, nil, fmt.Errorf("syncload -print-jwks: %w", err)
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
%s`, port, s.url, secret, filepath.Join(dir, "syncserver.db"), strings.TrimSpace(string(jwks)), sync)
	cfgPath := filepath.Join(dir, "syncserver.ini")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return s, nil, err
	}
	args := []string{"-config", cfgPath}
	if via != viaStandalone {
		args = append(args, "-fcgi", "unix:"+socket)
	}
	// The access log of a whole run is long; only its end can explain a
	// failed start.
	var serverLog tailBuffer
	srv := exec.Command(o.server, args...)
	srv.Dir = dir
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	if err := srv.Start(); err != nil {
		return s, nil, err
	}
	s.pid = srv.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stops := []func(){func() { stop(s.pid, exited) }}
	cleanup = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}

	if via == viaStandalone {
		if err := waitUp(s.url+"/__lbheartbeat__", false, exited); err != nil {
			return s, cleanup, fmt.Errorf("%w; server output:\n%s", err, serverLog.String())
		}
		return s, cleanup, nil
	}
	if err := waitSocket(socket, exited); err != nil {
		return s, cleanup, fmt.Errorf("%w; server output:\n%s", err, serverLog.String())
	}
	sn, err := snippet(o.snippets, snippetFor[via])
	if err != nil {
		return s, cleanup, err
	}
	site, err := localSite(sn, port, socket)
	if err != nil {
		return s, cleanup, fmt.Errorf("%s: %w", snippetFor[via], err)
	}
	web, err := startWebServer(via, dir, site, port, o)
	if err != nil {
		return s, cleanup, err
	}
	stops = append(stops, web.stop)
	if err := waitUp(s.url+"/__lbheartbeat__", false, web.exited); err != nil {
		return s, cleanup, fmt.Errorf("%s: %w; its output:\n%s\nserver output:\n%s", via, err, web.logs(), serverLog.String())
	}
	s.webPID = web.pid
	return s, cleanup, nil
}

// usersFor is the -users of syncload for scenario sc.
func usersFor(o options, sc string) int {
	switch sc {
	case "s6":
		return 10 * o.users // 1,000 users: the blend's database of many accounts
	case "s5":
		return 2 * o.users // Mozilla's load test: 200 users
	}
	return o.users
}

// load runs syncload's scenario sc against s, and reads the server's CPU
// time over the measured window and its peak RSS.
func load(o options, sc string, s server) (result, error) {
	// The set-up of s6 (1,000 users' records) takes a while; anything
	// beyond this is a hang.
	ctx, cancel := context.WithTimeout(context.Background(), o.warmup+o.duration+5*time.Minute)
	defer cancel()
	args := []string{"-url", s.url, "-secret", s.secret, "-scenario", sc,
		"-c", strconv.Itoa(o.clients), "-d", o.duration.String(), "-warmup", o.warmup.String(),
		"-users", strconv.Itoa(usersFor(o, sc)), "-storage-path", s.storagePath}
	if s.jwtKey != "" {
		args = append(args, "-jwt-key", s.jwtKey)
	}
	cmd := exec.CommandContext(ctx, o.syncload, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{}, err
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
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
			begin = sampleCPU(s.pid, s.webPID, cmd.Process.Pid)
			marks++
		case "syncload: measured":
			end = sampleCPU(s.pid, s.webPID, cmd.Process.Pid)
			marks++
		}
	}
	if err := cmd.Wait(); err != nil {
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
	r.rssKB, err = peakRSS(s.pid)
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

// waitUp waits up to 30 s for url to answer 200, or anything at all with
// anyStatus (another server need not have syncserver's /__lbheartbeat__).
func waitUp(url string, anyStatus bool, exited chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // for stop, which waits for it too
			return fmt.Errorf("the server exited: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || anyStatus {
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

// parse reads syncload's summary line ("rps=… p50=… p99=… errors=…") and,
// for a mix, its lines per kind of request (`op "NAME": … p99=…`).
func parse(out string) (result, error) {
	var r result
	fields := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "op "); ok {
			name, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return r, fmt.Errorf("a bad operation line in syncload's output: %q", line)
			}
			op, _ := strconv.Unquote(name)
			for _, f := range strings.Fields(rest[len(name):]) {
				if v, ok := strings.CutPrefix(f, "p99="); ok {
					d, err := time.ParseDuration(v)
					if err != nil {
						return r, fmt.Errorf("a bad p99 in syncload's output: %q", line)
					}
					if r.ops == nil {
						r.ops = make(map[string]time.Duration)
					}
					r.ops[op] = d
				}
			}
			continue
		}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
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

// medians is the result made of each figure's median over rs.
func medians(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	dur := func(f func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) float64 { return float64(f(r)) }))
	}
	// An operation's p99 is the median over the runs that had it.
	var ops map[string]time.Duration
	for _, r := range rs {
		for op := range r.ops {
			if ops == nil {
				ops = make(map[string]time.Duration)
			}
			if _, done := ops[op]; done {
				continue
			}
			var v []time.Duration
			for _, r := range rs {
				if d, ok := r.ops[op]; ok {
					v = append(v, d)
				}
			}
			ops[op] = median(v)
		}
	}
	return result{
		ops:       ops,
		rps:       pick(func(r result) float64 { return r.rps }),
		p50:       dur(func(r result) time.Duration { return r.p50 }),
		p99:       dur(func(r result) time.Duration { return r.p99 }),
		errors:    int64(pick(func(r result) float64 { return float64(r.errors) })),
		requests:  int64(pick(func(r result) float64 { return float64(r.requests) })),
		rssKB:     int64(pick(func(r result) float64 { return float64(r.rssKB) })),
		cpuServer: dur(func(r result) time.Duration { return r.cpuServer }),
		cpuWeb:    dur(func(r result) time.Duration { return r.cpuWeb }),
		cpuLoad:   dur(func(r result) time.Duration { return r.cpuLoad }),
	}
}

// render is the Markdown table: per scenario a row for each path, then the
// other server's row with -peer-cmd. "of standalone" is a path's
// requests/s as a share of the standalone server's; with -peer-cmd a last
// column gives the standalone server's requests/s over the other's.
func render(o options, rows map[string][]result) string {
	var b strings.Builder
	what := "one run"
	if o.runs > 1 {
		what = fmt.Sprintf("medians of %d runs", o.runs)
	}
	fresh := "a fresh server on sqlite for each run"
	if o.peerCmd != "" {
		fresh = fmt.Sprintf("a fresh server on sqlite for each run, syncserver and %s alternating run by run", o.peerName)
	}
	fmt.Fprintf(&b, "syncload, %d clients, %s measured after %s of warm-up, %s; %s\n\n",
		o.clients, o.duration, o.warmup, what, fresh)
	b.WriteString("| scenario | requests/s | p50 | p99 | errors | RSS peak | CPU µs/request: server, web server, syncload | of standalone |")
	if o.peerCmd != "" {
		fmt.Fprintf(&b, " syncserver ÷ %s |\n|---|---|---|---|---|---|---|---|---|\n", o.peerName)
	} else {
		b.WriteString("\n|---|---|---|---|---|---|---|---|\n")
	}
	row := func(k string, m result, web bool, share, ratio string) {
		us := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e3) }
		cpus := us(m.cpuServer) + ", –, " + us(m.cpuLoad)
		if web {
			cpus = us(m.cpuServer) + ", " + us(m.cpuWeb) + ", " + us(m.cpuLoad)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.0f MB | %s | %s |", k, thousands(m.rps), ms(m.p50), ms(m.p99), m.errors, float64(m.rssKB)/1024, cpus, share)
		if o.peerCmd != "" {
			b.WriteString(" " + ratio + " |")
		}
		b.WriteString("\n")
	}
	for _, sc := range o.scenarios {
		var peer *result
		if rs := rows[peerKey(o, sc)]; o.peerCmd != "" && len(rs) > 0 {
			m := medians(rs)
			peer = &m
		}
		var alone float64
		for _, via := range o.via {
			k := rowKey(sc, via)
			if len(rows[k]) == 0 {
				continue
			}
			m := medians(rows[k])
			share, ratio := "–", "–"
			if via == viaStandalone {
				alone = m.rps
				if peer != nil && peer.rps > 0 {
					ratio = fmt.Sprintf("%.2f×", m.rps/peer.rps)
				}
			} else if alone > 0 {
				share = fmt.Sprintf("%.0f %%", 100*m.rps/alone)
			}
			row(k, m, via != viaStandalone, share, ratio)
		}
		if peer != nil {
			row(peerKey(o, sc), *peer, false, "–", "–")
		}
	}
	renderOps(&b, o, rows)
	return b.String()
}

// renderOps adds, for each mix, a table of the p99 of each kind of
// request on each path and server: a bound on "every operation" is read
// there, not off the mix's overall p99.
func renderOps(b *strings.Builder, o options, rows map[string][]result) {
	for _, sc := range o.scenarios {
		var candidates []string
		for _, via := range o.via {
			candidates = append(candidates, rowKey(sc, via))
		}
		if o.peerCmd != "" {
			candidates = append(candidates, peerKey(o, sc))
		}
		var keys []string
		ops := make(map[string]map[string]time.Duration) // by key
		names := make(map[string]bool)
		for _, key := range candidates {
			if len(rows[key]) == 0 {
				continue
			}
			m := medians(rows[key])
			if len(m.ops) == 0 {
				continue
			}
			keys = append(keys, key)
			ops[key] = m.ops
			for op := range m.ops {
				names[op] = true
			}
		}
		if len(keys) == 0 {
			continue
		}
		fmt.Fprintf(b, "\np99 of each request of %s:\n\n| request | %s |\n|---|%s\n", sc,
			strings.Join(keys, " | "), strings.Repeat("---|", len(keys)))
		for _, op := range slices.Sorted(maps.Keys(names)) {
			fmt.Fprintf(b, "| %s |", op)
			for _, k := range keys {
				if d, ok := ops[k][op]; ok {
					fmt.Fprintf(b, " %s |", ms(d))
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteString("\n")
		}
	}
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
