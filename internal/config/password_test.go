package config

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLURIPasswordFile(t *testing.T) {
	for _, tc := range []struct {
		name, sqluri, content, want string
	}{
		{"spaces", "mysql://sync@localhost/syncserver", "a long random password\n", "a long random password"},
		{"reserved characters", "postgresql://sync@db.example.com:5432/sync?sslmode=verify-full", "p@ss:w/o?r#d%20+;\n", "p@ss:w/o?r#d%20+;"},
		{"CRLF", "pymysql://sync@db/sync?charset=utf8", "secret\r\n", "secret"},
		{"no newline", "mysql://sync@db/sync", "secret", "secret"},
		{"only one newline dropped", "mysql://sync@db/sync", " secret \n\n", " secret \n"},
		{"unix socket", "mysql://sync@/sync?unix_socket=/run/mysqld/mysqld.sock", "pw\n", "pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "db-password"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "syncserver.ini")
			// A relative file is beside the configuration file.
			if err := os.WriteFile(cfg, []byte("[syncserver]\nsqluri = \""+tc.sqluri+"\"\nsqluri_password_file = \"db-password\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c, _ := MustLoad(t, cfg, nil)
			u, err := url.Parse(c.SQLURI.Raw)
			if err != nil {
				t.Fatalf("%q: %v", c.SQLURI.Raw, err)
			}
			if pw, _ := u.User.Password(); pw != tc.want || u.User.Username() != "sync" {
				t.Errorf("user %q password %q, want sync %q (URL %s)", u.User.Username(), pw, tc.want, c.SQLURI.Raw)
			}
			// Everything after the user part is kept as written.
			_, after, _ := strings.Cut(tc.sqluri, "@")
			if !strings.HasSuffix(c.SQLURI.Raw, "@"+after) {
				t.Errorf("URL %s does not end as %s", c.SQLURI.Raw, after)
			}
			if strings.Contains(c.SQLURI.Redacted(), "secret") || c.SQLURIPasswordFile != filepath.Join(dir, "db-password") {
				t.Errorf("redacted %q, file %q", c.SQLURI.Redacted(), c.SQLURIPasswordFile)
			}
			if got, err := ParseSQLURI(c.SQLURI.Raw, dir); err != nil || got.Driver != c.SQLURI.Driver {
				t.Errorf("the result does not parse: %v", err)
			}
		})
	}
	if got, _ := ParseSQLURI("mysql://sync@localhost/syncserver", "/"); got.Raw == "" {
		t.Fatal("no URL")
	}
	u, err := (SQLURI{Raw: "mysql://sync@localhost/syncserver", Driver: "mysql"}).WithPassword("a long random password")
	if want := "mysql://sync:a%20long%20random%20password@localhost/syncserver"; err != nil || u.Raw != want {
		t.Errorf("WithPassword: %q, %v; want %q", u.Raw, err, want)
	}
}

func TestSQLURIPasswordFileFromEnvironment(t *testing.T) {
	pwFile := MustWrite(t, "pw", "from env\n")
	c, _, err := Load("", envFunc(map[string]string{
		"SYNCSERVER_SQLURI":               "postgresql://sync@db/sync",
		"SYNCSERVER_SQLURI_PASSWORD_FILE": pwFile,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SQLURI.Raw != "postgresql://sync:from%20env@db/sync" {
		t.Errorf("got %q", c.SQLURI.Raw)
	}
	// The file's sqluri and the environment's password file combine.
	path := MustWrite(t, "syncserver.ini", "[syncserver]\nsqluri = \"mysql://sync@db/sync\"\n")
	c, _ = MustLoad(t, path, map[string]string{"SYNCSERVER_SQLURI_PASSWORD_FILE": pwFile})
	if c.SQLURI.Raw != "mysql://sync:from%20env@db/sync" {
		t.Errorf("got %q", c.SQLURI.Raw)
	}
}

func TestSQLURIPasswordFileErrors(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sqluri, file, want string
	}{
		{"sqlite:///sync.db", pw, `:3: [syncserver] sqluri_password_file: sqluri is a sqlite database, which takes no password`},
		{"mysql://db.example.com/sync", pw, `:3: [syncserver] sqluri_password_file: sqluri names no user: write it as mysql://USER@host/database`},
		{"postgresql://sync:other@db/sync", pw, `:3: [syncserver] sqluri_password_file: sqluri already holds a password: remove it from sqluri, or drop sqluri_password_file`},
		{"mysql://sync@db/sync", filepath.Join(dir, "missing"), `:3: [syncserver] sqluri_password_file: cannot read the password: open ` + filepath.Join(dir, "missing") + `: no such file or directory`},
		{"mysql://sync@db/sync", empty, `:3: [syncserver] sqluri_password_file: ` + empty + ` is empty`},
	} {
		path := MustWrite(t, "syncserver.ini", "[syncserver]\nsqluri = \""+tc.sqluri+"\"\nsqluri_password_file = \""+tc.file+"\"\n")
		_, _, err := Load(path, nil)
		if err == nil || err.Error() != path+tc.want {
			t.Errorf("%s: error %v\nwant %s%s", tc.sqluri, err, path, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "other") {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
	_, _, err := Load("", envFunc(map[string]string{"SYNCSERVER_SQLURI_PASSWORD_FILE": pw}))
	if want := "SYNCSERVER_SQLURI_PASSWORD_FILE: sqluri is a sqlite database, which takes no password"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestDatabaseURLNeedsEncoding: the README's example password, written
// into the URL as it is, gets an error that says what to do, and quotes
// no part of the password.
func TestDatabaseURLNeedsEncoding(t *testing.T) {
	for _, raw := range []string{
		"mysql://sync:a long random password@localhost/syncserver",
		"postgresql://sync:qx/zq@db/sync",
		"mysql://sync:qx#zq@db/sync",
		"mysql://sync:qx?zq@db/sync",
		"mysql://sync:qx%@db/sync",
	} {
		_, err := ParseSQLURI(raw, "/")
		if err == nil {
			t.Errorf("%q accepted", raw)
			continue
		}
		msg := err.Error()
		for _, want := range []string{"percent-encode", "a space is %20", "sqluri_password_file"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: error %q does not say %q", raw, msg, want)
			}
		}
		if strings.Contains(msg, "random") || strings.Contains(msg, "qx") || strings.Contains(msg, "zq") {
			t.Errorf("%q: error %q quotes the password", raw, msg)
		}
	}
	path := MustWrite(t, "syncserver.ini", "[syncserver]\nsqluri = \"mysql://sync:a long random password@localhost/syncserver\"\n")
	_, _, err := Load(path, nil)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: [syncserver] sqluri: not a valid database URL: if the user name or password holds a space") {
		t.Errorf("error %v", err)
	}
}
