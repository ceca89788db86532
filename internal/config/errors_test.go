package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenFiles: every error is one line naming the file and the line.
func TestBrokenFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"TOML syntax error", `["server:main"]
host = "127.0.0.1"

[syncserver]
public_url = http://localhost:5000/
`, `:5: TOML syntax error: expected value but found "http" instead (strings must be quoted: key = "value")`},
		{"TOML unterminated string", `[syncserver]
public_url = "http://localhost:5000/"
secret = "abc
`, `:3: TOML syntax error: strings cannot contain newlines`},
		{"TOML duplicate key", `[syncserver]
public_url = "http://a/"
public_url = "http://b/"
`, `:3: TOML syntax error: Key 'syncserver.public_url' has already been defined.`},
		{"INI syntax error", `[server:main]
host = 0.0.0.0

[syncserver]
public_url = http://localhost:5000/
this line has no delimiter
`, `:6: INI syntax error: "this line has no delimiter" is not a key = value line`},
		{"INI key before any section", `
public_url = http://localhost:5000/
[syncserver]
`, `:2: INI syntax error: "public_url = http://localhost:5000/" comes before any [section] header`},
		{"INI bad header", "[server:main]\nport = 5000\n[]\n", `:3: INI syntax error: "[]" is not a [section] header`},
		{"INI empty key", "[server:main]\n= 5000\n", `:2: INI syntax error: "= 5000" has no key before "="`},
		{"INI duplicate key", "[syncserver]\npublic_url = http://a/\nsqluri = sqlite:///x.db\npublic_url = http://b/\n",
			`:4: [syncserver] public_url is set twice (first on line 2)`},
		{"misspelt key TOML", `[syncserver]
publc_url = "http://localhost:5000/"
`, `:2: [syncserver] publc_url: unknown key; did you mean public_url?`},
		{"misspelt key INI", `[server:main]
use = egg:gunicorn

[storage]
quota_sise = 1000
`, `:5: [storage] quota_sise: unknown key; did you mean quota_size?`},
		{"key in the wrong section", "[storage]\npublic_url = \"http://x/\"\n",
			`:2: [storage] public_url: unknown key; it belongs in [syncserver]`},
		{"unknown key", "[hawkauth]\nfoo = 1\n",
			`:2: [hawkauth] foo: unknown key (the keys of [hawkauth] are expired_token_timeout, token_cache_bytes, timestamp_window, secrets_file)`},
		{"wrong type TOML", "[\"server:main\"]\nhost = \"localhost\"\nport = \"5000\"\n",
			`:3: [server:main] port: want an integer, got the string "5000" (remove the quotes)`},
		{"wrong type TOML bool", "[syncserver]\nallow_new_users = 2\n",
			`:2: [syncserver] allow_new_users: want true or false (or yes/no, on/off, 1/0), got "2"`},
		{"wrong type TOML list", "[syncserver]\npublic_url = [\"http://x/\"]\n",
			`:2: [syncserver] public_url: want a quoted string, got a list`},
		{"wrong type INI", "[server:main]\nhost = 0.0.0.0\nport = five thousand\n",
			`:3: [server:main] port: want an integer, got "five thousand"`},
		{"bad boolean INI", "[syncserver]\nallow_new_users = nope\n",
			`:2: [syncserver] allow_new_users: want true or false (or yes/no, on/off, 1/0), got "nope"`},
		{"inline comment kept, as konfig", "[syncserver]\nlog_level = info # quieter\n",
			`:2: [syncserver] log_level: want one of debug, info, warn, error, got "info # quieter"`},
		{"two lines for one value", "[syncserver]\npublic_url = http://a/\n  http://b/\n",
			`:2: [syncserver] public_url: want one value, got 2 lines`},
		{"port out of range", "[\"server:main\"]\nport = 70000\n",
			`:2: [server:main] port: 70000 is out of range 1 to 65535`},
		{"negative quota", "[storage]\nquota_size = -1\n",
			`:2: [storage] quota_size: -1 must not be negative`},
		{"negative duration", "[tokenserver]\ntoken_duration = -5\n",
			`:2: [tokenserver] token_duration: -5 seconds must not be negative`},
		{"socket mode as a number", "[\"server:main\"]\nsocket_mode = 660\n",
			`:2: [server:main] socket_mode: want an octal mode as a quoted string such as "0660", got the integer 660`},
		{"unknown section", "[syncserver]\npublic_url = \"http://x/\"\n\n[sycnserver]\nsecret = \"x\"\n",
			`:4: unknown section [sycnserver]; did you mean [syncserver]?`},
		{"unknown section no hint", "[syncserver]\npublic_url = http://x/\n[frobnicate]\na = b\n",
			`:3: unknown section [frobnicate]`},
		{"server.main in TOML", "[server.main]\nport = 5000\n",
			`:1: unknown section [server]; did you mean ["server:main"]?`},
		{"TOML key outside a section", "public_url = \"http://x/\"\n[syncserver]\n",
			`:1: public_url is outside any section; it belongs in [syncserver]`},
		{"TOML unknown key outside a section", "frob = 1\n[syncserver]\n",
			`:1: frob is outside any section; put it under the [section] it belongs to`},
		{"bad public_url", `[syncserver]
# the URL
public_url = "ftp://sync.example.com/"
`, `:3: [syncserver] public_url: not a valid URL: "ftp://sync.example.com/" must start with http:// or https://`},
		{"bad public_url INI", "[syncserver]\npublic_url = localhost:5000\n",
			`:2: [syncserver] public_url: not a valid URL: "localhost:5000" must start with http:// or https://`},
		{"bad sqluri", "[syncserver]\nsqluri = \"oracle://db/sync\"\n",
			`:2: [syncserver] sqluri: unsupported database "oracle": use sqlite:///…, mysql://… or postgresql://…`},
		{"bad sqluri host list", "[syncserver]\nsqluri = \"mysql://u:pw@db1:3306,db2:x/sync\"\n",
			`:2: [syncserver] sqluri: not a valid database URL: host 2 of the list "db1:3306,db2:x": "db2:x" is not a host or host:port`},
		{"post bytes over request bytes", `[storage]
quota_size = 0
max_post_bytes = 3000000
`, `:3: [storage] max_request_bytes (2101248, the default) must be greater than max_post_bytes (3000000)`},
		{"limits both set", `[storage]
max_total_records = 50
max_request_bytes = 4000000
max_post_records = 100
`, `:4: [storage] max_total_records (50) must be at least max_post_records (100)`},
		{"payload over post bytes", "[storage]\nmax_record_payload_bytes = 2097153\n",
			`:2: [storage] max_post_bytes (2097152, the default) must be at least max_record_payload_bytes (2097153)`},
		{"total bytes under post bytes", "[storage]\nmax_total_bytes = 1000\n",
			`:2: [storage] max_total_bytes (1000) must be at least max_post_bytes (2097152, the default)`},
		{"lone dollar", "[syncserver]\nsecret = abc$def\n",
			`:2: [syncserver] secret: a lone "$" must be written "$$" (${name} uses a value)`},
		{"missing reference", "[syncserver]\nsqluri = sqlite:///${DATA}/x.db\n",
			`:2: [syncserver] sqluri: ${DATA}: no key "DATA" in [syncserver] or [DEFAULT], and no environment variable DATA`},
		{"missing section reference", "[tokenserver]\nnode_url = ${sync:public_url}\n",
			`:2: [tokenserver] node_url: ${sync:public_url}: no key "public_url" in [sync] or [DEFAULT]`},
		{"reference loop", "[syncserver]\nsecret = ${secret}\n",
			`:2: [syncserver] secret: ${…} references nest more than 10 deep (a loop?)`},
		{"jwks twice", "[tokenserver]\njwks = '{\"keys\":[{}]}'\n[oauth]\njwks = '{\"keys\":[{}]}'\n",
			`:4: [oauth] jwks: also set as [tokenserver] jwks on line 2; keep one`},
		{"jwks not JSON", "[oauth]\njwks = \"{keys}\"\n",
			`:2: [oauth] jwks: not a JSON key set: invalid character 'k' looking for beginning of object key string`},
		{"endpoint without uid", "[endpoints]\n\"sync-1.5\" = \"{node}/storage/1.5\"\n",
			`:2: [endpoints] sync-1.5: "{node}/storage/1.5" has no {uid}`},
		{"bad forwarded ip", "[\"server:main\"]\nforwarded_allow_ips = \"10.0.0.1, example.com\"\n",
			`:2: [server:main] forwarded_allow_ips: "example.com" is not an IP address, a CIDR range or *`},
		{"bad cors origin", "[syncserver]\ncors_allowed_origins = [\"https://a.example/path\"]\n",
			`:2: [syncserver] cors_allowed_origins: "https://a.example/path" is not an origin such as https://example.com or *`},
		{"bad log format", "[syncserver]\nlog_format = \"xml\"\n",
			`:2: [syncserver] log_format: want one of text, json, got "xml"`},
		{"release rate above 1", "[tokenserver]\ncapacity_release_rate = 1.5\n",
			`:2: [tokenserver] capacity_release_rate: 1.5 is not a share of a node's capacity: want more than 0 and at most 1, such as 0.1`},
		{"release rate not a number", "[tokenserver]\ncapacity_release_rate = \"a tenth\"\n",
			`:2: [tokenserver] capacity_release_rate: want a number, got the string "a tenth"`},
		{"accounts on a storage node", "[syncserver]\nrole = \"storage\"\n[accounts]\nenabled = true\n",
			`:4: [accounts] enabled: a storage-only node (role = "storage") has no tokenserver for the accounts to sign in to; enable them on the token server`},
		{"unknown role", "[syncserver]\nrole = \"proxy\"\n",
			`:2: [syncserver] role: want one of all, token, storage, got "proxy"`},
		{"token role without a node", "[syncserver]\nrole = \"token\"\n",
			`:2: [syncserver] role = "token" serves no storage: set [tokenserver] node_url to the storage node's URL, or multi_node = true and add the nodes with syncserver nodes add`},
		{"secrets file twice", "[tokenserver]\nsecrets_file = \"a.csv\"\n[hawkauth]\nsecrets_file = \"b.csv\"\n",
			`:4: [hawkauth] secrets_file: also set as [tokenserver] secrets_file on line 2; keep one`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := MustWrite(t, "syncserver.ini", tc.file)
			_, _, err := Load(path, nil)
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if got, want := err.Error(), path+tc.want; got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("error has more than one line")
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != path || ce.Line < 1 {
				t.Errorf("error %#v is not a *Error with file and line", err)
			}
		})
	}
}

// TestErrorNamesFileAsGiven: the file is named as the operator wrote it,
// relative paths included, never made absolute.
func TestErrorNamesFileAsGiven(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "syncserver.ini"), []byte("[syncserver]\npublc_url = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, given := range []string{"conf/syncserver.ini", "./conf/syncserver.ini", "conf/../conf/syncserver.ini"} {
		_, _, err := Load(given, nil)
		if want := given + ":2: [syncserver] publc_url: unknown key; did you mean public_url?"; err == nil || err.Error() != want {
			t.Errorf("Load(%q): error %v, want %s", given, err, want)
		}
	}
}
