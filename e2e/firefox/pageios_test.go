package firefox

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncserver/accounts"
	"syncserver/accounts/onepw"
	"syncserver/fcgi"
	"syncserver/handlers"
	"syncserver/internal/testdb"
)

// TestFirefoxPageIOS runs the sign-in page as Firefox for iOS shows it:
// the real page and accounts service, in Firefox with an iOS user agent
// (FxiOS), and in place of the iOS app's WebChannel a script in the page
// that does what firefox-ios does: it takes the WebChannel detail as an
// object, reads messageId as a number and echoes it as a number. The page
// must send every message as an object with a numeric-string messageId,
// accept replies whose messageId is a number and whose detail is an object
// or a string, and finish the sign-in with a code that the iOS client id
// redeems for the right keys. No iPhone runs in CI; this is what checks
// the page's side of iOS.
func TestFirefoxPageIOS(t *testing.T) {
	if dir := os.Getenv(insideEnv); dir != "" {
		insidePageIOS(t, dir)
		return
	}
	needOutside(t, "starts Firefox", programFirefox)
	runInNamespaces(t, t.TempDir(), "", "TestFirefoxPageIOS")
}

const (
	iosClientID  = "1b1a3e44c54fbb58"
	iosUserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/153.0 Mobile/15E148 Safari/605.1.15"
	iosEmail     = "ios@example.com"
	iosPassword  = "an iPhone password ✓"
)

// iosChrome is the stand-in for firefox-ios's WebChannel, run in the
// page's window (through the waived wrapper when the content script sees
// the page through Xrays, so that it works on the page's own objects). It
// records each message the page sends as "<typeof detail>\n<JSON>",
// answers it the way the app does, and, since
// the page asked fxa_status before the script was installed, answers that
// first message (id 1) at once, with a string detail: replies of both
// forms must work. Its answers carry messageId as a number.
const iosChrome = `
const W = window.wrappedJSObject || window;
W.__iosLog = new W.Array();
const reply = (command, id, data, asString) => {
  const msg = JSON.stringify({id: "account_updates", message: {command, messageId: Number(id), data}});
  const detail = asString ? msg : W.JSON.parse(msg);
  const init = new W.Object();
  init.detail = detail;
  W.dispatchEvent(new W.CustomEvent("WebChannelMessageToContent", init));
};
window.addEventListener("WebChannelMessageToChrome", event => {
  const d = (event.wrappedJSObject || event).detail;
  const json = typeof d === "string" ? d : W.JSON.stringify(d);
  W.__iosLog.push(typeof d + "\n" + json);
  let m;
  try { m = JSON.parse(json); } catch (e) { return; }
  const answers = {
    "fxaccounts:can_link_account": {ok: true},
    "fxaccounts:login": {},
    "fxaccounts:oauth_login": {ok: true},
  };
  const data = answers[m.message.command];
  if (data) setTimeout(() => reply(m.message.command, m.message.messageId, data, false), 0);
});
reply("fxaccounts:fxa_status", "1", {signedInUser: null, clientId: arguments[0],
  capabilities: {engines: ["bookmarks", "history", "passwords", "tabs"], pairing: false, choose_what_to_sync: true}}, true);
return true;
`

