package main

import (
	"bytes"
	"log/slog"
	"testing"

	"syncserver/internal/config"
)

// TestMemoryLimit: serving sets memory_limit as the runtime's memory
// limit, unless GOMEMLIMIT is set or the limit is 0.
func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name       string
		limit      int64
		gomemlimit string
		want       int64 // -1: not set
	}{
		{"default", config.DefaultMemoryLimit, "", config.DefaultMemoryLimit},
		{"configured", 100 << 20, "", 100 << 20},
		{"GOMEMLIMIT wins", 100 << 20, "200MiB", -1},
		{"off", 0, "", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default(t.TempDir())
			cfg.Server.MemoryLimit = c.limit
			got := int64(-1)
			var logs bytes.Buffer
			m := &Main{
				Config: cfg,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Getenv: func(k string) string {
					if k == "GOMEMLIMIT" {
						return c.gomemlimit
					}
					return ""
				},
				SetMemoryLimit: func(n int64) int64 { got = n; return 0 },
			}
			m.applyMemoryLimit()
			if got != c.want {
				t.Errorf("memory limit set to %d, want %d (-1: not set); log:\n%s", got, c.want, logs.String())
			}
		})
	}
	if config.Default(t.TempDir()).Server.MemoryLimit != config.DefaultMemoryLimit {
		t.Errorf("memory_limit does not default to DefaultMemoryLimit")
	}
}
