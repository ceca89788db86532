package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// key is one row of the table that drives reading: every key we use and every
// legacy key we accept without using.
type key struct {
	section string
	name    string // a trailing ".*" matches every key with that prefix
	same    string // "section.key" of another spelling of this setting
	kind    kind   // kindIgnored: accepted with a notice
	set     func(l *loader, p parsed) error
	note    string // for an ignored key: why, told once in a notice
}

// The notes of keys the legacy server read and we do not.
const (
	noteGunicorn    = "is a gunicorn setting; it is ignored (this server has its own HTTP and FastCGI front-ends)"
	noteProcesses   = "is ignored: one process serves every request concurrently"
	noteTimeout     = "(gunicorn's worker timeout) is ignored; see read_timeout, write_timeout and idle_timeout"
	noteBrowserID   = "is ignored: BrowserID is retired and Firefox signs in with Firefox Accounts OAuth tokens"
	noteTokenSecret = "is ignored: tokens are signed and checked with [syncserver] secret"
	noteDatabase    = "is ignored: this server manages its database connections and tables itself"
	noteSQLURI      = "is ignored: all tables live in the database of [syncserver] sqluri"
	notePool        = "is ignored: one set of connection pools serves storage and tokenserver; see [storage] pool_size, pool_max_overflow, pool_recycle and pool_timeout"
)

