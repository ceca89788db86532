package config

import (
	"testing"
)

func TestParsePublicURL(t *testing.T) {
	for _, tc := range []struct {
		in          string
		want        PublicURL
		str, origin string
	}{
		{"http://localhost:5000/", PublicURL{"http", "localhost", 5000, ""}, "http://localhost:5000", "http://localhost:5000"},
		{"https://Example.com:443/ff-sync/", PublicURL{"https", "example.com", 443, "/ff-sync"}, "https://example.com/ff-sync", "https://example.com"},
		{"HTTP://EXAMPLE.COM:80", PublicURL{"http", "example.com", 80, ""}, "http://example.com", "http://example.com"},
		{"https://example.com", PublicURL{"https", "example.com", 443, ""}, "https://example.com", "https://example.com"},
		{"http://example.com:443/", PublicURL{"http", "example.com", 443, ""}, "http://example.com:443", "http://example.com:443"},
		{"https://example.com:80/", PublicURL{"https", "example.com", 80, ""}, "https://example.com:80", "https://example.com:80"},
		{"https://sync.example.com:8443/a/b//", PublicURL{"https", "sync.example.com", 8443, "/a/b"}, "https://sync.example.com:8443/a/b", "https://sync.example.com:8443"},
		{"http://[::1]:5000/", PublicURL{"http", "::1", 5000, ""}, "http://[::1]:5000", "http://[::1]:5000"},
		{"http://[::1]/", PublicURL{"http", "::1", 80, ""}, "http://[::1]", "http://[::1]"},
		{"http://192.0.2.1/sync", PublicURL{"http", "192.0.2.1", 80, "/sync"}, "http://192.0.2.1/sync", "http://192.0.2.1"},
		{"https://example.com/Ff%20Sync/", PublicURL{"https", "example.com", 443, "/Ff%20Sync"}, "https://example.com/Ff%20Sync", "https://example.com"},
		{"  http://localhost:5000/  ", PublicURL{"http", "localhost", 5000, ""}, "http://localhost:5000", "http://localhost:5000"},
	} {
		got, err := ParsePublicURL(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want || got.String() != tc.str || got.Origin() != tc.origin {
			t.Errorf("%q: got %+v %q %q, want %+v %q %q", tc.in, got, got.String(), got.Origin(), tc.want, tc.str, tc.origin)
		}
	}
}

func TestParsePublicURLErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty URL"},
		{"ftp://example.com/", `not a valid URL: "ftp://example.com/" must start with http:// or https://`},
		{"localhost:5000", `not a valid URL: "localhost:5000" must start with http:// or https://`},
		{"example.com/sync", `not a valid URL: "example.com/sync" must start with http:// or https://`},
		{"http://", `not a valid URL: "http://" has no host (write it as http://host/)`},
		{"http:example.com", `not a valid URL: "http:example.com" has no host (write it as http://host/)`},
		{"http://user:secret@example.com/", "not a valid URL: it must not contain a user name or password"},
		{"http://example.com/?a=1", `not a valid URL: "http://example.com/?a=1" must not contain a query (?…)`},
		{"http://example.com/?", `not a valid URL: "http://example.com/?" must not contain a query (?…)`},
		{"http://example.com/#top", `not a valid URL: "http://example.com/#top" must not contain a fragment (#…)`},
		{"http://example.com:0/", `not a valid URL: "http://example.com:0/" has port 0, want 1 to 65535`},
		{"http://example.com:65536/", `not a valid URL: "http://example.com:65536/" has port 65536, want 1 to 65535`},
		{"http://example.com:/", `not a valid URL: "http://example.com:/" has an empty port`},
		{"http://exa mple.com/", `not a valid URL: invalid character " " in host name`},
	} {
		_, err := ParsePublicURL(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestParseSQLURI(t *testing.T) {
	const dir = "/etc/syncserver"
	for _, tc := range []struct {
		in   string
		want SQLURI
	}{
		{"sqlite:///syncserver.db", SQLURI{"sqlite:///syncserver.db", "sqlite", "/etc/syncserver/syncserver.db"}},
		{"sqlite:///data/sync.db", SQLURI{"sqlite:///data/sync.db", "sqlite", "/etc/syncserver/data/sync.db"}},
		{"sqlite:///../sync.db", SQLURI{"sqlite:///../sync.db", "sqlite", "/etc/sync.db"}},
		{"sqlite:////var/lib/syncserver/sync.db", SQLURI{"sqlite:////var/lib/syncserver/sync.db", "sqlite", "/var/lib/syncserver/sync.db"}},
		{"sqlite:////tmp//x.db", SQLURI{"sqlite:////tmp//x.db", "sqlite", "/tmp/x.db"}},
		{"sqlite:///:memory:", SQLURI{"sqlite:///:memory:", "sqlite", Memory}},
		{"sqlite://", SQLURI{"sqlite://", "sqlite", Memory}},
		{"SQLite:///x.db", SQLURI{"SQLite:///x.db", "sqlite", "/etc/syncserver/x.db"}},
		{"pymysql://sample_user:sample_password@127.0.0.1/syncstorage", SQLURI{"pymysql://sample_user:sample_password@127.0.0.1/syncstorage", "mysql", ""}},
		{"mysql://u:p@db.example:3306/sync", SQLURI{"mysql://u:p@db.example:3306/sync", "mysql", ""}},
		{"mysql+pymysql://u:p@localhost/sync", SQLURI{"mysql+pymysql://u:p@localhost/sync", "mysql", ""}},
		{"mariadb+pymysql://u:p@localhost/sync?charset=utf8mb4", SQLURI{"mariadb+pymysql://u:p@localhost/sync?charset=utf8mb4", "mysql", ""}},
		{"postgresql://u:p@localhost/sync", SQLURI{"postgresql://u:p@localhost/sync", "postgres", ""}},
		{"postgres://u@localhost:5432/sync?sslmode=disable", SQLURI{"postgres://u@localhost:5432/sync?sslmode=disable", "postgres", ""}},
		{"postgresql+psycopg2://u:p@localhost/sync", SQLURI{"postgresql+psycopg2://u:p@localhost/sync", "postgres", ""}},
		{"postgresql:///sync", SQLURI{"postgresql:///sync", "postgres", ""}},
		{"mysql://u:p@db1:3306,db2,[::1]:3307/sync", SQLURI{"mysql://u:p@db1:3306,db2,[::1]:3307/sync", "mysql", ""}},
		{"postgresql://u:p@pg1,pg2:5433/sync?target_session_attrs=read-write", SQLURI{"postgresql://u:p@pg1,pg2:5433/sync?target_session_attrs=read-write", "postgres", ""}},
	} {
		got, err := ParseSQLURI(tc.in, dir)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if got := (SQLURI{Raw: "mysql://u:secret@db/sync"}).Redacted(); got != "mysql://u:xxxxx@db/sync" {
		t.Errorf("Redacted: %q", got)
	}
	if got := (SQLURI{Raw: "mysql://u:secret@db1:3306,db2:3306/sync", Driver: "mysql"}).Redacted(); got != "mysql://u:xxxxx@db1:3306,db2:3306/sync" {
		t.Errorf("Redacted, several hosts: %q", got)
	}
	if got := (SQLURI{Raw: "sqlite:////x.db"}).Redacted(); got != "sqlite:////x.db" {
		t.Errorf("Redacted: %q", got)
	}
	if !(SQLURI{Driver: "sqlite", Path: Memory}).IsMemory() || (SQLURI{Driver: "sqlite", Path: "/x"}).IsMemory() {
		t.Error("IsMemory")
	}
}

func TestParseSQLURIErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"oracle://db/sync", `unsupported database "oracle": use sqlite:///…, mysql://… or postgresql://…`},
		{"syncserver.db", "not a database URL: use sqlite:///syncserver.db, mysql://user:password@host/db or postgresql://user:password@host/db"},
		{"sqlite:syncserver.db", "not a database URL: use sqlite:///syncserver.db, mysql://user:password@host/db or postgresql://user:password@host/db"},
		{"sqlite://host/sync.db", `"sqlite://host/sync.db": a sqlite URL has no host; write sqlite:///relative/path or sqlite:////absolute/path`},
		{"sqlite:///", `"sqlite:///": no file name; write sqlite:///syncserver.db`},
		{"sqlite:///sync.db?mode=ro", `"sqlite:///sync.db?mode=ro": sqlite URLs take no query parameters`},
		{"mysql://", `"mysql://" names no host and no database`},
		{"postgresql://u:secret@", `"postgresql://u:xxxxx@" names no host and no database`},
		{"mysql://u:secret@db:port/sync", `not a valid database URL: invalid port ":port" after host`},
		{"mysql://u:secret@db1,/sync", `not a valid database URL: host 2 of the list "db1,": empty: write host1:port1,host2:port2`},
		{"mysql://u:secret@db1,db2:port/sync", `not a valid database URL: host 2 of the list "db1,db2:port": "db2:port" is not a host or host:port`},
		{"mysql://u:secret@db1,db2:0/sync", `not a valid database URL: host 2 of the list "db1,db2:0": "db2:0": the port must be a number from 1 to 65535`},
		{"postgresql://u:secret@db1,db2:/sync", `not a valid database URL: host 2 of the list "db1,db2:": "db2:" has an empty port`},
	} {
		_, err := ParseSQLURI(tc.in, "/etc/syncserver")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: error %v\nwant %s", tc.in, err, tc.want)
		}
	}
}
