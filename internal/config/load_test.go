package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// MustWrite writes a file named name into a new temporary directory and
// returns its path.
func MustWrite(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// MustLoad loads a file that must be valid.
func MustLoad(tb testing.TB, path string, env map[string]string) (*Config, []Notice) {
	tb.Helper()
	c, notices, err := Load(path, envFunc(env))
	if err != nil {
		tb.Fatalf("Load(%s): %v", path, err)
	}
	return c, notices
}

func envFunc(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

func noticeStrings(ns []Notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.String())
	}
	return out
}

func TestShippedFile(t *testing.T) {
	const path = "../../syncserver.ini"
	c, notices := MustLoad(t, path, nil)
	if len(notices) != 0 {
		t.Errorf("notices: %q, want none", noticeStrings(notices))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default(filepath.Dir(abs))
	want.File, want.Format = abs, "toml"
	want.PublicURLSet = true
	want.SQLURI.Raw = "sqlite:///syncserver.db"
	want.IdentityProvider = "https://accounts.firefox.com/"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	// The values a newcomer sees, spelt out.
	if c.Server.Host != "127.0.0.1" || c.Server.Port != 5000 {
		t.Errorf("listen on %s:%d, want 127.0.0.1:5000", c.Server.Host, c.Server.Port)
	}
	if got, want := c.SQLURI.Path, filepath.Join(filepath.Dir(abs), "syncserver.db"); got != want {
		t.Errorf("sqlite path %q, want %q", got, want)
	}
	if c.PublicURL.String() != "http://localhost:5000" || len(c.Secrets) != 0 || !c.AllowNewUsers ||
		c.ForceWSGIEnviron || c.Storage.QuotaSize != 0 || c.Tokenserver.TokenDuration != time.Hour {
		t.Errorf("unexpected values: %+v", c)
	}
}

// TestShippedFileDocumented checks that the sample shows every key we read,
// set or as a commented-out example, each under a comment that explains it.
func TestShippedFileDocumented(t *testing.T) {
	data, err := os.ReadFile("../../syncserver.ini")
	if err != nil {
		t.Fatal(err)
	}
	// Other spellings of a setting the sample shows once.
	skip := map[string]bool{"syncserver.forwarded_allow_ips": true, "tokenserver.jwks": true, "oauth.server_url": true,
		"tokenserver.allow_new_users": true, "hawkauth.secrets_file": true}
	shown := map[string]bool{}
	sec, prev := "", ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "["):
			sec = strings.Trim(line, `[]"`)
		case isKeyLine(strings.TrimPrefix(line, "#")):
			name := strings.SplitN(strings.TrimPrefix(line, "#"), "=", 2)[0]
			shown[sec+"."+strings.Trim(strings.TrimSpace(name), `"`)] = true
			if !strings.HasPrefix(prev, "#") || isKeyLine(strings.TrimPrefix(prev, "#")) {
				t.Errorf("line %d: %s has no comment of its own above it", i+1, name)
			}
		}
		prev = line
	}
	for _, k := range keys {
		if id := k.section + "." + k.name; k.kind != kindIgnored && !skip[id] && !shown[id] {
			t.Errorf("%s is not in the sample", id)
		}
	}
}

func isKeyLine(s string) bool {
	k, _, ok := strings.Cut(s, " = ")
	return ok && !strings.ContainsAny(strings.TrimSpace(k), " ")
}

