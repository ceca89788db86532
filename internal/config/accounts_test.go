package config

import (
	"strings"
	"testing"
	"time"
)

func TestAccountsDefaults(t *testing.T) {
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\npublic_url = \"https://sync.example.com/ff-sync/\"\n"), nil)
	a := c.Accounts
	if a.Enabled || a.OpenSignup || a.PublicURLSet {
		t.Errorf("enabled %v, open_signup %v, public_url set %v; want all false", a.Enabled, a.OpenSignup, a.PublicURLSet)
	}
	// The origin of [syncserver] public_url, without its path.
	if a.PublicURL != "https://sync.example.com" {
		t.Errorf("public_url %q, want https://sync.example.com", a.PublicURL)
	}
	if a.InviteTTL != 7*24*time.Hour || a.AccessTokenTTL != 6*time.Hour || a.LoginsPerAccount != 10 || a.LoginsPerAddress != 30 {
		t.Errorf("got %+v", a)
	}
}

func TestAccountsKeys(t *testing.T) {
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", `[syncserver]
public_url = "http://sync.example.com/"

[accounts]
enabled = true
public_url = "https://Accounts.Example.com:8443/"
open_signup = true
invite_ttl = 3600
access_token_ttl = 600
logins_per_account = 3
logins_per_address = 4
`), nil)
	want := AccountsConfig{Enabled: true, PublicURL: "https://accounts.example.com:8443", PublicURLSet: true, OpenSignup: true,
		InviteTTL: time.Hour, AccessTokenTTL: 10 * time.Minute, LoginsPerAccount: 3, LoginsPerAddress: 4}
	if c.Accounts != want {
		t.Errorf("got  %+v\nwant %+v", c.Accounts, want)
	}
}

func TestAccountsLoopbackOrigins(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8000/", "http://localhost:5000", "http://[::1]:9000/", "http://127.0.0.2/", "https://accounts.example.com"} {
		c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[accounts]\nenabled = true\npublic_url = \""+u+"\"\n"), nil)
		if !c.Accounts.PublicURLSet || !strings.HasPrefix(u, c.Accounts.PublicURL) {
			t.Errorf("%s: public_url %q", u, c.Accounts.PublicURL)
		}
	}
	// Enabled with the origin of a loopback [syncserver] public_url.
	c, _ := MustLoad(t, MustWrite(t, "syncserver.ini", "[syncserver]\npublic_url = \"http://127.0.0.1:5000/sync/\"\n[accounts]\nenabled = true\n"), nil)
	if c.Accounts.PublicURL != "http://127.0.0.1:5000" {
		t.Errorf("derived origin %q", c.Accounts.PublicURL)
	}
}

// TestAccountsErrors: a bad accounts origin is refused with the file, the
// line and the reason.
func TestAccountsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"http on a public host", "[accounts]\npublic_url = \"http://accounts.example.com/\"\n",
			[]string{`:2: [accounts] public_url: "http://accounts.example.com" is plain http on a host that is not loopback`, "WebCrypto", "https", "127.0.0.1, ::1 or localhost"}},
		{"a path", "[accounts]\n\npublic_url = \"https://example.com/accounts/\"\n",
			[]string{`:3: [accounts] public_url: "https://example.com/accounts/" has the path "/accounts"`, "root of their origin", "use https://example.com/"}},
		{"not a URL", "[accounts]\npublic_url = \"accounts.example.com\"\n",
			[]string{`:2: [accounts] public_url: not a valid URL`}},
		{"a query", "[accounts]\npublic_url = \"https://a.example.com/?x=1\"\n", []string{`:2: [accounts] public_url: not a valid URL`}},
		{"derived from an http public_url", "[syncserver]\npublic_url = \"http://sync.example.com/\"\n\n[accounts]\nenabled = true\n",
			[]string{`:5: [accounts] enabled: the accounts origin is that of [syncserver] public_url, and "http://sync.example.com" is plain http`, "dedicated https origin"}},
		{"token ttl over 6 h", "[accounts]\naccess_token_ttl = 21601\n", []string{`:2: [accounts] access_token_ttl: 21601 seconds is too long (at most 21600`}},
		{"invite ttl too short", "[accounts]\ninvite_ttl = 1\n", []string{`:2: [accounts] invite_ttl: 1 seconds is too short`}},
		{"no logins", "[accounts]\nlogins_per_account = 0\n", []string{`:2: [accounts] logins_per_account: 0 is out of range`}},
		{"misspelt", "[accounts]\nopen_sign_up = true\n", []string{`:2: [accounts] open_sign_up: unknown key; did you mean open_signup?`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := MustWrite(t, "syncserver.ini", tc.file)
			_, _, err := Load(path, nil)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.HasPrefix(err.Error(), path+":") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q does not start with the file or has several lines", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
	// Not enabled: the derived origin is not checked (public_url is plain
	// http behind a LAN, say), so nothing breaks for those who do not
	// use the accounts.
	if _, _, err := Load(MustWrite(t, "syncserver.ini", "[syncserver]\npublic_url = \"http://sync.example.com/\"\n"), nil); err != nil {
		t.Errorf("accounts off, http public_url: %v", err)
	}
}

func TestAccountsEnvironment(t *testing.T) {
	c, _, err := Load("", envFunc(map[string]string{
		"SYNCSERVER_PUBLIC_URL":          "https://sync.example.com/",
		"SYNCSERVER_ACCOUNTS_ENABLED":    "1",
		"SYNCSERVER_ACCOUNTS_PUBLIC_URL": "https://accounts.example.com",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Accounts.Enabled || c.Accounts.PublicURL != "https://accounts.example.com" {
		t.Errorf("got %+v", c.Accounts)
	}
	_, _, err = Load("", envFunc(map[string]string{"SYNCSERVER_PUBLIC_URL": "http://sync.example.com/", "SYNCSERVER_ACCOUNTS_ENABLED": "true"}))
	if err == nil || !strings.HasPrefix(err.Error(), "SYNCSERVER_ACCOUNTS_ENABLED: the accounts origin is that of [syncserver] public_url (set by SYNCSERVER_PUBLIC_URL)") {
		t.Errorf("error %v", err)
	}
	_, _, err = Load("", envFunc(map[string]string{"SYNCSERVER_ACCOUNTS_PUBLIC_URL": "http://10.0.0.1/"}))
	if err == nil || !strings.HasPrefix(err.Error(), `SYNCSERVER_ACCOUNTS_PUBLIC_URL: "http://10.0.0.1" is plain http`) {
		t.Errorf("error %v", err)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{"localhost": true, "LOCALHOST.": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"10.0.0.1": false, "example.com": false, "localhost.example.com": false, "::": false, "0.0.0.0": false} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
}
