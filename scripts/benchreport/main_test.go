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
	o := options{scenarios: []string{"s1"}, clients: 32, duration: 10 * time.Second, warmup: 2 * time.Second, runs: 3}
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

func TestRenderSideBySide(t *testing.T) {
	o := options{scenarios: []string{"lbheartbeat", "s1"}, clients: 16, duration: 10 * time.Second, warmup: 2 * time.Second, runs: 3}
	ours := map[string][]result{
		"lbheartbeat": {{rps: 50000, rssKB: 20 * 1024}},
		"s1":          {{rps: 30000, p99: 4 * time.Millisecond, rssKB: 30 * 1024}, {rps: 20000}, {rps: 25000}},
	}
	theirs := map[string][]result{"s1": {{rps: 8000, p99: 9 * time.Millisecond}, {rps: 10000, p99: 7 * time.Millisecond, rssKB: 50 * 1024}, {rps: 12000, p99: 5 * time.Millisecond, rssKB: 60 * 1024}}}
	got := renderSideBySide(o, "other", ours, theirs)
	for _, want := range []string{
		"| other req/s |",
		"| s1 | 25,000 |",
		"| 10,000 | 0.00 ms | 7.00 ms | 0 | 50 MB | 2.50× |",
		"| lbheartbeat | 50,000 | 0.00 ms | 0.00 ms | 0 | 20 MB | — |",
		"medians of 3 runs each",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("renderSideBySide lacks %q:\n%s", want, got)
		}
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	var b tailBuffer
	for i := range 20000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	s := b.String()
	if len(s) > 64<<10 || !strings.HasSuffix(s, "line 19999\n") || strings.Contains(s, "line 1\n") {
		t.Errorf("tail of %d bytes ends %q", len(s), s[len(s)-20:])
	}
}
