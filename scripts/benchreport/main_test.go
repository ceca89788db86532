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
