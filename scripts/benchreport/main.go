// Command benchreport runs the syncload scenarios against a fresh
// syncserver on loopback and prints one Markdown table of the results
// (requests/s, p50, p99, errors, the server's peak RSS), so that the
// README's figures come from one command: `make bench-report`.
//
// For every scenario and run it starts its own server (the binary -server
// names, on a free loopback port, with a new sqlite database and a random
// secret in a temporary directory), waits for it to answer, runs syncload
// for -d after -warmup, reads the server's peak RSS (VmHWM, Linux) and
// stops the server by its PID. With -runs above 1 each figure is the
// median of the runs. Bounded in time: about (warmup + d + set-up) per
// scenario and run.
//
// With -peer-cmd it measures another Sync 1.5 server side by side: each
// run of a scenario against syncserver is followed by the same run against
// a fresh peer, and the table gives both and their ratio. The command runs
// through sh with BENCH_PORT (a free loopback port), BENCH_SECRET (the
// shared token secret, hex), BENCH_URL and BENCH_DIR (an empty directory
// for its data) in its environment; the peer must serve HTTP on
// 127.0.0.1:$BENCH_PORT and accept tokenlib tokens signed with that
// secret. -peer-storage-path is where it keeps the storage API. It runs
// as `sh -c "exec CMD"`; a script named there should exec the server in
// turn (`exec env PORT="$BENCH_PORT" … server`), so that the PID
// benchreport stops and reads the RSS of is the server's.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	server, syncload string
	scenarios        []string
	clients          int
	users            int
	duration, warmup time.Duration
	runs             int
	out              string
	synchronous      string
	peerCmd          string
	peerName         string
	peerStoragePath  string
}

// target is a server to measure: syncserver, or the peer of -peer-cmd.
type target struct {
	name string
	// start starts it in dir, listening on port, with the token secret.
	start       func(o options, dir string, port int, secret string) *exec.Cmd
	storagePath string
	// readyPath is fetched until it answers; any status counts when
	// anyStatus is set (a peer need not have /__lbheartbeat__).
	readyPath string
	anyStatus bool
}

// result is one syncload run of one scenario.
type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
	rssKB    int64
}

