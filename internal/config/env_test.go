package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	for _, tc := range []struct{ section, key, want string }{
		{"syncserver", "public_url", "SYNCSERVER_PUBLIC_URL"},
		{"storage", "quota_size", "SYNCSERVER_STORAGE_QUOTA_SIZE"},
		{"server:main", "read_timeout", "SYNCSERVER_SERVER_MAIN_READ_TIMEOUT"},
		{"endpoints", "sync-1.5", "SYNCSERVER_ENDPOINTS_SYNC_1_5"},
		{"oauth", "scope", "SYNCSERVER_OAUTH_SCOPE"},
	} {
		if got := EnvName(tc.section, tc.key); got != tc.want {
			t.Errorf("EnvName(%q, %q) = %q, want %q", tc.section, tc.key, got, tc.want)
		}
	}
}

// TestEnvVarsCoverEveryKey: each key we read has its variable, no name
// stands for two keys, and the legacy server's names still work.
func TestEnvVarsCoverEveryKey(t *testing.T) {
	byName := map[string]EnvVar{}
	systematic := map[string]int{}
	for _, ev := range EnvVars() {
		if prev, ok := byName[ev.Name]; ok {
			t.Errorf("%s sets both [%s] %s and [%s] %s", ev.Name, prev.Section, prev.Key, ev.Section, ev.Key)
		}
		byName[ev.Name] = ev
		if k := findKey(ev.Section, ev.Key); k == nil || k.kind == kindIgnored {
			t.Errorf("%s sets [%s] %s, which is not a key we read", ev.Name, ev.Section, ev.Key)
		}
		if ev.Name == EnvName(ev.Section, ev.Key) {
			systematic[ev.Section+"."+ev.Key]++
		}
	}
	for _, k := range keys {
		if k.kind != kindIgnored && systematic[k.section+"."+k.name] != 1 {
			t.Errorf("[%s] %s has %d variables named by the rule, want 1", k.section, k.name, systematic[k.section+"."+k.name])
		}
	}
	for _, name := range []string{"SYNCSERVER_PUBLIC_URL", "SYNCSERVER_SECRET", "SYNCSERVER_SQLURI",
		"SYNCSERVER_IDENTITY_PROVIDER", "SYNCSERVER_OAUTH_VERIFIER", "SYNCSERVER_ALLOW_NEW_USERS",
		"SYNCSERVER_FORCE_WSGI_ENVIRON", "SYNCSERVER_BATCH_UPLOAD_ENABLED", "SYNCSERVER_DEBUG_ENABLED",
		"SYNCSERVER_HOST", "SYNCSERVER_PORT", "PORT", "SYNCSERVER_FORWARDED_ALLOW_IPS"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("%s is not a variable", name)
		}
	}
}

