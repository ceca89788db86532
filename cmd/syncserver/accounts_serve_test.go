package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/accounts"
	"syncserver/accounts/onepw"
	"syncserver/db"
	"syncserver/hawk"
	"syncserver/internal/config"
)

// The accounts service as the real server mounts it: on a dedicated
// origin (another host on the same listener), ahead of the storage and
// token routes, with our access tokens verified in-process.

// accountsServer runs Main with the accounts on http://localhost:port and
// the storage on http://127.0.0.1:port (one listener, two origins).
func accountsServer(t *testing.T, dedicated bool) (*Main, *syncBuffer, int, string) {
	t.Helper()
	port := freePort(t)
	conf := fmt.Sprintf("[syncserver]\npublic_url = \"http://127.0.0.1:%d/\"\nsqluri = \"sqlite:///syncserver.db\"\n\n[accounts]\nenabled = true\n", port)
	if dedicated {
		conf += fmt.Sprintf("public_url = \"http://localhost:%d\"\n", port)
	}
	cfg := writeConfig(t, conf)
	m, logs := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:"+strconv.Itoa(port))
	runMain(t, m, logs)
	return m, logs, port, cfg
}

type httpAnswer struct {
	status int
	header http.Header
	body   []byte
}

// send makes a request to the listener with the given Host header.
func send(t *testing.T, port int, host, method, target, body string, hdr ...string) httpAnswer {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(port)+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, resp.Header, b}
}

// sessionHawk signs a request with a session token as Firefox does, over
// the accounts origin's host and port.
func sessionHawk(t *testing.T, sessionToken, method, target, host string, port int) string {
	t.Helper()
	raw, err := hex.DecodeString(sessionToken)
	if err != nil {
		t.Fatal(err)
	}
	tk := onepw.DeriveToken(raw, onepw.KindSession)
	a := hawk.Auth{ID: tk.ID, TS: time.Now().Unix(), Nonce: strconv.FormatInt(time.Now().UnixNano(), 36)}
	a.MAC = hawk.Sign(tk.HMACKey, a, hawk.Request{Method: method, Host: host, Port: port, Resource: target})
	return a.Header()
}

