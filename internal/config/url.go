package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// PublicURL is the normalised public_url: what Firefox puts in its requests,
// so what Hawk signatures and token URLs are checked and built against.
type PublicURL struct {
	Scheme string // "http" or "https"
	Host   string // lower case, no port, no brackets around an IPv6 address
	Port   int    // explicit, else 80 or 443
	Prefix string // path without trailing slash: "" or "/ff-sync"
}

// String is the URL with the default port and the trailing slash dropped, the
// form the legacy server compared requests with and put into tokens.
func (u PublicURL) String() string { return u.Origin() + u.Prefix }

// Origin is scheme://host[:port], the port only when it is not the default.
func (u PublicURL) Origin() string {
	host := u.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if u.Port != defaultPort(u.Scheme) {
		host += ":" + strconv.Itoa(u.Port)
	}
	return u.Scheme + "://" + host
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// ParsePublicURL checks and normalises a public_url: http or https, a host,
// no user, query or fragment; the scheme and host lower-cased, a default port
// dropped and trailing slashes removed from the path prefix.
func ParsePublicURL(s string) (PublicURL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return PublicURL{}, errors.New("empty URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return PublicURL{}, fmt.Errorf("not a valid URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return PublicURL{}, fmt.Errorf("not a valid URL: %s must start with http:// or https://", Quote(s))
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return PublicURL{}, fmt.Errorf("not a valid URL: %s has no host (write it as %s://host/)", Quote(s), u.Scheme)
	case u.User != nil:
		return PublicURL{}, errors.New("not a valid URL: it must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery:
		return PublicURL{}, fmt.Errorf("not a valid URL: %s must not contain a query (?…)", Quote(s))
	case u.Fragment != "" || strings.Contains(s, "#"):
		return PublicURL{}, fmt.Errorf("not a valid URL: %s must not contain a fragment (#…)", Quote(s))
	}
	pu := PublicURL{
		Scheme: u.Scheme,
		Host:   strings.ToLower(u.Hostname()),
		Port:   defaultPort(u.Scheme),
		Prefix: strings.TrimRight(u.EscapedPath(), "/"),
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return PublicURL{}, fmt.Errorf("not a valid URL: %s has port %s, want 1 to 65535", Quote(s), p)
		}
		pu.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return PublicURL{}, fmt.Errorf("not a valid URL: %s has an empty port", Quote(s))
	}
	return pu, nil
}

// SQLURI is the parsed sqluri: which database holds the tokenserver and
// storage tables.
type SQLURI struct {
	Raw    string // as configured; MySQL and PostgreSQL backends parse it themselves
	Driver string // "sqlite", "mysql" or "postgres"
	Path   string // sqlite only: an absolute file path, or ":memory:"
}

// Redacted is the URL with any password replaced by "xxxxx", for logs.
func (s SQLURI) Redacted() string {
	if single, hosts := firstHost(s.Raw); len(hosts) > 1 {
		// Redact the URL with its first host, then put the list back.
		r := SQLURI{Raw: single, Driver: s.Driver}.Redacted()
		if at := strings.LastIndex(r, "@"+hosts[0]); at >= 0 {
			return r[:at+1] + strings.Join(hosts, ",") + r[at+1+len(hosts[0]):]
		}
		return s.Driver + "://…"
	}
	u, err := url.Parse(s.Raw)
	if err != nil {
		if strings.Contains(s.Raw, "@") {
			return s.Driver + "://…" // unparsable, and may hold a password
		}
		return s.Raw
	}
	return redact(s.Raw, u)
}

// Memory is the sqlite path of an in-memory database.
const Memory = ":memory:"

// IsMemory reports whether the database lives only as long as the process.
func (s SQLURI) IsMemory() bool { return s.Driver == "sqlite" && s.Path == Memory }

func sqliteURI(path string) SQLURI {
	return SQLURI{Raw: "sqlite:///" + path, Driver: "sqlite", Path: path}
}

// ParseSQLURI reads the SQLAlchemy-style URLs of the legacy server:
// sqlite:////abs/path, sqlite:///rel/path (relative to dir, the directory of
// the configuration file, never the working directory, which a web server
// chooses), sqlite:///:memory:, pymysql://, mysql://, mysql+pymysql://,
// mariadb://, postgresql://, postgres:// and postgresql+psycopg2://.
func ParseSQLURI(raw, dir string) (SQLURI, error) {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return SQLURI{}, errors.New("not a database URL: use sqlite:///syncserver.db, mysql://user:password@host/db or postgresql://user:password@host/db")
	}
	scheme = strings.ToLower(scheme)
	base, _, _ := strings.Cut(scheme, "+")
	switch {
	case base == "sqlite":
		return parseSQLite(raw, rest, dir)
	case base == "mysql" || base == "mariadb" || scheme == "pymysql":
		return parseServerURI(raw, "mysql")
	case base == "postgresql" || base == "postgres":
		return parseServerURI(raw, "postgres")
	}
	return SQLURI{}, fmt.Errorf("unsupported database %s: use sqlite:///…, mysql://… or postgresql://…", Quote(scheme))
}

