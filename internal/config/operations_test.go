package config

import (
	"strings"
	"testing"
	"time"
)

func TestPurgeAndMetricsKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file string
	}{
		{"TOML", `[syncserver]
public_url = "https://sync.example.com/"
metrics_listen = "127.0.0.1:9090"

[purge]
interval = 600
grace = "2h"
replaced_grace = 0
rows_per_transaction = 250
`},
		{"INI", `[syncserver]
public_url = https://sync.example.com/
metrics_listen = 127.0.0.1:9090

[purge]
interval = 600
grace = 7200
replaced_grace = 0
rows_per_transaction = 250
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, notices := MustLoad(t, MustWrite(t, "syncserver.ini", tc.file), nil)
			if len(notices) != 0 {
				t.Errorf("notices %q", noticeStrings(notices))
			}
			want := PurgeConfig{Interval: 10 * time.Minute, Grace: 2 * time.Hour, ReplacedGrace: 0, RowsPerTransaction: 250}
			if c.Purge != want || c.MetricsListen != "127.0.0.1:9090" {
				t.Errorf("got %+v %q, want %+v 127.0.0.1:9090", c.Purge, c.MetricsListen, want)
			}
		})
	}
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\n"), nil)
	if c.Purge.Interval != time.Hour || c.Purge.Grace != 24*time.Hour || c.Purge.ReplacedGrace != 7*24*time.Hour ||
		c.Purge.RowsPerTransaction != 1000 || c.MetricsListen != "" {
		t.Errorf("defaults: %+v %q", c.Purge, c.MetricsListen)
	}
}

func TestPurgeAndMetricsErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"[syncserver]\nmetrics_listen = \"9090\"\n", `:2: [syncserver] metrics_listen: want host:port`},
		{"[syncserver]\nmetrics_listen = \"localhost:http\"\n", `the port must be a number`},
		{"[purge]\ninterval = -1\n", `:2: [purge] interval: -1 seconds must not be negative`},
		{"[purge]\nrows_per_transaction = 0\n", `:2: [purge] rows_per_transaction: 0 is out of range 1 to 100000`},
		{"[purge]\ngrase = 1\n", `did you mean grace?`},
	} {
		_, _, err := Load(MustWrite(t, "syncserver.ini", tc.file), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}