func main() {
	var o options
	var scen string
	flag.StringVar(&o.server, "server", "bin/syncserver", "the syncserver binary")
	flag.StringVar(&o.syncload, "syncload", "bin/syncload", "the syncload binary")
	flag.StringVar(&scen, "scenarios", "lbheartbeat,s1,get100,post100,s6", "comma-separated syncload scenarios")
	flag.IntVar(&o.clients, "c", 32, "concurrent clients")
	flag.IntVar(&o.users, "users", 100, "distinct users (s6 uses 10 times as many)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "measured duration of each run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up of each run")
	flag.IntVar(&o.runs, "runs", 1, "runs of each scenario; the table gives their medians")
	flag.StringVar(&o.out, "o", "", "write the table to this file instead of stdout")
	flag.StringVar(&o.synchronous, "synchronous", "", "sqlite synchronous of the server (default: the server's)")
	flag.StringVar(&o.peerCmd, "peer-cmd", "", "shell command starting another Sync 1.5 server to measure side by side (see the package comment)")
	flag.StringVar(&o.peerName, "peer-name", "peer", "the peer's name in the table")
	flag.StringVar(&o.peerStoragePath, "peer-storage-path", "/1.5", "path of the peer's storage API, before /{uid}")
	flag.Parse()
	for _, s := range strings.Split(scen, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.scenarios = append(o.scenarios, s)
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.runs < 1 || o.clients < 1 || o.duration <= 0 {
		return errors.New("-runs, -c and -d must be positive")
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
	targets := []target{{name: "syncserver", start: startSyncserver, storagePath: "/storage/1.5", readyPath: "/__lbheartbeat__"}}
	if o.peerCmd != "" {
		targets = append(targets, target{name: o.peerName, start: startPeer, storagePath: o.peerStoragePath, readyPath: "/", anyStatus: true})
	}
	rows := make([]map[string][]result, len(targets))
	for i := range rows {
		rows[i] = make(map[string][]result)
	}
	for _, sc := range o.scenarios {
		for i := range o.runs {
			// Alternate the servers run by run, so that a noisy minute
			// of the shared machine hits both.
			for ti, tg := range targets {
				if tg.anyStatus && sc == "lbheartbeat" {
					continue // syncserver's own route
				}
				fmt.Fprintf(os.Stderr, "benchreport: %s on %s, run %d of %d\n", sc, tg.name, i+1, o.runs)
				r, err := runOne(o, tg, sc)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", sc, tg.name, err)
				}
				rows[ti][sc] = append(rows[ti][sc], r)
			}
		}
	}
	var table string
	if len(targets) == 1 {
		table = render(o, rows[0])
	} else {
		table = renderSideBySide(o, targets[1].name, rows[0], rows[1])
	}
	if o.out == "" {
		_, err := os.Stdout.WriteString(table)
		return err
	}
	return os.WriteFile(o.out, []byte(table), 0o644)
}

// startSyncserver writes a configuration for syncserver into dir and
// returns the command that runs it.
func startSyncserver(o options, dir string, port int, secret string) *exec.Cmd {
	sync := ""
	if o.synchronous != "" {
		sync = fmt.Sprintf("\n[storage]\nsqlite_synchronous = %q\n", o.synchronous)
	}
	cfg := fmt.Sprintf(`["server:main"]
host = "127.0.0.1"
port = %d

[syncserver]
public_url = "http://127.0.0.1:%d/"
secret = "%s"
sqluri = "sqlite:///%s"
%s`, port, port, secret, filepath.Join(dir, "syncserver.db"), sync)
	cfgPath := filepath.Join(dir, "syncserver.ini")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		// Start reports the missing file with the server's own words.
		fmt.Fprintln(os.Stderr, "benchreport:", err)
	}
	return exec.Command(o.server, "-config", cfgPath)
}

// startPeer returns the command of -peer-cmd with the BENCH_* variables.
func startPeer(o options, dir string, port int, secret string) *exec.Cmd {
	data := filepath.Join(dir, "data")
	_ = os.Mkdir(data, 0o700)
	// exec: the shell becomes the command, so that the PID benchreport
	// stops and reads the RSS of is the server's, not a shell's.
	cmd := exec.Command("/bin/sh", "-c", "exec "+o.peerCmd)
	cmd.Env = append(os.Environ(),
		"BENCH_PORT="+strconv.Itoa(port), "BENCH_SECRET="+secret,
		fmt.Sprintf("BENCH_URL=http://127.0.0.1:%d", port), "BENCH_DIR="+data)
	return cmd
}

// runOne starts a server, loads it with scenario sc and stops it.
func runOne(o options, tg target, sc string) (result, error) {
	dir, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	raw := make([]byte, 16)
	rand.Read(raw)
	secret := hex.EncodeToString(raw)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	var serverLog tailBuffer
	srv := tg.start(o, dir, port, secret)
	srv.Dir = dir
	srv.Stdout, srv.Stderr = &serverLog, &serverLog
	// Should the server leave a child holding its output open, Wait
	// returns anyway once the server itself has gone.
	srv.WaitDelay = 5 * time.Second
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	pid := srv.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer stop(pid, exited)
	if err := waitUp(url+tg.readyPath, tg.anyStatus, exited); err != nil {
		return result{}, fmt.Errorf("%w; server output:\n%s", err, serverLog.String())
	}

	users := o.users
	switch sc {
	case "s6":
		users *= 10
	case "s5":
		users *= 2 // Mozilla's load test: 200 users
	}
	// The set-up of s6 (1,000 users' records) takes a while; anything
	// beyond this is a hang.
	ctx, cancel := context.WithTimeout(context.Background(), o.warmup+o.duration+5*time.Minute)
	defer cancel()
	load := exec.CommandContext(ctx, o.syncload, "-url", url, "-secret", secret, "-scenario", sc,
		"-c", strconv.Itoa(o.clients), "-d", o.duration.String(), "-warmup", o.warmup.String(),
		"-users", strconv.Itoa(users), "-storage-path", tg.storagePath)
	load.Stderr = io.Discard
	out, err := load.Output()
	if err != nil {
		return result{}, fmt.Errorf("syncload: %w: %s", err, out)
	}
	r, err := parse(string(out))
	if err != nil {
		return result{}, err
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

// waitUp waits up to 30 s for url to answer 200, or anything at all
// with anyStatus.
func waitUp(url string, anyStatus bool, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
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
	b.WriteString("| scenario | requests/s | p50 | p99 | errors | RSS peak |\n|---|---|---|---|---|---|\n")
	for _, sc := range o.scenarios {
		rs := rows[sc]
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
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.0f MB |\n", sc, thousands(rps), ms(p50), ms(p99), errs, rss/1024)
	}
	return b.String()
}

// renderSideBySide is the table of syncserver beside the peer, with the
// ratio of their medians (requests/s).
func renderSideBySide(o options, peer string, ours, theirs map[string][]result) string {
	var b strings.Builder
	what := "one run each"
	if o.runs > 1 {
		what = fmt.Sprintf("medians of %d runs each", o.runs)
	}
	fmt.Fprintf(&b, "syncload, %d clients, %s measured after %s of warm-up, %s, the servers alternating; a fresh server on sqlite for each run\n\n",
		o.clients, o.duration, o.warmup, what)
	fmt.Fprintf(&b, "| scenario | syncserver req/s | p50 | p99 | errors | RSS peak | %s req/s | p50 | p99 | errors | RSS peak | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", peer)
	for _, sc := range o.scenarios {
		a := medians(ours[sc])
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %.0f MB |", sc, thousands(a.rps), ms(a.p50), ms(a.p99), a.errors, float64(a.rssKB)/1024)
		if len(theirs[sc]) == 0 {
			b.WriteString(" — | — | — | — | — | — |\n")
			continue
		}
		p := medians(theirs[sc])
		fmt.Fprintf(&b, " %s | %s | %s | %d | %.0f MB | %.2f× |\n", thousands(p.rps), ms(p.p50), ms(p.p99), p.errors, float64(p.rssKB)/1024, a.rps/p.rps)
	}
	return b.String()
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
	return result{
		rps:    pick(func(r result) float64 { return r.rps }),
		p50:    time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:    time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		errors: int64(pick(func(r result) float64 { return float64(r.errors) })),
		rssKB:  int64(pick(func(r result) float64 { return float64(r.rssKB) })),
	}
}

// tailBuffer keeps the last 64 KiB written to it: a server's output,
// shown when it fails to start, without holding a whole run's access log.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	const max = 64 << 10
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > max {
		t.b = append(t.b[:0], t.b[len(t.b)-max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
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
