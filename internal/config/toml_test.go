package config

import (
	"os"
	"reflect"
	"testing"
	"time"
)

func TestTOMLValues(t *testing.T) {
	const file = `["server:main"]
host = "[::]"
port = 8080
read_timeout = 2.5
write_timeout = "90s"
socket_mode = "0600"
socket_group = "www-data"
forwarded_allow_ips = ["127.0.0.1", "192.0.2.0/24"]

[syncserver]
public_url = "https://sync.example.com/"
secret = ["old", "new"]
allow_new_users = "no"
force_wsgi_environ = 1
log_format = "JSON"

[storage]
quota_size = 1_000_000
sqlite_synchronous = "normal"

[tokenserver]
allowed_users = "a@example.com, b@example.com"
max_users = 10
multi_node = true

[oauth]
server_url = "https://oauth.example.com/v1"
jwks = '''{"keys": [{"kty": "RSA", "kid": "k1"}]}'''

[endpoints]
sync-1.5 = "{node}/1.5/{uid}"

[hawkauth]
timestamp_window = 0
`
	c, notices := MustLoad(t, MustWrite(t, "syncserver.ini", file), nil)
	if len(notices) != 0 {
		t.Errorf("notices %q", noticeStrings(notices))
	}
	for _, ck := range []struct {
		name      string
		got, want any
	}{
		{"format", c.Format, "toml"},
		{"host", c.Server.Host, "::"},
		{"port", c.Server.Port, 8080},
		{"read timeout", c.Server.ReadTimeout, 2500 * time.Millisecond},
		{"write timeout", c.Server.WriteTimeout, 90 * time.Second},
		{"socket mode", c.Server.SocketMode, os.FileMode(0o600)},
		{"socket group", c.Server.SocketGroup, "www-data"},
		{"forwarded", c.Server.ForwardedAllowIPs, []string{"127.0.0.1", "192.0.2.0/24"}},
		{"secrets", c.Secrets, []string{"old", "new"}},
		{"allow new users", c.AllowNewUsers, false},
		{"force", c.ForceWSGIEnviron, true},
		{"log format", c.LogFormat, "json"},
		{"quota", c.Storage.QuotaSize, int64(1000000)},
		{"synchronous", c.Storage.SQLiteSynchronous, "NORMAL"},
		{"allowed users", c.Tokenserver.AllowedUsers, []string{"a@example.com", "b@example.com"}},
		{"max users", c.Tokenserver.MaxUsers, 10},
		{"multi node", c.Tokenserver.MultiNode, true},
		{"oauth verifier", c.OAuthVerifier, "https://oauth.example.com/v1"},
		{"jwks", c.Tokenserver.JWKS, `{"keys": [{"kty": "RSA", "kid": "k1"}]}`},
		{"endpoint (dotted key)", c.EndpointPattern, "{node}/1.5/{uid}"},
		{"node", c.Tokenserver.NodeURL, "https://sync.example.com"},
		{"timestamp window", c.Hawk.TimestampWindow, time.Duration(0)},
	} {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: got %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestTOMLQuotedEndpoint(t *testing.T) {
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[endpoints]\n\"sync-1.5\" = \"{node}/x/{uid}\"\n"), nil)
	if c.EndpointPattern != "{node}/x/{uid}" {
		t.Errorf("pattern %q", c.EndpointPattern)
	}
}

// TestOAuthVerifierWins: [syncserver] oauth_verifier beats [oauth] server_url
// wherever each is written.
func TestOAuthVerifierWins(t *testing.T) {
	for _, file := range []string{
		"[syncserver]\noauth_verifier = \"https://a.example/\"\n[oauth]\nserver_url = \"https://b.example/\"\n",
		"[oauth]\nserver_url = \"https://b.example/\"\n[syncserver]\noauth_verifier = \"https://a.example/\"\n",
	} {
		c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", file), nil)
		if c.OAuthVerifier != "https://a.example/" {
			t.Errorf("%q: verifier %q", file, c.OAuthVerifier)
		}
	}
}

func TestLooksLikeTOML(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"[server:main]\nhost = 0.0.0.0\n", false},
		{"[\"server:main\"]\nhost = 0.0.0.0\n", true},
		{"[ 'server:main' ]\n", true},
		{"[[servers]]\n", true},
		{"[syncserver]\nsecret = 'x'\n", true},
		{"[syncserver]\ncors_allowed_origins = [\"*\"]\n", true},
		{"[syncserver]\npublic_url = \"http://x/\"\nsqluri = \"sqlite:///x\"\nsecret = abc\n", true},
		{"[syncserver]\npublic_url = http://x/\nsqluri = sqlite:///x\n[endpoints]\nsync-1.5 = \"{node}/1.5/{uid}\"\n", false},
		{"[syncserver]\nport = 5\nallow_new_users = false\npublic_url: \"http://x/\"\nsecret = \"a\"\n", false},
		{"[server:main]\nhost = \"0.0.0.0\"\n[syncserver]\npublic_url = \"http://x/\"\nsecret = \"a\"\n", false},
	} {
		if got := looksLikeTOML(tc.in); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestLegacyQuotedValues: konfig removed quotes around values, so a legacy
// file may quote them all; it is still read as the legacy file it is.
func TestLegacyQuotedValues(t *testing.T) {
	const file = `[server:main]
use = egg:gunicorn
host = "0.0.0.0"

[syncserver]
public_url = "https://sync.example.com/"
secret = "abc"
sqluri = "sqlite:////var/lib/sync.db"
`
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", file), nil)
	if c.Format != "ini" || c.Server.Host != "0.0.0.0" || c.PublicURL.Host != "sync.example.com" ||
		c.Secrets[0] != "abc" || c.SQLURI.Path != "/var/lib/sync.db" {
		t.Errorf("got %+v", c)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"public_url", "public_url", 0},
		{"publc_url", "public_url", 1},
		{"quota_sise", "quota_size", 1},
		{"pubilc_url", "public_url", 1},
		{"", "abc", 3},
		{"port", "host", 2},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