// keys is the table of keys, by section.
var keys = []key{
	// [server:main]
	{section: "server:main", name: "host", kind: kindString, set: func(l *loader, p parsed) error {
		h := strings.TrimSuffix(strings.TrimPrefix(p.s, "["), "]")
		if !hostOK(h) {
			return fmt.Errorf("want a host name or an IP address to listen on, got %s", Quote(p.s))
		}
		l.c.Server.Host = h
		return nil
	}},
	{section: "server:main", name: "port", kind: kindInt, set: intIn(1, 65535, func(c *Config, n int64) { c.Server.Port = int(n) })},
	{section: "server:main", name: "forwarded_allow_ips", same: "syncserver.forwarded_allow_ips", kind: kindList, set: setForwardedAllowIPs},
	{section: "server:main", name: "read_timeout", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Server.ReadTimeout = d })},
	{section: "server:main", name: "write_timeout", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Server.WriteTimeout = d })},
	{section: "server:main", name: "idle_timeout", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Server.IdleTimeout = d })},
	{section: "server:main", name: "shutdown_timeout", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Server.ShutdownTimeout = d })},
	{section: "server:main", name: "max_header_bytes", kind: kindInt, set: intIn(1024, 1<<30, func(c *Config, n int64) { c.Server.MaxHeaderBytes = int(n) })},
	{section: "server:main", name: "max_body_buffer_bytes", kind: kindInt, set: intIn(1<<20, 1<<50, func(c *Config, n int64) { c.Server.MaxBodyBufferBytes = n })},
	{section: "server:main", name: "memory_limit", kind: kindInt, set: intIn(0, 1<<50, func(c *Config, n int64) { c.Server.MemoryLimit = n })},
	{section: "server:main", name: "socket_mode", kind: kindMode, set: func(l *loader, p parsed) error {
		l.c.Server.SocketMode = os.FileMode(p.i)
		return nil
	}},
	{section: "server:main", name: "socket_group", kind: kindString, set: func(l *loader, p parsed) error { l.c.Server.SocketGroup = p.s; return nil }},
	{section: "server:main", name: "use", note: "is ignored: this server runs itself (no gunicorn or Paste)"},
	{section: "server:main", name: "workers", note: noteProcesses},
	{section: "server:main", name: "threads", note: noteProcesses},
	{section: "server:main", name: "worker_connections", note: noteProcesses},
	{section: "server:main", name: "timeout", note: noteTimeout},
	{section: "server:main", name: "graceful_timeout", note: "is ignored; see shutdown_timeout"},
	{section: "server:main", name: "keepalive", note: "is ignored; see idle_timeout"},
	{section: "server:main", name: "limit_request_field_size", note: "is ignored; see max_header_bytes"},

	// [syncserver]
	{section: "syncserver", name: "public_url", kind: kindString, set: setPublicURL},
	{section: "syncserver", name: "secret", kind: kindSecrets, set: setSecrets},
	{section: "syncserver", name: "role", kind: kindString, set: func(l *loader, p parsed) error {
		if p.s == "" { // as when unset
			l.c.Role = "all"
			return nil
		}
		return oneOf([]string{"all", "token", "storage"}, func(c *Config, s string) { c.Role = s })(l, p)
	}},
	{section: "syncserver", name: "sqluri", kind: kindString, set: func(l *loader, p parsed) error {
		if p.s == "" {
			l.c.SQLURI = sqliteURI(filepath.Join(l.dir, defaultDBFile))
			return nil
		}
		u, err := ParseSQLURI(p.s, l.dir)
		l.c.SQLURI = u
		return err
	}},
	{section: "syncserver", name: "sqluri_password_file", kind: kindString, set: func(l *loader, p parsed) error { l.c.SQLURIPasswordFile = p.s; return nil }},
	{section: "syncserver", name: "identity_provider", kind: kindString, set: httpURL(func(c *Config, s string) { c.IdentityProvider = s })},
	{section: "syncserver", name: "oauth_verifier", kind: kindString, set: httpURL(func(c *Config, s string) { c.OAuthVerifier = s })},
	{section: "syncserver", name: "allow_new_users", kind: kindBool, set: func(l *loader, p parsed) error {
		if !l.isSet("tokenserver", "allow_new_users") { // that one wins, as in the legacy server
			l.c.AllowNewUsers = p.b
		}
		return nil
	}},
	{section: "syncserver", name: "force_wsgi_environ", kind: kindBool, set: boolean(func(c *Config, b bool) { c.ForceWSGIEnviron = b })},
	{section: "syncserver", name: "debug_enabled", kind: kindBool, set: boolean(func(c *Config, b bool) { c.DebugEnabled = b })},
	{section: "syncserver", name: "log_format", kind: kindString, set: oneOf([]string{"text", "json"}, func(c *Config, s string) { c.LogFormat = s })},
	{section: "syncserver", name: "log_level", kind: kindString, set: setLogLevel},
	{section: "syncserver", name: "cors_allowed_origins", kind: kindList, set: setCORS},
	{section: "syncserver", name: "forwarded_allow_ips", same: "server:main.forwarded_allow_ips", kind: kindList, set: setForwardedAllowIPs},
	{section: "syncserver", name: "browserid_verifier", note: noteBrowserID},
	{section: "syncserver", name: "metrics_listen", kind: kindString, set: setMetricsListen},

	// [storage]
	{section: "storage", name: "batch_upload_enabled", kind: kindBool, set: boolean(func(c *Config, b bool) { c.Storage.BatchUploadEnabled = b })},
	{section: "storage", name: "quota_size", kind: kindInt, set: intIn(0, 1<<62, func(c *Config, n int64) { c.Storage.QuotaSize = n })},
	{section: "storage", name: "max_request_bytes", kind: kindInt, set: intIn(1, 1<<40, func(c *Config, n int64) { c.Storage.MaxRequestBytes = n })},
	{section: "storage", name: "max_record_payload_bytes", kind: kindInt, set: intIn(1, 1<<40, func(c *Config, n int64) { c.Storage.MaxRecordPayloadBytes = n })},
	{section: "storage", name: "max_post_records", kind: kindInt, set: intIn(1, 1<<40, func(c *Config, n int64) { c.Storage.MaxPostRecords = n })},
	{section: "storage", name: "max_post_bytes", kind: kindInt, set: intIn(1, 1<<40, func(c *Config, n int64) { c.Storage.MaxPostBytes = n })},
	{section: "storage", name: "max_total_records", kind: kindInt, set: intIn(1, 1<<40, func(c *Config, n int64) { c.Storage.MaxTotalRecords = n })},
	{section: "storage", name: "max_total_bytes", kind: kindInt, set: intIn(1, 1<<50, func(c *Config, n int64) { c.Storage.MaxTotalBytes = n })},
	// The sqlite backend is the one place that knows the levels: the
	// start-up checks (and syncserver check) ask it, so no list here can
	// disagree with it.
	{section: "storage", name: "sqlite_synchronous", kind: kindString, set: func(l *loader, p parsed) error {
		l.c.Storage.SQLiteSynchronous = strings.ToUpper(strings.TrimSpace(p.s))
		return nil
	}},
	{section: "storage", name: "sqlite_cache_bytes", kind: kindInt, set: intIn(0, 1<<40, func(c *Config, n int64) { c.Storage.SQLiteCacheBytes = n })},
	{section: "storage", name: "sqluri", note: noteSQLURI},
	{section: "storage", name: "backend", note: "is ignored: storage is built into this server"},
	{section: "storage", name: "wraps", note: "is ignored: storage is built into this server"},
	{section: "storage", name: "create_tables", note: noteDatabase},
	{section: "storage", name: "standard_collections", note: "is ignored: collection ids are kept in the database"},
	{section: "storage", name: "pool_size", kind: kindInt, set: intIn(1, 10000, func(c *Config, n int64) { c.Storage.PoolSize = int(n) })},
	{section: "storage", name: "pool_max_overflow", kind: kindInt, set: intIn(0, 10000, func(c *Config, n int64) { c.Storage.PoolMaxOverflow = int(n) })},
	{section: "storage", name: "pool_recycle", kind: kindSeconds, set: func(l *loader, p parsed) error {
		// Negative is SQLAlchemy's "never" (-1), as is 0 here.
		l.c.Storage.PoolRecycle = max(p.d, 0)
		return nil
	}},
	{section: "storage", name: "pool_timeout", kind: kindSeconds, set: seconds(100*time.Millisecond, func(c *Config, d time.Duration) { c.Storage.PoolTimeout = d })},
	{section: "storage", name: "reset_on_return", note: noteDatabase},
	{section: "storage", name: "no_pool", note: noteDatabase},
	{section: "storage", name: "shard", note: noteDatabase},
	{section: "storage", name: "shardsize", note: noteDatabase},
	{section: "storage", name: "force_consistent_sort_order", note: "is ignored: results are always sorted consistently"},
	{section: "storage", name: "pagination_batch_size", note: "is ignored"},
	{section: "storage", name: "batch_max_count", note: "is ignored; see max_total_records"},

	// [tokenserver]
	{section: "tokenserver", name: "token_duration", kind: kindSeconds, set: seconds(time.Second, func(c *Config, d time.Duration) { c.Tokenserver.TokenDuration = d })},
	{section: "tokenserver", name: "node_url", kind: kindString, set: func(l *loader, p parsed) error {
		if p.s != "" { // "" is public_url, as when unset
			if _, err := ParsePublicURL(p.s); err != nil {
				return err
			}
		}
		l.c.Tokenserver.NodeURL = strings.TrimRight(p.s, "/")
		return nil
	}},
	{section: "tokenserver", name: "allow_new_users", kind: kindBool, set: boolean(func(c *Config, b bool) { c.AllowNewUsers = b })},
	{section: "tokenserver", name: "jwks", same: "oauth.jwks", kind: kindString, set: setJWKS},
	{section: "tokenserver", name: "multi_node", kind: kindBool, set: boolean(func(c *Config, b bool) { c.Tokenserver.MultiNode = b })},
	{section: "tokenserver", name: "max_users", kind: kindInt, set: intIn(0, 1<<40, func(c *Config, n int64) { c.Tokenserver.MaxUsers = int(n) })},
	{section: "tokenserver", name: "allowed_users", kind: kindList, set: func(l *loader, p parsed) error {
		l.c.Tokenserver.AllowedUsers = p.list
		return nil
	}},
	{section: "tokenserver", name: "backend", note: "is ignored: users are assigned to this server's own storage"},
	{section: "tokenserver", name: "sqluri", note: noteSQLURI},
	{section: "tokenserver", name: "applications", note: "is ignored: the only application is sync-1.5"},
	{section: "tokenserver", name: "secrets_file", same: "hawkauth.secrets_file", kind: kindString, set: setSecretsFile},
	{section: "tokenserver", name: "secrets.*", note: noteTokenSecret},
	{section: "tokenserver", name: "node_type_patterns", note: "is ignored"},
	{section: "tokenserver", name: "monkey_patch_gevent", note: "is ignored"},
	{section: "tokenserver", name: "create_tables", note: noteDatabase},
	{section: "tokenserver", name: "pool_size", note: notePool},
	{section: "tokenserver", name: "pool_recycle", note: notePool},
	{section: "tokenserver", name: "pool_timeout", note: notePool},
	{section: "tokenserver", name: "max_overflow", note: notePool},
	{section: "tokenserver", name: "pool_reset_on_return", note: noteDatabase},
	{section: "tokenserver", name: "capacity_release_rate", kind: kindFloat, set: func(l *loader, p parsed) error {
		if p.f <= 0 || p.f > 1 {
			return fmt.Errorf("%v is not a share of a node's capacity: want more than 0 and at most 1, such as 0.1", p.f)
		}
		l.c.Tokenserver.CapacityReleaseRate = p.f
		return nil
	}},
	{section: "tokenserver", name: "spanner_node_id", note: "is ignored: there is one storage node"},
	{section: "tokenserver", name: "migrate_new_user_percentage", note: "is ignored: there is one storage node"},

	// [endpoints]
	{section: "endpoints", name: "sync-1.5", kind: kindString, set: setEndpoint},

	// [oauth]
	{section: "oauth", name: "server_url", kind: kindString, set: func(l *loader, p parsed) error {
		if l.isSet("syncserver", "oauth_verifier") { // that one wins
			return nil
		}
		return httpURL(func(c *Config, s string) { c.OAuthVerifier = s })(l, p)
	}},
	{section: "oauth", name: "default_issuer", kind: kindString, set: func(l *loader, p parsed) error { l.c.Tokenserver.DefaultIssuer = p.s; return nil }},
	{section: "oauth", name: "timeout", kind: kindSeconds, set: seconds(time.Millisecond, func(c *Config, d time.Duration) { c.Tokenserver.OAuthTimeout = d })},
	{section: "oauth", name: "jwks", same: "tokenserver.jwks", kind: kindString, set: setJWKS},
	{section: "oauth", name: "backend", note: "is ignored: FxA OAuth tokens are verified by this server"},
	{section: "oauth", name: "scope", kind: kindList, set: setScopes},

	// [purge]
	{section: "purge", name: "interval", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Purge.Interval = d })},
	{section: "purge", name: "grace", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Purge.Grace = d })},
	{section: "purge", name: "replaced_grace", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Purge.ReplacedGrace = d })},
	{section: "purge", name: "rows_per_transaction", kind: kindInt, set: intIn(1, 100000, func(c *Config, n int64) { c.Purge.RowsPerTransaction = int(n) })},

	// [hawkauth]
	{section: "hawkauth", name: "expired_token_timeout", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Hawk.ExpiredTokenTimeout = d })},
	{section: "hawkauth", name: "token_cache_bytes", kind: kindInt, set: intIn(1<<10, 1<<40, func(c *Config, n int64) { c.Hawk.TokenCacheBytes = n })},
	{section: "hawkauth", name: "timestamp_window", kind: kindSeconds, set: seconds(0, func(c *Config, d time.Duration) { c.Hawk.TimestampWindow = d })},
	{section: "hawkauth", name: "secret", note: noteTokenSecret},
	{section: "hawkauth", name: "secrets_file", same: "tokenserver.secrets_file", kind: kindString, set: setSecretsFile},
	{section: "hawkauth", name: "secrets.*", note: noteTokenSecret},
	{section: "hawkauth", name: "nonce_cache", note: "is ignored: nonces are kept in memory"},
	{section: "hawkauth", name: "nonce_ttl", note: "is ignored: nonces are kept in memory"},

	// [accounts]
	{section: "accounts", name: "enabled", kind: kindBool, set: boolean(func(c *Config, b bool) { c.Accounts.Enabled = b })},
	{section: "accounts", name: "public_url", kind: kindString, set: setAccountsPublicURL},
	{section: "accounts", name: "open_signup", kind: kindBool, set: boolean(func(c *Config, b bool) { c.Accounts.OpenSignup = b })},
	{section: "accounts", name: "invite_ttl", kind: kindSeconds, set: seconds(time.Minute, func(c *Config, d time.Duration) { c.Accounts.InviteTTL = d })},
	{section: "accounts", name: "access_token_ttl", kind: kindSeconds, set: func(l *loader, p parsed) error {
		if p.d > MaxAccessTokenTTL {
			return fmt.Errorf("%v seconds is too long (at most %v, 6 hours: Firefox asks for no more, and a stolen token must not outlive that)",
				p.d.Seconds(), MaxAccessTokenTTL.Seconds())
		}
		return seconds(time.Minute, func(c *Config, d time.Duration) { c.Accounts.AccessTokenTTL = d })(l, p)
	}},
	{section: "accounts", name: "logins_per_account", kind: kindInt, set: intIn(1, 1<<20, func(c *Config, n int64) { c.Accounts.LoginsPerAccount = int(n) })},
	{section: "accounts", name: "logins_per_address", kind: kindInt, set: intIn(1, 1<<20, func(c *Config, n int64) { c.Accounts.LoginsPerAddress = int(n) })},

	// [fxa]
	{section: "fxa", name: "metrics_uid_secret_key", kind: kindString, set: func(l *loader, p parsed) error {
		l.c.Tokenserver.MetricsUIDSecretKey = p.s
		return nil
	}},
}