func TestLegacyStockFile(t *testing.T) {
	const path = "testdata/legacy-stock.ini"
	c, notices := MustLoad(t, path, nil)
	if c.Format != "ini" {
		t.Errorf("format %q, want ini", c.Format)
	}
	abs, _ := filepath.Abs(path)
	want := Default(filepath.Dir(abs))
	want.File, want.Format = abs, "ini"
	want.Server.Host = "0.0.0.0"
	want.PublicURLSet = true
	want.IdentityProvider = "https://accounts.firefox.com/"
	want.SQLURI = SQLURI{Raw: "sqlite:////tmp/x.db", Driver: "sqlite", Path: "/tmp/x.db"}
	want.Secrets = []string{"db8a203aed5fe3e4594d4b75990acb76242efd35"}
	want.AllowNewUsers = false
	want.Tokenserver.NodeURL = "http://localhost:8000"
	want.EndpointPattern = "http://localhost:8000/1.5/{uid}"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	wantNotices := []string{
		path + ":2: [server:main] use is ignored: this server runs itself (no gunicorn or Paste)",
		path + ":5: [server:main] workers is ignored: one process serves every request concurrently",
		path + ":6: [server:main] timeout (gunicorn's worker timeout) is ignored; see read_timeout, write_timeout and idle_timeout",
		path + ":8: [app:main] is ignored: it only told PasteDeploy which application to run",
	}
	if got := noticeStrings(notices); !reflect.DeepEqual(got, wantNotices) {
		t.Errorf("notices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantNotices, "\n"))
	}
}

func TestDefaults(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", "")
	c, notices := MustLoad(t, path, nil)
	dir := filepath.Dir(path)
	if got, want := c.SQLURI, (SQLURI{Raw: "sqlite:///" + dir + "/syncserver.db", Driver: "sqlite", Path: dir + "/syncserver.db"}); got != want {
		t.Errorf("sqluri %+v, want %+v", got, want)
	}
	if c.PublicURLSet || c.PublicURL.String() != "http://localhost:5000" || c.Tokenserver.NodeURL != "http://localhost:5000" {
		t.Errorf("public_url %v (set %v), node %q", c.PublicURL, c.PublicURLSet, c.Tokenserver.NodeURL)
	}
	want := []string{path + ": [syncserver] public_url is not set: using http://localhost:5000/, which only a Firefox on this machine can reach; set it to the URL Firefox uses"}
	if got := noticeStrings(notices); !reflect.DeepEqual(got, want) {
		t.Errorf("notices %q, want %q", got, want)
	}
	if c.Server.SocketMode != 0o660 || c.Server.MaxHeaderBytes != 16384 || c.Hawk.TimestampWindow != 365*24*time.Hour ||
		!reflect.DeepEqual(c.Server.ForwardedAllowIPs, []string{"127.0.0.1", "::1"}) || c.LogLevel != "info" {
		t.Errorf("defaults: %+v", c)
	}
	// Each Default is a fresh value: changing one must not change another.
	a, b := Default("/x"), Default("/x")
	a.CORSAllowedOrigins[0] = "https://changed.example"
	if b.CORSAllowedOrigins[0] != "*" {
		t.Error("Default shares slices between calls")
	}
}

func TestNoFile(t *testing.T) {
	c, _, err := Load("", envFunc(map[string]string{"SYNCSERVER_PUBLIC_URL": "https://sync.example.com/"}))
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if c.File != "" || c.Format != "" || c.SQLURI.Path != filepath.Join(wd, "syncserver.db") || c.PublicURL.Host != "sync.example.com" {
		t.Errorf("got %+v", c)
	}
}

func TestRelativeSQLiteIsBesideTheFile(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", "[syncserver]\nsqluri = \"sqlite:///data/sync.db\"\n")
	c, _ := MustLoad(t, path, nil)
	if want := filepath.Join(filepath.Dir(path), "data", "sync.db"); c.SQLURI.Path != want {
		t.Errorf("path %q, want %q", c.SQLURI.Path, want)
	}
}