// envSamples are a value of each key, not its default, as text (what an
// environment variable and a legacy INI file hold alike).
var envSamples = map[string]string{
	"server:main.host":                  "0.0.0.0",
	"server:main.port":                  "5001",
	"server:main.forwarded_allow_ips":   "10.0.0.0/8, ::1",
	"server:main.read_timeout":          "5",
	"server:main.write_timeout":         "7.5",
	"server:main.idle_timeout":          "9",
	"server:main.max_body_buffer_bytes": "8388608",
	"server:main.shutdown_timeout":      "11",
	"server:main.max_header_bytes":      "4096",
	"server:main.memory_limit":          "100000000",
	"server:main.socket_mode":           "0600",
	"server:main.socket_group":          "www-data",
	"syncserver.public_url":             "https://sync.example.com/ff-sync/",
	"syncserver.secret":                 "old new",
	"syncserver.sqluri":                 "postgresql://sync@db.example.com/sync",
	"syncserver.identity_provider":      "https://accounts.example.com/",
	"syncserver.oauth_verifier":         "https://oauth.example.com/v1",
	"syncserver.allow_new_users":        "no",
	"syncserver.force_wsgi_environ":     "yes",
	"syncserver.debug_enabled":          "on",
	"syncserver.log_format":             "json",
	"syncserver.log_level":              "warn",
	"syncserver.cors_allowed_origins":   "https://a.example.com,https://b.example.com",
	"syncserver.forwarded_allow_ips":    "10.1.2.3 10.1.2.4",
	"syncserver.metrics_listen":         "127.0.0.1:9090",
	"syncserver.role":                   "storage",
	"storage.batch_upload_enabled":      "false",
	"storage.quota_size":                "1000000",
	"storage.max_request_bytes":         "3000000",
	"storage.max_record_payload_bytes":  "1000",
	"storage.max_post_records":          "50",
	"storage.max_post_bytes":            "2100000",
	"storage.max_total_records":         "500",
	"storage.max_total_bytes":           "3000000",
	"storage.sqlite_synchronous":        "normal",
	"storage.sqlite_cache_bytes":        "1048576",
	"storage.pool_size":                 "7",
	"storage.pool_max_overflow":         "3",
	"storage.pool_recycle":              "60",
	"storage.pool_timeout":              "5",
	"tokenserver.token_duration":        "600",
	"tokenserver.node_url":              "https://node.example.com",
	"tokenserver.allow_new_users":       "0",
	"tokenserver.jwks":                  `{"keys": [{"kty": "RSA", "kid": "k1"}]}`,
	"tokenserver.multi_node":            "true",
	"tokenserver.max_users":             "10",
	"tokenserver.secrets_file":          "/etc/syncserver/secrets.csv",
	"tokenserver.capacity_release_rate": "0.25",
	"hawkauth.secrets_file":             "/etc/syncserver/node-secrets.csv",
	"tokenserver.allowed_users":         "0123456789abcdef0123456789abcdef, fedcba9876543210fedcba9876543210",
	"endpoints.sync-1.5":                "{node}/1.5/{uid}",
	"oauth.server_url":                  "https://oauth2.example.com/v1",
	"oauth.default_issuer":              "api.example.com",
	"oauth.timeout":                     "3",
	"oauth.jwks":                        `{"keys": [{"kty": "RSA", "kid": "k2"}]}`,
	"oauth.scope":                       "https://identity.mozilla.com/apps/oldsync https://identity.thunderbird.net/apps/sync",
	"purge.interval":                    "60",
	"purge.grace":                       "61",
	"purge.replaced_grace":              "62",
	"purge.rows_per_transaction":        "10",
	"hawkauth.expired_token_timeout":    "63",
	"hawkauth.timestamp_window":         "64",
	"hawkauth.token_cache_bytes":        "65536",
	"fxa.metrics_uid_secret_key":        "k3y",
	"accounts.enabled":                  "yes",
	"accounts.public_url":               "https://accounts.example.com/",
	"accounts.open_signup":              "true",
	"accounts.invite_ttl":               "3600",
	"accounts.access_token_ttl":         "7200",
	"accounts.logins_per_account":       "5",
	"accounts.logins_per_address":       "20",
}