// gunicornSettings are the gunicorn settings a legacy [server:main] may hold;
// each is accepted with a notice.
var gunicornSettings = strings.Fields(`
	bind backlog worker_class max_requests max_requests_jitter limit_request_line
	limit_request_fields reload reload_engine reload_extra_files spew check_config
	print_config preload_app sendfile reuse_port chdir daemon raw_env pidfile
	worker_tmp_dir user group umask initgroups tmp_upload_dir secure_scheme_headers
	accesslog disable_redirect_access_to_syslog access_log_format errorlog loglevel
	capture_output logger_class logconfig logconfig_dict syslog_addr syslog
	syslog_prefix syslog_facility enable_stdio_inheritance statsd_host statsd_prefix
	dogstatsd_tags proc_name default_proc_name pythonpath paste proxy_protocol
	proxy_allow_ips keyfile certfile ssl_version cert_reqs ca_certs
	suppress_ragged_eofs do_handshake_on_connect ciphers raw_paste_global_conf
	strip_header_spaces config wsgi_app threadpool_workers use_threadpool`)

// ignoredSection is a legacy section we accept whole, with one notice.
type ignoredSection struct {
	name  string // a trailing "*" matches any suffix
	group string // sections of one group share one notice
	note  string
}

var ignoredSections = []ignoredSection{
	{name: "app:*", note: "is ignored: it only told PasteDeploy which application to run"},
	{name: "filter:*", note: "is ignored: PasteDeploy filters are not used"},
	{name: "pipeline:*", note: "is ignored: PasteDeploy pipelines are not used"},
	{name: "composite:*", note: "is ignored: PasteDeploy composites are not used"},
	{name: "server:*", note: "is ignored: only [server:main] is read"},
	{name: "loggers", group: "logging", note: loggingNote},
	{name: "handlers", group: "logging", note: loggingNote},
	{name: "formatters", group: "logging", note: loggingNote},
	{name: "logger_*", group: "logging", note: loggingNote},
	{name: "handler_*", group: "logging", note: loggingNote},
	{name: "formatter_*", group: "logging", note: loggingNote},
	{name: "browserid", note: noteBrowserID},
	{name: "host:*", note: "is ignored: host-specific overrides are not supported; put the values in their own sections"},
	{name: "mozsvc", note: "is ignored (the legacy framework's backoff and retry settings)"},
}