func TestEnvironment(t *testing.T) {
	secretFile := MustWrite(t, "secret", "\n  file-secret-1 file-secret-2 \n\n")
	emptyFile := MustWrite(t, "empty", " \n")
	const file = `[syncserver]
public_url = "http://file.example/"
secret = "file-secret"
allow_new_users = true

[tokenserver]
allow_new_users = true
`
	for _, tc := range []struct {
		name    string
		env     map[string]string
		check   func(*Config) bool
		notices int // besides none
	}{
		{"none", nil, func(c *Config) bool {
			return c.PublicURL.Host == "file.example" && c.Secrets[0] == "file-secret" && c.AllowNewUsers
		}, 0},
		{"public url", map[string]string{"SYNCSERVER_PUBLIC_URL": "https://Env.Example:443/sync/"}, func(c *Config) bool {
			return c.PublicURL.String() == "https://env.example/sync" && c.Tokenserver.NodeURL == "https://env.example/sync"
		}, 0},
		{"secret", map[string]string{"SYNCSERVER_SECRET": "old new"}, func(c *Config) bool {
			return reflect.DeepEqual(c.Secrets, []string{"old", "new"}) && !c.SecretFromEnvFile
		}, 0},
		{"secret file", map[string]string{"SYNCSERVER_SECRET_FILE": secretFile}, func(c *Config) bool {
			return reflect.DeepEqual(c.Secrets, []string{"file-secret-1", "file-secret-2"}) && c.SecretFromEnvFile
		}, 0},
		{"secret wins over secret file", map[string]string{"SYNCSERVER_SECRET": "s", "SYNCSERVER_SECRET_FILE": "/does/not/exist"}, func(c *Config) bool {
			return reflect.DeepEqual(c.Secrets, []string{"s"}) && !c.SecretFromEnvFile
		}, 0},
		{"empty secret file", map[string]string{"SYNCSERVER_SECRET_FILE": emptyFile}, func(c *Config) bool {
			return c.Secrets == nil && c.SecretFromEnvFile
		}, 1},
		{"sqluri", map[string]string{"SYNCSERVER_SQLURI": "sqlite:///env.db"}, func(c *Config) bool {
			return filepath.Base(c.SQLURI.Path) == "env.db" && filepath.IsAbs(c.SQLURI.Path)
		}, 0},
		{"mysql", map[string]string{"SYNCSERVER_SQLURI": "pymysql://u:p@db/sync"}, func(c *Config) bool {
			return c.SQLURI == SQLURI{Raw: "pymysql://u:p@db/sync", Driver: "mysql"}
		}, 0},
		{"identity provider and verifier", map[string]string{
			"SYNCSERVER_IDENTITY_PROVIDER": "https://accounts.example/",
			"SYNCSERVER_OAUTH_VERIFIER":    "https://oauth.accounts.example/v1",
		}, func(c *Config) bool {
			return c.IdentityProvider == "https://accounts.example/" && c.OAuthVerifier == "https://oauth.accounts.example/v1"
		}, 0},
		{"allow new users no beats [tokenserver]", map[string]string{"SYNCSERVER_ALLOW_NEW_USERS": "No"}, func(c *Config) bool {
			return !c.AllowNewUsers
		}, 0},
		{"force wsgi environ", map[string]string{"SYNCSERVER_FORCE_WSGI_ENVIRON": "yes"}, func(c *Config) bool {
			return c.ForceWSGIEnviron
		}, 0},
		{"batch upload off", map[string]string{"SYNCSERVER_BATCH_UPLOAD_ENABLED": "OFF"}, func(c *Config) bool {
			return !c.Storage.BatchUploadEnabled
		}, 0},
		{"debug", map[string]string{"SYNCSERVER_DEBUG_ENABLED": "1"}, func(c *Config) bool {
			return c.DebugEnabled && c.LogLevel == "debug"
		}, 0},
		{"browserid verifier", map[string]string{"SYNCSERVER_BROWSERID_VERIFIER": "https://verifier.example/v2"}, func(c *Config) bool {
			return true
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, notices := MustLoad(t, MustWrite(t, "syncserver.ini", file), tc.env)
			if !tc.check(c) {
				t.Errorf("got %+v", c)
			}
			if len(notices) != tc.notices {
				t.Errorf("notices %q, want %d", noticeStrings(notices), tc.notices)
			}
		})
	}
}