func parseSQLite(raw, rest, dir string) (SQLURI, error) {
	if rest == "" {
		// SQLAlchemy's sqlite:// is an in-memory database.
		return SQLURI{Raw: raw, Driver: "sqlite", Path: Memory}, nil
	}
	host, path, ok := strings.Cut(rest, "/")
	if host != "" {
		return SQLURI{}, fmt.Errorf("%s: a sqlite URL has no host; write sqlite:///relative/path or sqlite:////absolute/path", Quote(raw))
	}
	if strings.ContainsAny(path, "?#") {
		return SQLURI{}, fmt.Errorf("%s: sqlite URLs take no query parameters", Quote(raw))
	}
	switch {
	case !ok || path == "":
		return SQLURI{}, fmt.Errorf("%s: no file name; write sqlite:///syncserver.db", Quote(raw))
	case path == Memory:
		return SQLURI{Raw: raw, Driver: "sqlite", Path: Memory}, nil
	case !filepath.IsAbs(path):
		path = filepath.Join(dir, path)
	}
	return SQLURI{Raw: raw, Driver: "sqlite", Path: filepath.Clean(path)}, nil
}

func parseServerURI(raw, driver string) (SQLURI, error) {
	single, hosts := firstHost(raw)
	for i, h := range hosts {
		if err := checkHost(h); err != nil {
			return SQLURI{}, fmt.Errorf("not a valid database URL: host %d of the list %s: %v", i+1, Quote(strings.Join(hosts, ",")), err)
		}
	}
	u, err := url.Parse(single)
	if err != nil {
		if userinfoBroken(raw, err) {
			return SQLURI{}, errEncodeUserinfo
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return SQLURI{}, fmt.Errorf("not a valid database URL: %v", err)
	}
	if u.Host == "" && u.Path == "" {
		return SQLURI{}, fmt.Errorf("%s names no host and no database", Quote(redact(raw, u)))
	}
	return SQLURI{Raw: raw, Driver: driver}, nil
}

// firstHost reads the host list of a MySQL or PostgreSQL URL that names
// several servers, scheme://user:password@host1:port1,host2:port2/db: it
// returns the URL with the first host only, and the hosts as written, or
// raw and nil when there is one host.
func firstHost(raw string) (string, []string) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw, nil
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	hostStart := strings.LastIndex(rest[:end], "@") + 1
	list := rest[hostStart:end]
	if !strings.Contains(list, ",") {
		return raw, nil
	}
	hosts := strings.Split(list, ",")
	return scheme + "://" + rest[:hostStart] + hosts[0] + rest[end:], hosts
}

// checkHost checks one host of a list: a name or address, with an
// optional port.
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty: write host1:port1,host2:port2")
	}
	u, err := url.Parse("x://" + h)
	if err != nil || u.Host != h || u.Hostname() == "" || u.User != nil {
		return fmt.Errorf("%s is not a host or host:port", Quote(h))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s: the port must be a number from 1 to 65535", Quote(h))
		}
	} else if strings.HasSuffix(h, ":") {
		return fmt.Errorf("%s has an empty port", Quote(h))
	}
	return nil
}

// redact hides a password in a URL that goes into a message.
func redact(raw string, u *url.URL) string {
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	return raw
}

// hostOK tells whether s can be a listen host: a name or an address.
func hostOK(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t/[]") {
		return false
	}
	if strings.Contains(s, ":") {
		return net.ParseIP(s) != nil
	}
	return true
}
