package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestINISemantics reads a legacy file that uses konfig's features: ":" as
// delimiter, continuation lines, interpolation, quotes, comment rules.
func TestINISemantics(t *testing.T) {
	const file = `# a comment
; also a comment here
[DEFAULT]
base = /var/lib/sync

[server:main]
host: ::1
port = "5001"
read_timeout = 2.5
socket_mode = 0600
forwarded_allow_ips = 127.0.0.1, 10.0.0.0/8

[syncserver]
public_url = https://${DOMAIN}/ff-sync/
sqluri = sqlite:///${base}/sync.db
secret = old-secret
    # a comment inside a value is skipped
    new-secret

    newest-secret
allow_new_users = no
force_wsgi_environ = TRUE
cors_allowed_origins =
    https://a.example
    "https://b.example"
log_level = WARNING

[tokenserver]
node_url = ${syncserver:public_url}
token_duration = 300

[fxa]
metrics_uid_secret_key = $${HERE} costs $$5 in ${HERE}

[storage]
quota_size = ${SIZE}

[storage]
max_total_records = 20000
`
	path := MustWrite(t, "syncserver.ini", file)
	c, notices := MustLoad(t, path, map[string]string{"DOMAIN": "sync.example.com", "SIZE": "1073741824"})
	if len(notices) != 0 {
		t.Errorf("notices %q", noticeStrings(notices))
	}
	dir := c.File[:strings.LastIndex(c.File, "/")]
	checks := []struct {
		name      string
		got, want any
	}{
		{"format", c.Format, "ini"},
		{"host", c.Server.Host, "::1"},
		{"port", c.Server.Port, 5001},
		{"read timeout", c.Server.ReadTimeout, 2500 * time.Millisecond},
		{"socket mode", c.Server.SocketMode, os.FileMode(0o600)},
		{"forwarded", c.Server.ForwardedAllowIPs, []string{"127.0.0.1", "10.0.0.0/8"}},
		{"public url", c.PublicURL.String(), "https://sync.example.com/ff-sync"},
		{"sqlite", c.SQLURI.Path, "/var/lib/sync/sync.db"},
		{"secrets", c.Secrets, []string{"old-secret", "new-secret", "newest-secret"}},
		{"allow new users", c.AllowNewUsers, false},
		{"force", c.ForceWSGIEnviron, true},
		{"cors", c.CORSAllowedOrigins, []string{"https://a.example", "https://b.example"}},
		{"log level", c.LogLevel, "warn"},
		{"node", c.Tokenserver.NodeURL, "https://sync.example.com/ff-sync"},
		{"duration", c.Tokenserver.TokenDuration, 5 * time.Minute},
		{"literal $", c.Tokenserver.MetricsUIDSecretKey, "${HERE} costs $5 in " + dir},
		{"quota", c.Storage.QuotaSize, int64(1 << 30)},
		{"repeated section", c.Storage.MaxTotalRecords, int64(20000)},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: got %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestINIHere(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", "[syncserver]\nsqluri = sqlite:///%(here)s/a.db\n\n[fxa]\nmetrics_uid_secret_key = ${HERE}\n")
	c, _ := MustLoad(t, path, nil)
	dir := c.File[:strings.LastIndex(c.File, "/")]
	if c.SQLURI.Path != dir+"/a.db" || c.Tokenserver.MetricsUIDSecretKey != dir {
		t.Errorf("sqlite %q, key %q; want the file's directory %q", c.SQLURI.Path, c.Tokenserver.MetricsUIDSecretKey, dir)
	}
}

// TestINIBooleans: konfig kept "no" as a truthy string; we read it as false.
func TestINIBooleans(t *testing.T) {
	for s, want := range map[string]bool{"true": true, "True": true, "yes": true, "on": true, "1": true, `"true"`: true,
		"false": false, "FALSE": false, "no": false, "off": false, "0": false, `"no"`: false} {
		c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\nallow_new_users = "+s+"\n"), nil)
		if c.AllowNewUsers != want {
			t.Errorf("allow_new_users = %s: %v, want %v", s, c.AllowNewUsers, want)
		}
	}
}

// TestTokenserverAllowNewUsersWins: the legacy server copied
// [syncserver] allow_new_users to [tokenserver] only when unset there.
func TestTokenserverAllowNewUsersWins(t *testing.T) {
	for _, file := range []string{
		"[syncserver]\nallow_new_users = true\n[tokenserver]\nallow_new_users = false\n",
		"[tokenserver]\nallow_new_users = false\n[syncserver]\nallow_new_users = true\n",
	} {
		c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", file), nil)
		if c.AllowNewUsers {
			t.Errorf("%q: new users allowed", file)
		}
	}
}

func TestLegacyNotices(t *testing.T) {
	const file = `[server:main]
use = egg:Paste#http
threads = 4
loglevel = debug

[syncserver]
public_url = http://localhost:5000/
browserid_verifier = https://verifier.accounts.firefox.com/v2

[browserid]
backend = tokenserver.verifiers.LocalVerifier

[tokenserver]
backend = syncserver.staticnode.StaticNodeAssignment
sqluri = pymysql://u:p@localhost/tokenserver
secrets.backend = mozsvc.secrets.FixedSecrets

[storage]
backend = syncstorage.storage.sql.SQLStorage
create_tables = true
standard_collections = false
no_pool = false

[host:sync.example.com]
storage.sqluri = sqlite:////tmp/other.db

[mozsvc]
retry_after = 60

[loggers]
keys = root

[handlers]
keys = console

[formatter_generic]
format = %(asctime)s $ %(message)s
`
	path := MustWrite(t, "syncserver.ini", file)
	_, notices := MustLoad(t, path, nil)
	want := []string{
		":2: [server:main] use is ignored: this server runs itself (no gunicorn or Paste)",
		":3: [server:main] threads is ignored: one process serves every request concurrently",
		":4: [server:main] loglevel is a gunicorn setting; it is ignored (this server has its own HTTP and FastCGI front-ends)",
		":8: [syncserver] browserid_verifier is ignored: BrowserID is retired and Firefox signs in with Firefox Accounts OAuth tokens",
		":10: [browserid] is ignored: BrowserID is retired and Firefox signs in with Firefox Accounts OAuth tokens",
		":14: [tokenserver] backend is ignored: users are assigned to this server's own storage",
		":15: [tokenserver] sqluri is ignored: all tables live in the database of [syncserver] sqluri",
		":16: [tokenserver] secrets.backend is ignored: tokens are signed and checked with [syncserver] secret",
		":19: [storage] backend is ignored: storage is built into this server",
		":20: [storage] create_tables is ignored: this server manages its database connections and tables itself",
		":21: [storage] standard_collections is ignored: collection ids are kept in the database",
		":22: [storage] no_pool is ignored: this server manages its database connections and tables itself",
		":24: [host:sync.example.com] is ignored: host-specific overrides are not supported; put the values in their own sections",
		":27: [mozsvc] is ignored (the legacy framework's backoff and retry settings)",
		":30: [loggers] and the other Python logging sections are ignored; use [syncserver] log_level and log_format",
	}
	for i := range want {
		want[i] = path + want[i]
	}
	if got := noticeStrings(notices); !reflect.DeepEqual(got, want) {
		t.Errorf("notices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLegacyBraceValues: a legacy value starting with "{" (an endpoint
// pattern, a JSON key set) leaves the file INI; only an inline table
// ({ key = … }) is a sign of TOML.
func TestLegacyBraceValues(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", "[server:main]\nport = 5000\n\n[syncserver]\npublic_url = http://localhost:5000/\n\n[endpoints]\nsync-1.5 = {node}/1.5/{uid}\n")
	c, _ := MustLoad(t, path, nil)
	if c.Format != "ini" || c.EndpointPattern != "{node}/1.5/{uid}" {
		t.Errorf("format %q, pattern %q", c.Format, c.EndpointPattern)
	}
}
