package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestParseURIHosts(t *testing.T) {
	s, _, err := parseURI("postgresql://u:p%40ss@pg1:5432,pg2:5433/sync?target_session_attrs=read-write")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	second := false
	for _, f := range cfg.Fallbacks {
		second = second || f.Host == "pg2" && f.Port == 5433
	}
	if cfg.Host != "pg1" || cfg.Port != 5432 || cfg.Password != "p@ss" || cfg.Database != "sync" || !second || cfg.ValidateConnect == nil {
		t.Errorf("%q: %s:%d, fallbacks %+v", s, cfg.Host, cfg.Port, cfg.Fallbacks)
	}
	if !severalHosts(cfg) {
		t.Error("severalHosts = false for two hosts")
	}
	one, _, _ := parseURI("postgresql://u@pg1/sync")
	if cfg, _ := pgx.ParseConfig(one); severalHosts(cfg) {
		t.Error("severalHosts = true for one host")
	}
	if _, _, err := parseURI("postgresql://u@pg1,,pg3/sync"); err == nil || !strings.Contains(err.Error(), "empty entry 2") {
		t.Errorf("empty host: %v", err)
	}
}

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in                   string
		host, user, pass, db string
		port                 uint16
		params               map[string]string
		notes                int
	}{
		{"postgresql://sync:pw@db.example.com/syncstorage", "db.example.com", "sync", "pw", "syncstorage", 5432, nil, 0},
		{"postgres://sync@db:5433/sync?sslmode=disable", "db", "sync", "", "sync", 5433, nil, 0},
		{"postgresql+psycopg2://u:p%40ss@localhost/sync?client_encoding=utf8", "localhost", "u", "p@ss", "sync", 5432, nil, 1},
		{"postgresql://u:p@db/sync?options=-c%20search_path%3Dsyncserver&application_name=sync1", "db", "u", "p", "sync", 5432,
			map[string]string{"options": "-c search_path=syncserver", "application_name": "sync1"}, 0},
	} {
		s, notes, err := parseURI(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		cfg, err := pgx.ParseConfig(s)
		if err != nil {
			t.Errorf("%q → %q: %v", tc.in, s, err)
			continue
		}
		if cfg.Host != tc.host || cfg.Port != tc.port || cfg.User != tc.user || cfg.Password != tc.pass || cfg.Database != tc.db || len(notes) != tc.notes {
			t.Errorf("%q: got %s:%d %s %s %s %q", tc.in, cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database, notes)
		}
		for k, v := range tc.params {
			if cfg.RuntimeParams[k] != v {
				t.Errorf("%q: %s = %q, want %q", tc.in, k, cfg.RuntimeParams[k], v)
			}
		}
		if _, ok := cfg.RuntimeParams["client_encoding"]; ok && strings.Contains(tc.in, "client_encoding") {
			t.Errorf("%q: client_encoding passed on", tc.in)
		}
	}
	for _, in := range []string{"mysql://u:p@db/sync", "postgresql://u:p@db/", "postgresql://u:p@db"} {
		if _, _, err := parseURI(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