func insidePageIOS(t *testing.T, dir string) {
	if err := loopbackUp(); err != nil {
		t.Fatalf("bringing up loopback in the new network namespace: %v", err)
	}
	env := workDirs(t, dir)
	logs := filepath.Join(dir, "logs")
	t.Cleanup(func() {
		if t.Failed() {
			keepArtifacts(t, dir)
		}
	})
	ctx := context.Background()

	// The accounts service on a loopback origin, on sqlite.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + l.Addr().String()
	store := testdb.Open(t, "sqlite", testdb.Options{})
	svc, err := accounts.New(ctx, accounts.Options{Store: store, Origin: origin, TokenServerURL: origin + "/token",
		Secret: []byte("ios page test"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	salt := onepw.NewClientSalt()
	acct, err := accounts.CreateAccount(ctx, store, iosEmail, salt, onepw.AuthPW(onepw.QuickStretchV2(iosPassword, salt)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := handlers.HandlerFunc(func(ctx context.Context, r *handlers.Request) *handlers.Response {
		if resp, ok := svc.Serve(ctx, r); ok {
			return resp
		}
		return &handlers.Response{Status: http.StatusNotFound, Header: http.Header{}}
	})
	srv := &http.Server{Handler: fcgi.NewHandler(h, fcgi.Options{})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	// The app's side of the flow: state, PKCE and its ephemeral key.
	priv, keysJWK, _ := firefoxKeysJWK(t)
	state := randomHex(16)
	verifier := base64.RawURLEncoding.EncodeToString([]byte(randomHex(32)))
	sum := sha256.Sum256([]byte(verifier))
	scope := "profile " + scopeOldSync + " https://identity.mozilla.com/tokens/session"
	q := url.Values{"client_id": {iosClientID}, "state": {state}, "scope": {scope}, "access_type": {"offline"},
		"response_type": {"code"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "keys_jwk": {keysJWK}, "context": {"oauth_webchannel_v1"},
		"action": {"email"}, "service": {"sync"}}

	b := startFirefox(t, dir, logs, env, "ios", map[string]any{
		"general.useragent.override":      iosUserAgent,
		"devtools.console.stdout.content": true,
	})
	b.connect(t)
	b.navigate(t, origin+"/authorization?"+q.Encode())
	var ua string
	b.content(t, &ua, `return navigator.userAgent;`)
	if !strings.Contains(ua, "FxiOS/") {
		t.Fatalf("the user agent override did not take: %q", ua)
	}
	b.content(t, nil, iosChrome, iosClientID)
	if s := b.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" }); s != "ready" {
		t.Fatalf("the page is not ready after the iOS answer to fxa_status (numeric messageId, string detail): state %s\n%s", s, tail(b.proc.log, 30))
	}
	b.content(t, nil, `
document.getElementById("email").value = arguments[0];
document.getElementById("password").value = arguments[1];
document.getElementById("submit").click();
return true;`, iosEmail, iosPassword)
	if s := b.waitState(t, 2*time.Minute, func(s string) bool { return s == "done" || strings.HasPrefix(s, "error") }); s != "done" {
		t.Fatalf("sign-in with iOS answers: state %s\n%s", s, tail(b.proc.log, 30))
	}
	var log []string
	b.content(t, &log, `return Array.from((window.wrappedJSObject || window).__iosLog);`)

	// Every message went as an object, with a numeric-string messageId,
	// in the order the app needs.
	var commands []string
	var oauthLogin map[string]any
	for _, entry := range log {
		kind, body, _ := strings.Cut(entry, "\n")
		var m struct {
			ID      string `json:"id"`
			Message struct {
				Command   string         `json:"command"`
				MessageID any            `json:"messageId"`
				Data      map[string]any `json:"data"`
			} `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("message %q: %v", body, err)
		}
		id, isString := m.Message.MessageID.(string)
		if kind != "object" || m.ID != "account_updates" || !isString || id == "" || strings.Trim(id, "0123456789") != "" {
			t.Errorf("the page sent %s %s: iOS needs an object detail and a numeric-string messageId", kind, body)
		}
		commands = append(commands, m.Message.Command)
		if m.Message.Command == "fxaccounts:oauth_login" {
			oauthLogin = m.Message.Data
		}
	}
	if want := "fxaccounts:can_link_account fxaccounts:login fxaccounts:oauth_login"; strings.Join(commands, " ") != want {
		t.Fatalf("the page sent %v, want %s", commands, want)
	}
	if oauthLogin["state"] != state {
		t.Fatalf("oauth_login %v: state %q", oauthLogin, state)
	}

	// The app redeems the code without Hawk and opens keys_jwe.
	body, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "client_id": iosClientID,
		"code": fmt.Sprint(oauthLogin["code"]), "code_verifier": verifier})
	resp, err := http.Post(origin+"/v1/token", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok struct {
		KeysJWE      string `json:"keys_jwe"`
		SessionToken string `json:"session_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(answer, &tok); resp.StatusCode != http.StatusOK || err != nil || tok.KeysJWE == "" || tok.RefreshToken == "" || tok.SessionToken == "" {
		t.Fatalf("code exchange: %d %s", resp.StatusCode, answer)
	}
	plain, err := onepw.OpenKeysJWE(priv, tok.KeysJWE)
	if err != nil {
		t.Fatalf("keys_jwe: %v", err)
	}
	var keys map[string]struct{ Scope, Kty, K, Kid string }
	json.Unmarshal(plain, &keys)
	k := keys[scopeOldSync]
	if k.Kty != "oct" || len(k.K) != 86 || !strings.HasPrefix(k.Kid, fmt.Sprintf("%d-", acct.KeysChangedAt)) {
		t.Fatalf("the app got keys %s", plain)
	}
}