// TestEveryVariableActsAsItsKey sets each variable in turn and compares
// the result with a file that sets the key to the same text.
func TestEveryVariableActsAsItsKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		// A PasteDeploy section makes the file a legacy INI file, whose
		// values are text as the environment's are (its unquoted values
		// outnumber a JSON value, which looks like TOML).
		if err := os.WriteFile(path, []byte("[app:main]\nuse = egg:syncserver\nx = 1\ny = 2\n\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plain := write("plain.ini", "")
	defaults, _ := MustLoad(t, plain, nil)
	// sqluri_password_file needs a server sqluri: TestSQLURIPasswordFile.
	skip := map[string]bool{"syncserver.sqluri_password_file": true}
	for _, ev := range EnvVars() {
		id := ev.Section + "." + ev.Key
		if skip[id] {
			continue
		}
		t.Run(ev.Name, func(t *testing.T) {
			sample, ok := envSamples[id]
			if !ok {
				t.Fatalf("no sample value for [%s] %s: add one to envSamples", ev.Section, ev.Key)
			}
			fromFile, _ := MustLoad(t, write("key.ini", "["+ev.Section+"]\n"+ev.Key+" = "+sample+"\n"), nil)
			fromEnv, _ := MustLoad(t, plain, map[string]string{ev.Name: sample})
			fromFile.File, fromEnv.File = "", ""
			if !reflect.DeepEqual(fromEnv, fromFile) {
				t.Errorf("%s=%s gives\n%+v\nthe file gives\n%+v", ev.Name, sample, fromEnv, fromFile)
			}
			fromEnv.File = defaults.File
			if reflect.DeepEqual(fromEnv, defaults) {
				t.Errorf("%s=%s changed nothing", ev.Name, sample)
			}
		})
	}
}

func TestEnvironmentWithoutFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "sync.db")
	c, notices, err := Load("", envFunc(map[string]string{
		"SYNCSERVER_SQLURI":             "sqlite:///" + db,
		"SYNCSERVER_PUBLIC_URL":         "https://sync.example.com/",
		"SYNCSERVER_HOST":               "0.0.0.0",
		"PORT":                          "8080",
		"SYNCSERVER_STORAGE_QUOTA_SIZE": "1000",
		"SYNCSERVER_OAUTH_SCOPE":        "https://identity.mozilla.com/apps/oldsync,https://identity.thunderbird.net/apps/sync",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 0 {
		t.Errorf("notices %q", noticeStrings(notices))
	}
	if c.File != "" || c.SQLURI.Path != db || c.Server.Host != "0.0.0.0" || c.Server.Port != 8080 ||
		c.Storage.QuotaSize != 1000 || c.PublicURL.Host != "sync.example.com" ||
		!reflect.DeepEqual(c.Tokenserver.OAuthScopes, []string{OldSyncScope, "https://identity.thunderbird.net/apps/sync"}) {
		t.Errorf("got %+v", c)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", `["server:main"]
port = 5000
forwarded_allow_ips = ["10.0.0.1"]

[syncserver]
oauth_verifier = "https://file.example.com/v1"
cors_allowed_origins = ["https://file.example.com"]
`)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(*Config) bool
	}{
		{"SYNCSERVER_PORT over the file", map[string]string{"SYNCSERVER_PORT": "6000"}, func(c *Config) bool { return c.Server.Port == 6000 }},
		{"PORT over the file", map[string]string{"PORT": "6001"}, func(c *Config) bool { return c.Server.Port == 6001 }},
		{"SYNCSERVER_PORT over PORT", map[string]string{"PORT": "6001", "SYNCSERVER_PORT": "6002"}, func(c *Config) bool { return c.Server.Port == 6002 }},
		{"systematic name over PORT", map[string]string{"PORT": "6001", "SYNCSERVER_SERVER_MAIN_PORT": "6003"}, func(c *Config) bool { return c.Server.Port == 6003 }},
		{"other spelling of a file key", map[string]string{"SYNCSERVER_FORWARDED_ALLOW_IPS": "10.0.0.2,10.0.0.3"}, func(c *Config) bool {
			return reflect.DeepEqual(c.Server.ForwardedAllowIPs, []string{"10.0.0.2", "10.0.0.3"})
		}},
		// [oauth] server_url gives way to oauth_verifier in one file, but
		// the environment wins over the file.
		{"oauth server_url over the file's oauth_verifier", map[string]string{"SYNCSERVER_OAUTH_SERVER_URL": "https://env.example.com/v1"}, func(c *Config) bool {
			return c.OAuthVerifier == "https://env.example.com/v1"
		}},
		{"list separated by spaces", map[string]string{"SYNCSERVER_CORS_ALLOWED_ORIGINS": " https://a.example.com  https://b.example.com "}, func(c *Config) bool {
			return reflect.DeepEqual(c.CORSAllowedOrigins, []string{"https://a.example.com", "https://b.example.com"})
		}},
		{"empty variable is unset", map[string]string{"SYNCSERVER_CORS_ALLOWED_ORIGINS": ""}, func(c *Config) bool {
			return reflect.DeepEqual(c.CORSAllowedOrigins, []string{"https://file.example.com"})
		}},
		{"tokenserver allow_new_users wins as in a file", map[string]string{"SYNCSERVER_ALLOW_NEW_USERS": "true", "SYNCSERVER_TOKENSERVER_ALLOW_NEW_USERS": "false"}, func(c *Config) bool {
			return !c.AllowNewUsers
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := MustLoad(t, path, tc.env)
			if !tc.check(c) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestEnvironmentVariableErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SYNCSERVER_STORAGE_QUOTA_SIZE": "-1"}, `SYNCSERVER_STORAGE_QUOTA_SIZE: -1 must not be negative`},
		{map[string]string{"SYNCSERVER_STORAGE_QUOTA_SIZE": "lots"}, `SYNCSERVER_STORAGE_QUOTA_SIZE: want an integer, got "lots"`},
		{map[string]string{"PORT": "http"}, `PORT: want an integer, got "http"`},
		{map[string]string{"SYNCSERVER_PORT": "70000"}, `SYNCSERVER_PORT: 70000 is out of range 1 to 65535`},
		{map[string]string{"SYNCSERVER_SERVER_MAIN_SOCKET_MODE": "0999"}, `SYNCSERVER_SERVER_MAIN_SOCKET_MODE: want an octal mode such as "0660", got "0999"`},
		{map[string]string{"SYNCSERVER_TOKENSERVER_MULTI_NODE": "maybe"}, `SYNCSERVER_TOKENSERVER_MULTI_NODE: want true or false (or yes/no, on/off, 1/0), got "maybe"`},
		{map[string]string{"SYNCSERVER_HOST": "a", "SYNCSERVER_SERVER_MAIN_HOST": "b"}, `SYNCSERVER_HOST: SYNCSERVER_SERVER_MAIN_HOST sets the same setting; keep one`},
		{map[string]string{"SYNCSERVER_FORWARDED_ALLOW_IPS": "10.0.0.1", "SYNCSERVER_SERVER_MAIN_FORWARDED_ALLOW_IPS": "10.0.0.2"},
			`SYNCSERVER_FORWARDED_ALLOW_IPS: SYNCSERVER_SERVER_MAIN_FORWARDED_ALLOW_IPS sets the same setting; keep one`},
		{map[string]string{"SYNCSERVER_OAUTH_SCOPE": "https://identity.mozilla.com/apps/oldsync oldsync?x=1"},
			`SYNCSERVER_OAUTH_SCOPE: "oldsync?x=1" is not an OAuth scope such as https://identity.mozilla.com/apps/oldsync`},
		{map[string]string{"SYNCSERVER_STORAGE_MAX_REQUEST_BYTES": "1000"},
			`[storage] max_request_bytes (1000) must be greater than max_post_bytes (2097152, the default) (set by SYNCSERVER_STORAGE_MAX_REQUEST_BYTES)`},
		{map[string]string{"SYNCSERVER_TOKENSERVER_JWKS": "{\n}"}, `SYNCSERVER_TOKENSERVER_JWKS: want a JSON key set {"keys": […]} with at least one key`},
	} {
		_, _, err := Load("", envFunc(tc.env))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v\nwant %s", tc.env, err, tc.want)
		}
	}
}

func TestIgnoredKeyFromEnvironment(t *testing.T) {
	_, notices, err := Load("", envFunc(map[string]string{"SYNCSERVER_STORAGE_RESET_ON_RETURN": "1", "SYNCSERVER_PUBLIC_URL": "http://x.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SYNCSERVER_STORAGE_RESET_ON_RETURN " + noteDatabase}
	if got := noticeStrings(notices); !reflect.DeepEqual(got, want) {
		t.Errorf("notices %q, want %q", got, want)
	}
}

func TestOAuthScopeKey(t *testing.T) {
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\n"), nil)
	if !reflect.DeepEqual(c.Tokenserver.OAuthScopes, []string{OldSyncScope}) {
		t.Errorf("default %q", c.Tokenserver.OAuthScopes)
	}
	c, _ = MustLoad(t, MustWrite(t, "syncserver.ini", `[oauth]
scope = ["https://identity.mozilla.com/apps/oldsync", "https://identity.thunderbird.net/apps/sync", "profile:uid"]
`), nil)
	if want := []string{OldSyncScope, "https://identity.thunderbird.net/apps/sync", "profile:uid"}; !reflect.DeepEqual(c.Tokenserver.OAuthScopes, want) {
		t.Errorf("list %q, want %q", c.Tokenserver.OAuthScopes, want)
	}
	// A legacy file's single scope is read, without the notice it had.
	c, notices := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\npublic_url = http://localhost:5000/\n\n[oauth]\nscope = https://identity.mozilla.com/apps/oldsync\n"), nil)
	if !reflect.DeepEqual(c.Tokenserver.OAuthScopes, []string{OldSyncScope}) || len(notices) != 0 {
		t.Errorf("legacy: %q, notices %q", c.Tokenserver.OAuthScopes, noticeStrings(notices))
	}
	for _, bad := range []string{`"http://identity.mozilla.com/apps/oldsync"`, `"https:///apps/sync"`, `["profile/email"]`, `"a b/c"`} {
		_, _, err := Load(MustWrite(t, "syncserver.ini", "[oauth]\nscope = "+bad+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "[oauth] scope: ") || !strings.Contains(err.Error(), "is not an OAuth scope") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

// TestREADMEVariables: the variables the README's Configuration section
// names exist, and it names every one that does not follow the rule.
func TestREADMEVariables(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## Configuration\n")
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	section := text[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	known := map[string]bool{EnvConfig: true, envSecretFile: true, "SYNCSERVER_SECRET": true}
	for _, ev := range EnvVars() {
		known[ev.Name] = true
		if ev.Name != EnvName(ev.Section, ev.Key) && !strings.Contains(section, "`"+ev.Name) {
			t.Errorf("the README's Configuration section does not name %s", ev.Name)
		}
	}
	for _, name := range regexp.MustCompile(`SYNCSERVER_[A-Z0-9_]*`).FindAllString(section, -1) {
		// "SYNCSERVER_" of the rule, and the example of a misspelt name.
		if !known[name] && !strings.HasSuffix(name, "_") && len(MisspeltEnv([]string{name + "=x"})) == 0 {
			t.Errorf("the README names %s, which is no variable", name)
		}
	}
}

func TestMisspeltEnv(t *testing.T) {
	got := noticeStrings(MisspeltEnv([]string{
		"SYNCSERVER_PUBLC_URL=https://x.example/", // a slip
		"SYNCSERVER_SQLURI=sqlite:///x.db",        // ours
		"SYNCSERVER_STORAGE_QUOTA_SIZ=1",          // a slip
		"SYNCSERVER_SECRETFILE=/x",                // a slip
		"SYNCSERVER_E2E_FIREFOX_DIR=/x",           // someone else's
		"SYNCSERVER_STORAGE_RESET_ON_RETURN=1",    // ignored with its own notice
		"PUBLIC_URL=x",                            // not ours
		"SYNCSERVER_TEST_REQUIRE=mysql",
	}))
	want := []string{
		"SYNCSERVER_PUBLC_URL is not a variable of ours and is ignored; did you mean SYNCSERVER_PUBLIC_URL?",
		"SYNCSERVER_STORAGE_QUOTA_SIZ is not a variable of ours and is ignored; did you mean SYNCSERVER_STORAGE_QUOTA_SIZE?",
		"SYNCSERVER_SECRETFILE is not a variable of ours and is ignored; did you mean SYNCSERVER_SECRET_FILE?",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
