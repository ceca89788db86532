package main

import (
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
