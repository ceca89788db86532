package mysql

import (
	"strings"
	"testing"
	"time"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in                         string
		user, pass, net, addr, dbn string
		notes                      int
	}{
		{"mysql://sync:pw@db.example.com/syncstorage", "sync", "pw", "tcp", "db.example.com:3306", "syncstorage", 0},
		{"pymysql://sample_user:sample_password@127.0.0.1/syncstorage", "sample_user", "sample_password", "tcp", "127.0.0.1:3306", "syncstorage", 0},
		{"mysql+pymysql://u:p%40ss@[::1]:3307/sync?charset=utf8", "u", "p@ss", "tcp", "[::1]:3307", "sync", 1},
		{"mysql+mysqldb://u@localhost/sync?charset=utf8mb4&use_unicode=1", "u", "", "tcp", "localhost:3306", "sync", 2},
		{"mariadb+pymysql://u:p@db/sync", "u", "p", "tcp", "db:3306", "sync", 0},
		{"MySQL://u:p@db/sync?unix_socket=/run/mysqld/mysqld.sock", "u", "p", "unix", "/run/mysqld/mysqld.sock", "sync", 0},
		{"mysql://u:p@db/sync?frobnicate=1", "u", "p", "tcp", "db:3306", "sync", 1},
	} {
		cfg, _, notes, err := parseURI(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if cfg.User != tc.user || cfg.Passwd != tc.pass || cfg.Net != tc.net || cfg.Addr != tc.addr || cfg.DBName != tc.dbn || len(notes) != tc.notes {
			t.Errorf("%q: got %s %s %s %s %s %q", tc.in, cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName, notes)
		}
	}
	cfg, _, _, err := parseURI("mysql://u:p@db/sync?connect_timeout=2.5&read_timeout=30&ssl=true")
	if err != nil || cfg.Timeout != 2500*time.Millisecond || cfg.ReadTimeout != 30*time.Second || cfg.TLS == nil || cfg.TLS.ServerName != "db" {
		t.Errorf("timeouts and TLS: %+v, %v", cfg, err)
	}
	if cfg, _, _, err := parseURI("mysql://u:p@db/sync?tls=skip-verify"); err != nil || cfg.TLSConfig != "skip-verify" {
		t.Errorf("tls=skip-verify: %+v, %v", cfg, err)
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgresql://u:p@db/sync", "not a MySQL URL"},
		{"mysql://u:p@db/", "names no database"},
		{"mysql://u:p@db", "names no database"},
		{"mysql://u:p@db/sync?connect_timeout=soon", "connect_timeout"},
		{"mysql://u:p@db/sync?ssl_ca=/nonexistent.pem", "ssl_ca"},
		{"mysql://u:p@db/sync?tls=maybe", "tls"},
		{"mysql://u:p@db1,/sync", "empty entry 2"},
		{"mysql://u:p@db1,,db3/sync", "empty entry 2"},
		{"mysql://u:p@db1,db2:x/sync", `host "db2:x": the port`},
		{"mysql://u:p@db1,db2:70000/sync", `host "db2:70000": the port`},
		{"mysql://u:p@db1,[::1/sync", "closing ]"},
		{"mysql://u:p@db1,db2/sync?unix_socket=/run/mysqld.sock", "unix_socket"},
		{"mysql://u:p@db1,db2", "names no database"},
	} {
		_, _, _, err := parseURI(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("%q: the error shows the password: %v", tc.in, err)
		}
	}
}

func TestParseURIHosts(t *testing.T) {
	for _, tc := range []struct {
		in, addr, user, pass string
		addrs                []string
	}{
		{"mysql://u:p@db/sync", "db:3306", "u", "p", nil},
		{"mysql://u:p@db1,db2/sync", "db1:3306", "u", "p", []string{"db1:3306", "db2:3306"}},
		{"mysql://u:p%2C1@127.0.0.1:4001,127.0.0.1:4002,127.0.0.1:4003/sync?connect_timeout=1",
			"127.0.0.1:4001", "u", "p,1", []string{"127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4003"}},
		{"pymysql://u@[::1]:4001,[fe80::1],db3:4003/sync", "[::1]:4001", "u", "", []string{"[::1]:4001", "[fe80::1]:3306", "db3:4003"}},
	} {
		cfg, addrs, _, err := parseURI(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if cfg.Addr != tc.addr || cfg.User != tc.user || cfg.Passwd != tc.pass || cfg.DBName != "sync" || strings.Join(addrs, " ") != strings.Join(tc.addrs, " ") {
			t.Errorf("%q: addr %s, user %s:%s, db %s, addrs %q; want %s %s:%s %q", tc.in, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName, addrs, tc.addr, tc.user, tc.pass, tc.addrs)
		}
	}
}
