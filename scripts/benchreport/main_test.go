package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	r, err := parse("scenario=s1 clients=32 duration=10s requests=100 rps=12345.6 p50=1.234ms p95=2ms p99=11.5ms errors=3 status=map[200:97 304:3]\n")
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 12345.6 || r.p50 != 1234*time.Microsecond || r.p99 != 11500*time.Microsecond || r.errors != 3 {
		t.Errorf("parse = %+v", r)
	}
	if _, err := parse("syncload: connection refused"); err == nil {
		t.Error("parse of an error line: no error")
	}
}

func TestRenderMedians(t *testing.T) {
	o := options{scenarios: []string{"s1"}, via: []string{viaStandalone}, clients: 32, duration: 10 * time.Second, warmup: 2 * time.Second, runs: 3}
	rows := map[string][]result{"s1": {
		{rps: 9000, p50: 3 * time.Millisecond, p99: 20 * time.Millisecond, rssKB: 40 * 1024},
		{rps: 12000, p50: time.Millisecond, p99: 9 * time.Millisecond, rssKB: 30 * 1024},
		{rps: 10500.4, p50: 2 * time.Millisecond, p99: 12 * time.Millisecond, errors: 1, rssKB: 35 * 1024},
	}}
	got := render(o, rows)
	if !strings.Contains(got, "| s1 | 10,500 | 2.00 ms | 12 ms | 0 | 35 MB |") || !strings.Contains(got, "medians of 3 runs") {
		t.Errorf("render =\n%s", got)
	}
}

// TestLocalSite: the shipped unix-socket snippets become a plain-HTTP
// loopback site with the run's socket and nothing of TLS; their kept-open
// connection settings stay as shipped.
func TestLocalSite(t *testing.T) {
	for via, keep := range map[string]string{viaNginxFCGI: "fastcgi_keep_conn on;", viaApacheFCGI: "enablereuse=on"} {
		sn, err := snippet("../../syncserver.fcgi.conf", snippetFor[via])
		if err != nil {
			t.Fatal(err)
		}
		site, err := localSite(sn, 8123, "/tmp/x/fcgi.sock")
		if err != nil {
			t.Fatalf("%s: %v", via, err)
		}
		for _, want := range []string{"127.0.0.1:8123", "/tmp/x/fcgi.sock", keep} {
			if !strings.Contains(site, want) {
				t.Errorf("%s: no %q in\n%s", via, want, site)
			}
		}
		for _, gone := range []string{"ssl", "SSL", "/ff-sync/", "/run/syncserver"} {
			if strings.Contains(site, gone) {
				t.Errorf("%s: %q left in\n%s", via, gone, site)
			}
		}
	}
	if _, err := localSite("server { listen 80; }", 1, "/s"); err == nil {
		t.Error("a snippet without the lines to change: no error")
	}
}