func TestEnvironmentBooleans(t *testing.T) {
	for s, want := range map[string]bool{
		"true": true, "TRUE": true, "on": true, "On": true, "1": true, "yes": true, "YES": true,
		"false": false, "False": false, "off": false, "OFF": false, "0": false, "no": false, "No": false,
	} {
		c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\nforce_wsgi_environ = false\n"),
			map[string]string{"SYNCSERVER_FORCE_WSGI_ENVIRON": s})
		if c.ForceWSGIEnviron != want {
			t.Errorf("%q: %v, want %v", s, c.ForceWSGIEnviron, want)
		}
	}
}

func TestEnvironmentErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SYNCSERVER_ALLOW_NEW_USERS": "maybe"},
			`SYNCSERVER_ALLOW_NEW_USERS: want true or false (or yes/no, on/off, 1/0), got "maybe"`},
		{map[string]string{"SYNCSERVER_BATCH_UPLOAD_ENABLED": "enabled"},
			`SYNCSERVER_BATCH_UPLOAD_ENABLED: want true or false (or yes/no, on/off, 1/0), got "enabled"`},
		{map[string]string{"SYNCSERVER_PUBLIC_URL": "sync.example.com"},
			`SYNCSERVER_PUBLIC_URL: not a valid URL: "sync.example.com" must start with http:// or https://`},
		{map[string]string{"SYNCSERVER_SQLURI": "oracle://db/x"},
			`SYNCSERVER_SQLURI: unsupported database "oracle": use sqlite:///…, mysql://… or postgresql://…`},
		{map[string]string{"SYNCSERVER_SECRET_FILE": "/does/not/exist"},
			`SYNCSERVER_SECRET_FILE: open /does/not/exist: no such file or directory`},
	} {
		_, _, err := Load(MustWrite(t, "syncserver.ini", ""), envFunc(tc.env))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v\nwant %s", tc.env, err, tc.want)
		}
	}
}

func TestCannotRead(t *testing.T) {
	_, _, err := Load("testdata/does-not-exist.ini", nil)
	if want := "testdata/does-not-exist.ini: cannot read: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.File != "testdata/does-not-exist.ini" {
		t.Errorf("error %#v is not a *Error naming the file", err)
	}
}

