package main

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"syncserver/internal/config"
	"syncserver/internal/testdb"
)

// TestMemoryLimit: serving sets memory_limit as the runtime's memory
// limit, unless GOMEMLIMIT is set or the limit is 0, and with it the
// collector's pace gcPercentUnderLimit, unless GOGC is set.
func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name       string
		limit      int64
		gomemlimit string
		gogc       string
		want       int64 // -1: not set
		wantGC     int   // -1: not set
	}{
		{"default", config.DefaultMemoryLimit, "", "", config.DefaultMemoryLimit, gcPercentUnderLimit},
		{"configured", 100 << 20, "", "", 100 << 20, gcPercentUnderLimit},
		{"GOMEMLIMIT wins", 100 << 20, "200MiB", "", -1, -1},
		{"GOGC wins", config.DefaultMemoryLimit, "", "100", config.DefaultMemoryLimit, -1},
		{"off", 0, "", "", -1, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default(t.TempDir())
			cfg.Server.MemoryLimit = c.limit
			got, gotGC := int64(-1), -1
			var logs bytes.Buffer
			m := &Main{
				Config: cfg,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Getenv: func(k string) string {
					switch k {
					case "GOMEMLIMIT":
						return c.gomemlimit
					case "GOGC":
						return c.gogc
					}
					return ""
				},
				SetMemoryLimit: func(n int64) int64 { got = n; return 0 },
				SetGCPercent:   func(n int) int { gotGC = n; return 100 },
			}
			m.applyMemoryLimit()
			if got != c.want {
				t.Errorf("memory limit set to %d, want %d (-1: not set); log:\n%s", got, c.want, logs.String())
			}
			if gotGC != c.wantGC {
				t.Errorf("GC percent set to %d, want %d (-1: not set); log:\n%s", gotGC, c.wantGC, logs.String())
			}
		})
	}
	if config.Default(t.TempDir()).Server.MemoryLimit != config.DefaultMemoryLimit {
		t.Errorf("memory_limit does not default to DefaultMemoryLimit")
	}
}

// TestBinaryTunesMemory: the real program applies memory_limit and the
// collector's pace to its own runtime (main wires them) and caps the C
// allocator's arenas, unless the environment sets its own GOGC.
func TestBinaryTunesMemory(t *testing.T) {
	testdb.SkipShort(t, "builds the binary")
	bin := buildBinary(t)
	limit := "memory_limit=" + strconv.Itoa(config.DefaultMemoryLimit)
	pace := "gc_percent=" + strconv.Itoa(gcPercentUnderLimit)
	for _, c := range []struct {
		name     string
		env      []string
		wantPace bool
	}{
		{"default", nil, true},
		{"GOGC wins", []string{"GOGC=100"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := writeConfig(t, minimalConfig)
			cmd, _, logs := startBinaryEnv(t, bin, c.env, "-config", cfg, "-http", "127.0.0.1:0")
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, `msg="memory limit set"`) {
					line = l
				}
			}
			switch {
			case !strings.Contains(line, limit):
				t.Errorf("no %q in the start-up log:\n%s", limit, logs)
			case strings.Contains(line, pace) != c.wantPace:
				t.Errorf("%q in the memory limit's line: %v, want %v:\n%s", pace, !c.wantPace, c.wantPace, logs)
			}
			if !strings.Contains(logs.String(), "malloc_arenas=2") {
				t.Errorf("the start-up log does not say the C allocator's arenas are capped at 2:\n%s", logs)
			}
		})
	}
}
