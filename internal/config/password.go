package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// errEncodeUserinfo is the error for a MySQL or PostgreSQL URL with a user
// part that does not parse: the usual cause is a password holding a
// character URLs reserve. It quotes nothing of the URL, which may hold that
// password.
var errEncodeUserinfo = errors.New("not a valid database URL: if the user name or password holds a space, @, :, /, ?, # or %, " +
	"percent-encode it (a space is %20, @ is %40, : is %3A, / is %2F, ? is %3F, # is %23, % is %25), " +
	"or put the password in [syncserver] sqluri_password_file")

// userinfoBroken tells whether a URL that does not parse fails in its user
// part, or because a character of its password ended the user part early
// ("u:pa/ss@host" reads as host "u", port "pa"): then the error would quote
// a piece of the password, and the cure is percent-encoding.
func userinfoBroken(raw string, err error) bool {
	_, rest, _ := strings.Cut(raw, "://")
	if !strings.Contains(rest, "@") {
		return false
	}
	authority := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	return !strings.Contains(authority, "@") || !strings.Contains(err.Error(), "invalid port")
}

// WithPassword returns the URL with pw as the password of its user,
// percent-encoded as a URL needs. It is refused for sqlite, which has no
// password, for a URL without a user, and for a URL that already holds a
// password, so that which password is used is never in doubt. Only the
// user part of the URL changes; the rest is kept byte for byte.
func (s SQLURI) WithPassword(pw string) (SQLURI, error) {
	if s.Driver == "sqlite" {
		return s, errors.New("sqluri is a sqlite database, which takes no password")
	}
	scheme, rest, _ := strings.Cut(s.Raw, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s, errors.New("sqluri names no user: write it as " + scheme + "://USER@host/database")
	}
	user, err := url.Parse("x://" + rest[:at] + "@x")
	if err != nil || user.User.Username() == "" {
		return s, errors.New("sqluri names no user: write it as " + scheme + "://USER@host/database")
	}
	if _, ok := user.User.Password(); ok {
		return s, errors.New("sqluri already holds a password: remove it from sqluri, or drop sqluri_password_file")
	}
	raw := scheme + "://" + url.UserPassword(user.User.Username(), pw).String() + rest[at:]
	return SQLURI{Raw: raw, Driver: s.Driver}, nil
}

// sqluriPassword puts the password kept in [syncserver]
// sqluri_password_file into sqluri: the file holds the password as it is,
// so nobody has to percent-encode it, and it can be readable by the
// service alone (a Docker or systemd credential). One trailing newline is
// dropped, as editors and `echo` add one; anything else is the password.
func (l *loader) sqluriPassword() error {
	c := l.c
	if c.SQLURIPasswordFile == "" {
		return nil
	}
	fail := func(msg string) error {
		e := &Error{Msg: oneLine(l.source("syncserver", "sqluri_password_file") + ": " + msg)}
		if _, env := l.fromEnv[setKey("syncserver", "sqluri_password_file")]; !env {
			e.File, e.Line = l.file, l.set[setKey("syncserver", "sqluri_password_file")]
		}
		return e
	}
	path := c.SQLURIPasswordFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail("cannot read the password: " + err.Error())
	}
	pw := string(data)
	if p, ok := strings.CutSuffix(pw, "\n"); ok {
		pw = strings.TrimSuffix(p, "\r")
	}
	if pw == "" {
		return fail(path + " is empty")
	}
	u, err := c.SQLURI.WithPassword(pw)
	if err != nil {
		return fail(err.Error())
	}
	c.SQLURI, c.SQLURIPasswordFile = u, path
	return nil
}
