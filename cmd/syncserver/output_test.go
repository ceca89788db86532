package main

import (
	"flag"
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "700": 700, "10KB": 10_000, "2 MiB": 2 << 20, "1g": 1 << 30, "3GB": 3e9} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "1.5GB", "-1", "5 parsecs"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[int64]string{-1: "unknown", 0: "0 B", 1023: "1023 B", 1536: "1.50 KiB", 50 << 20: "50.0 MiB", 300 << 30: "300 GiB"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	yes := fs.Bool("yes", false, "")
	var d durationFlag
	fs.Var(&d, "grace", "")
	pos, err := parseInterleaved(fs, []string{"a", "--yes", "b", "--grace", "36h", "--", "--c"})
	if err != nil || !slices.Equal(pos, []string{"a", "b", "--c"}) || !*yes || d.d != 36*time.Hour {
		t.Errorf("got %q %v %v %v", pos, *yes, d.d, err)
	}
	if _, err := parseInterleaved(fs, []string{"a", "--nope"}); err == nil {
		t.Error("an unknown flag after an argument was accepted")
	}
}