func TestAccountsDedicatedOrigin(t *testing.T) {
	m, logs, port, cfg := accountsServer(t, true)
	acc := "localhost:" + strconv.Itoa(port)
	sync := "127.0.0.1:" + strconv.Itoa(port)

	r := send(t, port, acc, "GET", "/.well-known/fxa-client-configuration", "")
	var disc map[string]any
	if err := json.Unmarshal(r.body, &disc); r.status != 200 || err != nil {
		t.Fatalf("discovery: %d %s", r.status, r.body)
	}
	if disc["auth_server_base_url"] != "http://"+acc || disc["sync_tokenserver_base_url"] != "http://"+sync+"/token" {
		t.Fatalf("discovery %v", disc)
	}
	r = send(t, port, acc, "GET", "/?context=oauth_webchannel_v1", "")
	if r.status != 200 || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("page: %d %v", r.status, r.header)
	}
	// The accounts origin serves nothing else: no storage, no tokens...
	for _, p := range []string{"/token/1.0/sync/1.5", "/storage/1.5/1/info/collections", "/nothing"} {
		if r := send(t, port, acc, "GET", p, ""); r.status != 404 || !json.Valid(r.body) {
			t.Fatalf("%s on the accounts origin: %d %s", p, r.status, r.body)
		}
	}
	if r := send(t, port, acc, "GET", "/__heartbeat__", ""); r.status != 200 {
		t.Fatalf("heartbeat on the accounts origin: %d", r.status)
	}
	// ...and the storage origin serves neither the page nor the API.
	if r := send(t, port, sync, "GET", "/", ""); r.header.Get("Content-Security-Policy") != "" && strings.Contains(string(r.body), "<form") {
		t.Fatal("the page is served on the storage origin")
	}
	if r := send(t, port, sync, "POST", "/v1/account/credentials/status", `{"email":"a@example.org"}`); r.status == 200 {
		t.Fatalf("accounts API on the storage origin: %s", r.body)
	}

	// The service names its users' issuer as the admin commands do.
	var acct db.Account
	svc, err := m.accountsService(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cmdUser := m.syncUser(db.Account{UID: "u"}); svc.Issuer() != acc || cmdUser != "u@"+acc {
		t.Fatalf("service issuer %q, admin commands' sync user %q, want issuer %q", svc.Issuer(), cmdUser, acc)
	}

	// End to end through the real server: an account, login, an access
	// token, the tokenserver.
	as := m.Store.(db.AccountsStore)
	salt := onepw.NewClientSalt()
	qs := onepw.QuickStretchV2("pw", salt)
	acct, err = accounts.CreateAccount(context.Background(), as, "me@example.org", salt, onepw.AuthPW(qs), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r = send(t, port, acc, "POST", "/v1/account/login", fmt.Sprintf(`{"email":"me@example.org","authPW":"%x"}`, onepw.AuthPW(qs)))
	var login struct{ SessionToken string }
	if err := json.Unmarshal(r.body, &login); r.status != 200 || err != nil {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	body := `{"client_id":"5882386c6d801776","grant_type":"fxa-credentials","scope":"https://identity.mozilla.com/apps/oldsync","ttl":21600}`
	r = send(t, port, acc, "POST", "/v1/oauth/token", body, "Authorization", sessionHawk(t, login.SessionToken, "POST", "/v1/oauth/token", "localhost", port))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &tok); r.status != 200 || err != nil {
		t.Fatalf("fxa-credentials: %d %s", r.status, r.body)
	}
	kcs := make([]byte, 16)
	rand.Read(kcs)
	kid := strconv.FormatInt(acct.KeysChangedAt, 10) + "-" + base64.RawURLEncoding.EncodeToString(kcs)
	getToken := func() httpAnswer {
		return send(t, port, sync, "GET", "/token/1.0/sync/1.5", "", "Authorization", "Bearer "+tok.AccessToken, "X-KeyID", kid)
	}
	r = getToken()
	var st struct {
		UID int64 `json:"uid"`
	}
	if err := json.Unmarshal(r.body, &st); r.status != 200 || err != nil {
		t.Fatalf("tokenserver: %d %s\n%s", r.status, r.body, logs)
	}
	// The tokenserver keeps the user as <uid>@<accounts host>.
	if _, err := m.Store.Users().GetUser(context.Background(), db.Service, acct.UID+"@"+acc); err != nil {
		t.Fatalf("no tokenserver user %s@%s: %v", acct.UID, acc, err)
	}
	if strings.Contains(logs.String(), login.SessionToken) || strings.Contains(logs.String(), tok.AccessToken) {
		t.Fatal("a token in the log")
	}

	// A restart keeps the signing key and the accounts: the same access
	// token still works.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, logs2 := newTestMain(t, "-config", cfg, "-http", "127.0.0.1:"+strconv.Itoa(port))
	runMain(t, m2, logs2)
	if r := getToken(); r.status != 200 {
		t.Fatalf("after a restart: %d %s", r.status, r.body)
	}
	// Disabled: the tokenserver refuses the account's token.
	if err := m2.Store.(db.AccountsStore).SetAccountDisabled(context.Background(), acct.UID, true); err != nil {
		t.Fatal(err)
	}
	if r := getToken(); r.status != 401 {
		t.Fatalf("disabled account at the tokenserver: %d %s", r.status, r.body)
	}
}

func TestAccountsSharedOrigin(t *testing.T) {
	_, _, port, _ := accountsServer(t, false)
	host := "127.0.0.1:" + strconv.Itoa(port)
	r := send(t, port, host, "GET", "/.well-known/fxa-client-configuration", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"auth_server_base_url":"http://`+host+`"`) {
		t.Fatalf("discovery: %d %s", r.status, r.body)
	}
	if r := send(t, port, host, "GET", "/signin", ""); r.status != 200 || r.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("page: %d %v", r.status, r.header)
	}
	// The storage and token routes are still there.
	if r := send(t, port, host, "GET", "/__heartbeat__", ""); r.status != 200 {
		t.Fatalf("heartbeat: %d", r.status)
	}
	if r := send(t, port, host, "GET", "/token/1.0/sync/1.5", ""); r.status != 401 {
		t.Fatalf("token route without credentials: %d %s", r.status, r.body)
	}
}

// TestAccountsOriginIPv6 builds the front from the configuration, as the
// server does: an accounts origin on an IPv6 literal matches its Host
// header, brackets and all.
func TestAccountsOriginIPv6(t *testing.T) {
	storage, err := config.ParsePublicURL("http://[::1]:5000/")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{PublicURL: storage}
	cfg.Accounts.PublicURL = "http://[::1]:5001"
	f, err := newAccountsFront(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"[::1]:5001": true, "[::1]:5000": false, "[::2]:5001": false} {
		if got := f.onAccountsOrigin(host); got != want {
			t.Errorf("onAccountsOrigin(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestAccountsOriginMatching(t *testing.T) {
	for _, tc := range []struct {
		name       string
		front      accountsFront
		host       string
		onAccounts bool
	}{
		{"same host and port", accountsFront{host: "accounts.example.org", port: 443, defaultPort: true}, "accounts.example.org:443", true},
		{"no port, default", accountsFront{host: "accounts.example.org", port: 443, defaultPort: true}, "accounts.example.org", true},
		{"case and trailing dot", accountsFront{host: "accounts.example.org", port: 443, defaultPort: true}, "Accounts.Example.ORG.", true},
		{"other host", accountsFront{host: "accounts.example.org", port: 443, defaultPort: true}, "sync.example.org", false},
		{"other port", accountsFront{host: "localhost", port: 5001}, "localhost:5000", false},
		{"no port, shared host on another port", accountsFront{host: "localhost", port: 5001, sharedHost: true}, "localhost", false},
		{"no port, own host", accountsFront{host: "localhost", port: 5001}, "localhost", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.front.onAccountsOrigin(tc.host); got != tc.onAccounts {
				t.Fatalf("onAccountsOrigin(%q) = %v", tc.host, got)
			}
		})
	}
}