const loggingNote = "and the other Python logging sections are ignored; use [syncserver] log_level and log_format"

func matchName(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// findKey returns the row for a key of a section, nil when there is none.
func findKey(section, name string) *key {
	for i := range keys {
		k := &keys[i]
		if k.section == section && matchName(k.name, name) {
			return k
		}
	}
	if section == "server:main" {
		for _, g := range gunicornSettings {
			if g == name {
				return &key{section: section, name: name, note: noteGunicorn}
			}
		}
	}
	return nil
}

// hasKeys reports whether we read keys from a section.
func hasKeys(section string) bool {
	for _, k := range keys {
		if k.section == section {
			return true
		}
	}
	return false
}

func findIgnoredSection(name string) *ignoredSection {
	for i := range ignoredSections {
		if matchName(ignoredSections[i].name, name) {
			return &ignoredSections[i]
		}
	}
	return nil
}

// Helpers that build a key's set function.

func intIn(lo, hi int64, f func(*Config, int64)) func(*loader, parsed) error {
	return func(l *loader, p parsed) error {
		if p.i < lo || p.i > hi {
			if lo == 0 && p.i < 0 {
				return fmt.Errorf("%d must not be negative", p.i)
			}
			return fmt.Errorf("%d is out of range %d to %d", p.i, lo, hi)
		}
		f(l.c, p.i)
		return nil
	}
}

func seconds(lo time.Duration, f func(*Config, time.Duration)) func(*loader, parsed) error {
	return func(l *loader, p parsed) error {
		if p.d < 0 {
			return fmt.Errorf("%v seconds must not be negative", p.d.Seconds())
		}
		if p.d < lo {
			return fmt.Errorf("%v seconds is too short (at least %v)", p.d.Seconds(), lo.Seconds())
		}
		f(l.c, p.d)
		return nil
	}
}

func boolean(f func(*Config, bool)) func(*loader, parsed) error {
	return func(l *loader, p parsed) error { f(l.c, p.b); return nil }
}

// oneOf accepts one of words, in any case, and stores it in the case given.
func oneOf(words []string, f func(*Config, string)) func(*loader, parsed) error {
	return func(l *loader, p parsed) error {
		for _, w := range words {
			if strings.EqualFold(w, p.s) {
				f(l.c, w)
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %s", strings.Join(words, ", "), Quote(p.s))
	}
}

// httpURL accepts an http(s) URL or nothing.
func httpURL(f func(*Config, string)) func(*loader, parsed) error {
	return func(l *loader, p parsed) error {
		if p.s != "" {
			if _, err := ParsePublicURL(p.s); err != nil {
				return err
			}
		}
		f(l.c, p.s)
		return nil
	}
}

func setPublicURL(l *loader, p parsed) error {
	u, err := ParsePublicURL(p.s)
	if err != nil {
		return err
	}
	l.c.PublicURL, l.c.PublicURLSet = u, true
	return nil
}

// placeholderSecret is the stock file's example, which a hurried operator
// uncomments.
const placeholderSecret = "INSERT_SECRET_KEY_HERE"

func setSecrets(l *loader, p parsed) error {
	for _, s := range p.list {
		if s == placeholderSecret {
			l.notice(l.line, "[syncserver] secret is the example "+placeholderSecret+
				": anyone who reads it can forge tokens; set a random secret or leave it empty to have one generated")
		}
	}
	l.c.Secrets = p.list
	return nil
}

// setSecretsFile keeps the per-node secrets file's path, relative to the
// configuration's directory; cmd/syncserver reads it at start, so that a
// rotation needs only a restart.
func setSecretsFile(l *loader, p parsed) error {
	path := strings.TrimSpace(p.s)
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, path)
	}
	l.c.Tokenserver.SecretsFile = path
	return nil
}

func setLogLevel(l *loader, p parsed) error {
	s := strings.ToLower(p.s)
	switch s {
	case "warning":
		s = "warn"
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("want one of debug, info, warn, error, got %s", Quote(p.s))
	}
	l.c.LogLevel = s
	return nil
}

func setForwardedAllowIPs(l *loader, p parsed) error {
	for _, s := range p.list {
		if s == "*" {
			continue
		}
		if net.ParseIP(s) == nil {
			if _, _, err := net.ParseCIDR(s); err != nil {
				return fmt.Errorf("%s is not an IP address, a CIDR range or *", Quote(s))
			}
		}
	}
	l.c.Server.ForwardedAllowIPs = p.list
	return nil
}

// setMetricsListen accepts "host:port" (a port alone listens on every
// interface, as Go does) or "" for no metrics endpoint.
func setMetricsListen(l *loader, p parsed) error {
	if p.s != "" {
		host, port, err := net.SplitHostPort(p.s)
		if err != nil {
			return fmt.Errorf("want host:port such as \"127.0.0.1:9090\", got %s", Quote(p.s))
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("%s: the port must be a number from 0 to 65535", Quote(p.s))
		}
		if host != "" && !hostOK(host) {
			return fmt.Errorf("%s: want a host name or an IP address to listen on", Quote(p.s))
		}
	}
	l.c.MetricsListen = p.s
	return nil
}

func setCORS(l *loader, p parsed) error {
	for _, s := range p.list {
		if s == "*" {
			continue
		}
		u, err := ParsePublicURL(s)
		if err != nil || u.Prefix != "" {
			return fmt.Errorf("%s is not an origin such as https://example.com or *", Quote(s))
		}
	}
	l.c.CORSAllowedOrigins = p.list
	return nil
}

func setJWKS(l *loader, p parsed) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if p.s != "" {
		if err := json.Unmarshal([]byte(p.s), &set); err != nil {
			return fmt.Errorf("not a JSON key set: %s", oneLine(err.Error()))
		}
		if len(set.Keys) == 0 {
			return errors.New(`want a JSON key set {"keys": […]} with at least one key`)
		}
	}
	l.c.Tokenserver.JWKS = p.s
	return nil
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

func setEndpoint(l *loader, p parsed) error {
	if p.s == "" {
		l.c.EndpointPattern = DefaultEndpointPattern
		return nil
	}
	for _, m := range placeholder.FindAllString(p.s, -1) {
		if m != "{node}" && m != "{uid}" && m != "{service}" {
			return fmt.Errorf("unknown placeholder %s (want {node}, {uid} and {service})", Quote(m))
		}
	}
	if !strings.Contains(p.s, "{uid}") {
		return fmt.Errorf("%s has no {uid}", Quote(p.s))
	}
	l.c.EndpointPattern = p.s
	return nil
}