// TestEmptyMeansDefault: blanking a key gives its default, as leaving it out.
func TestEmptyMeansDefault(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", `[syncserver]
public_url = "https://sync.example.com/"
sqluri = ""
secret = ""

[tokenserver]
node_url = ""

[endpoints]
"sync-1.5" = ""
`)
	c, _ := MustLoad(t, path, nil)
	if c.SQLURI.Path != filepath.Join(filepath.Dir(path), "syncserver.db") || c.Secrets != nil ||
		c.Tokenserver.NodeURL != "https://sync.example.com" || c.EndpointPattern != DefaultEndpointPattern {
		t.Errorf("got %+v", c)
	}
}

func TestPlaceholderSecret(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", "[syncserver]\npublic_url = http://localhost:5000/\nsecret = INSERT_SECRET_KEY_HERE\n")
	c, notices := MustLoad(t, path, nil)
	want := []string{path + ":3: [syncserver] secret is the example INSERT_SECRET_KEY_HERE: anyone who reads it can forge tokens; set a random secret or leave it empty to have one generated"}
	if got := noticeStrings(notices); !reflect.DeepEqual(got, want) || len(c.Secrets) != 1 {
		t.Errorf("notices %q, want %q", got, want)
	}
}

func TestPoolKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file string
	}{
		{"TOML", "[syncserver]\nsqluri = \"pymysql://sync:pw@db.example.com/sync?charset=utf8\"\n\n[storage]\npool_size = 20\npool_max_overflow = 0\npool_recycle = -1\npool_timeout = 2.5\n"},
		{"INI", "[syncserver]\npublic_url = https://sync.example.com/\nsqluri = pymysql://sync:pw@db.example.com/sync?charset=utf8\n\n[storage]\npool_size = 20\npool_max_overflow = 0\npool_recycle = -1\npool_timeout = 2.5\n\n[tokenserver]\npool_size = 3\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, notices := MustLoad(t, MustWrite(t, "syncserver.ini", tc.file), nil)
			st := c.Storage
			if st.PoolSize != 20 || st.PoolMaxOverflow != 0 || st.PoolRecycle != 0 || st.PoolTimeout != 2500*time.Millisecond {
				t.Errorf("pool settings %d %d %v %v", st.PoolSize, st.PoolMaxOverflow, st.PoolRecycle, st.PoolTimeout)
			}
			if c.SQLURI.Driver != "mysql" {
				t.Errorf("driver %q", c.SQLURI.Driver)
			}
			if tc.name == "INI" && (len(notices) != 1 || !strings.Contains(notices[0].Msg, "[tokenserver] pool_size is ignored: one set of connection pools")) {
				t.Errorf("notices %q", noticeStrings(notices))
			}
		})
	}
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\n"), nil)
	if st := c.Storage; st.PoolSize != 5 || st.PoolMaxOverflow != 10 || st.PoolRecycle != time.Hour || st.PoolTimeout != 30*time.Second {
		t.Errorf("defaults %+v", st)
	}
	for _, tc := range []struct{ file, want string }{
		{"[storage]\npool_size = 0\n", "[storage] pool_size: 0 is out of range 1 to 10000"},
		{"[storage]\npool_max_overflow = -1\n", "[storage] pool_max_overflow: -1 must not be negative"},
		{"[storage]\npool_timeout = 0\n", "[storage] pool_timeout: 0 seconds is too short"},
	} {
		if _, _, err := Load(MustWrite(t, "syncserver.ini", tc.file), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestRoleAndSecretsFile: the role and the secrets file, from the file
// (a relative path is beside it) and from the environment.
func TestRoleAndSecretsFile(t *testing.T) {
	path := MustWrite(t, "syncserver.ini", "[syncserver]\nrole = \"token\"\n[tokenserver]\nmulti_node = true\nsecrets_file = \"secrets.csv\"\n")
	c, _ := MustLoad(t, path, nil)
	if c.Role != "token" || c.Tokenserver.SecretsFile != filepath.Join(filepath.Dir(path), "secrets.csv") {
		t.Errorf("role %q, secrets file %q", c.Role, c.Tokenserver.SecretsFile)
	}
	c, _ = MustLoad(t, path, map[string]string{"SYNCSERVER_ROLE": "storage", "SYNCSERVER_HAWKAUTH_SECRETS_FILE": "/etc/s.csv"})
	if c.Role != "storage" || c.Tokenserver.SecretsFile != "/etc/s.csv" {
		t.Errorf("from the environment: role %q, secrets file %q", c.Role, c.Tokenserver.SecretsFile)
	}
	c, _ = MustLoad(t, MustWrite(t, "empty.ini", "[syncserver]\n"), nil)
	if c.Role != "all" || c.Tokenserver.SecretsFile != "" {
		t.Errorf("defaults: role %q, secrets file %q", c.Role, c.Tokenserver.SecretsFile)
	}
	// A token server told its one storage node is fine without multi_node.
	c, _ = MustLoad(t, MustWrite(t, "t.ini", "[syncserver]\nrole = \"token\"\n[tokenserver]\nnode_url = \"https://node1.example.com\"\n"), nil)
	if c.Role != "token" || c.Tokenserver.NodeURL != "https://node1.example.com" {
		t.Errorf("token role with node_url: %q %q", c.Role, c.Tokenserver.NodeURL)
	}
}