func TestRenderPaths(t *testing.T) {
	o := options{scenarios: []string{"s1"}, via: []string{viaStandalone, viaNginxFCGI}, clients: 16, duration: time.Second, runs: 1}
	rows := map[string][]result{
		"s1":                {{rps: 10000, cpuServer: 60 * time.Microsecond, cpuLoad: 30 * time.Microsecond}},
		"s1 via nginx-fcgi": {{rps: 7000, cpuServer: 80 * time.Microsecond, cpuWeb: 40 * time.Microsecond, cpuLoad: 35 * time.Microsecond}},
	}
	got := render(o, rows)
	for _, want := range []string{"| s1 | 10,000 |", "| 60, –, 30 | – |", "| s1 via nginx-fcgi | 7,000 |", "| 80, 40, 35 | 70 % |"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}

// TestRenderPeer: with -peer-cmd each scenario the other server runs gets
// its row after syncserver's paths, the standalone row the ratio of the
// two servers' medians, a web-server path its share of standalone and no
// ratio; a scenario the other server does not run has no row of it.
func TestRenderPeer(t *testing.T) {
	o := options{scenarios: []string{"lbheartbeat", "s1"}, via: []string{viaStandalone, viaNginxFCGI},
		clients: 16, duration: 10 * time.Second, warmup: 2 * time.Second, runs: 3, peerCmd: "x", peerName: "other"}
	rows := map[string][]result{
		"lbheartbeat":                {{rps: 50000, rssKB: 20 * 1024}},
		"lbheartbeat via nginx-fcgi": {{rps: 20000}},
		"s1":                         {{rps: 30000, rssKB: 30 * 1024}, {rps: 20000}, {rps: 25000, p99: 4 * time.Millisecond, cpuServer: 50 * time.Microsecond, cpuLoad: 30 * time.Microsecond}},
		"s1 via nginx-fcgi":          {{rps: 10000}},
		"s1 on other": {{rps: 8000, p99: 9 * time.Millisecond}, {rps: 10000, p99: 7 * time.Millisecond, rssKB: 50 * 1024, cpuServer: 120 * time.Microsecond, cpuLoad: 40 * time.Microsecond},
			{rps: 12000, p99: 5 * time.Millisecond, rssKB: 60 * 1024}},
	}
	got := render(o, rows)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	want := []string{
		"| scenario | requests/s | p50 | p99 | errors | RSS peak | CPU µs/request: server, web server, syncload | of standalone | syncserver ÷ other |",
		"|---|---|---|---|---|---|---|---|---|",
		"| lbheartbeat | 50,000 | 0.00 ms | 0.00 ms | 0 | 20 MB | 0, –, 0 | – | – |",
		"| lbheartbeat via nginx-fcgi | 20,000 | 0.00 ms | 0.00 ms | 0 | 0 MB | 0, 0, 0 | 40 % | – |",
		"| s1 | 25,000 | 0.00 ms | 0.00 ms | 0 | 0 MB | 0, –, 0 | – | 2.50× |",
		"| s1 via nginx-fcgi | 10,000 | 0.00 ms | 0.00 ms | 0 | 0 MB | 0, 0, 0 | 40 % | – |",
		"| s1 on other | 10,000 | 0.00 ms | 7.00 ms | 0 | 50 MB | 0, –, 0 | – | – |",
	}
	if len(lines) != 2+len(want) {
		t.Fatalf("render =\n%s\nwant %d lines after the title", got, len(want))
	}
	if !strings.Contains(lines[0], "syncserver and other alternating") || !strings.Contains(lines[0], "medians of 3 runs") {
		t.Errorf("title %q", lines[0])
	}
	for i, w := range want {
		if lines[2+i] != w {
			t.Errorf("line %d\n got %s\nwant %s", 2+i, lines[2+i], w)
		}
	}
}

// TestRenderWithoutPeer: no ratio column unless -peer-cmd is given.
func TestRenderWithoutPeer(t *testing.T) {
	o := options{scenarios: []string{"s1"}, via: []string{viaStandalone}, clients: 1, duration: time.Second, runs: 1, peerName: "other"}
	got := render(o, map[string][]result{"s1": {{rps: 1}}, "s1 on other": {{rps: 2}}})
	if strings.Contains(got, "÷") || strings.Contains(got, "other") || strings.Count(strings.Split(got, "\n")[2], "|") != 9 {
		t.Errorf("render =\n%s", got)
	}
}

func TestUsersFor(t *testing.T) {
	o := options{users: 100}
	for sc, want := range map[string]int{"s1": 100, "post100": 100, "s5": 200, "s6": 1000} {
		if got := usersFor(o, sc); got != want {
			t.Errorf("usersFor(%s) = %d, want %d", sc, got, want)
		}
	}
}

func TestPeerRuns(t *testing.T) {
	for sc, want := range map[string]bool{"s1": true, "get100": true, "post100": true, "s5": true, "s6": true, "lbheartbeat": false, "token": false} {
		if got := peerRuns(sc); got != want {
			t.Errorf("peerRuns(%s) = %v, want %v", sc, got, want)
		}
	}
}

// TestRunOptions: options that cannot make a table are refused before any
// server starts.
func TestRunOptions(t *testing.T) {
	base := options{server: "/nonexistent", syncload: "/nonexistent", scenarios: []string{"s1"}, clients: 1, users: 1, duration: time.Second, runs: 1}
	for name, c := range map[string]struct {
		o    func(o *options)
		want string
	}{
		"peer without standalone": {func(o *options) { o.via = []string{viaNginxFCGI}; o.peerCmd = "true" }, "add standalone to -via"},
		"unknown path":            {func(o *options) { o.via = []string{"caddy"} }, "-via caddy"},
		"no runs":                 {func(o *options) { o.runs = 0 }, "must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			c.o(&o)
			err := run(o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run: %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	var b tailBuffer
	for i := range 20000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	s := b.String()
	if len(s) > tailMax || !strings.HasSuffix(s, "line 19999\n") || strings.Contains(s, "\nline 1\n") {
		t.Errorf("tail of %d bytes ends %q", len(s), s[len(s)-20:])
	}
}

// TestParseOps: the lines of a mix's requests give each one's p99, and do
// not overwrite the whole run's figures (they carry p50= and p99= too).
func TestParseOps(t *testing.T) {
	out := "scenario=s5 clients=32 duration=10s requests=100 rps=1000 p50=1ms p95=2ms p99=90ms errors=0 status=map[200:100]\n" +
		`op "GET newer": requests=60 p50=3ms p95=20ms p99=120ms max=300ms` + "\n" +
		`op "info/collections": requests=40 p50=0.5ms p95=1ms p99=2.5ms max=9ms` + "\n"
	r, err := parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.p50 != time.Millisecond || r.p99 != 90*time.Millisecond || r.requests != 100 {
		t.Errorf("the run's figures = %+v", r)
	}
	if r.ops["GET newer"] != 120*time.Millisecond || r.ops["info/collections"] != 2500*time.Microsecond || len(r.ops) != 2 {
		t.Errorf("ops = %v", r.ops)
	}
	if _, err := parse(out + "op GET: p99=1ms\n"); err == nil {
		t.Error("an operation line without a quoted name: no error")
	}
}

// TestRenderOps: a mix gets a table of each request's p99, the median of
// the runs, per path and server; a scenario without operations gets none.
func TestRenderOps(t *testing.T) {
	o := options{scenarios: []string{"s1", "s5"}, via: []string{viaStandalone}, clients: 32, duration: time.Second, runs: 3,
		peerCmd: "x", peerName: "other"}
	rows := map[string][]result{
		"s1": {{rps: 1}},
		"s5": {{ops: map[string]time.Duration{"POST": 10 * time.Millisecond, "GET newer": 50 * time.Millisecond}},
			{ops: map[string]time.Duration{"POST": 30 * time.Millisecond, "GET newer": 70 * time.Millisecond}},
			{ops: map[string]time.Duration{"POST": 20 * time.Millisecond, "GET newer": 60 * time.Millisecond, "DELETE storage": 5 * time.Millisecond}}},
		"s5 on other": {{ops: map[string]time.Duration{"POST": 200 * time.Millisecond}}},
	}
	got := render(o, rows)
	for _, want := range []string{
		"p99 of each request of s5:",
		"| request | s5 | s5 on other |",
		"| DELETE storage | 5.00 ms | – |",
		"| GET newer | 60 ms | – |",
		"| POST | 20 ms | 200 ms |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("render lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "of each request of s1") {
		t.Errorf("a table of requests for s1:\n%s", got)
	}
}
