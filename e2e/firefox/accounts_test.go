package firefox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/hawk"
	"syncserver/internal/marionette"
)

// TestFirefoxAccounts is the acceptance test of the built-in accounts
// (issue #13): unmodified headless Firefox, whose only identity setting is
// identity.fxaccounts.autoconfig.uri, signs in on our page to an account
// made with "syncserver accounts add", gets its Sync key end to end and
// syncs; a second profile reads the first one's data (the same kB); a
// wrong password is refused on the page; accounts and tokens survive a
// restart; a disabled account gets no token and no sign-in; sign-out
// destroys the session on the server. Like TestFirefox it runs in
// loopback-only network and PID namespaces.
func TestFirefoxAccounts(t *testing.T) {
	runAccountsTest(t, "the accounts end-to-end test takes a minute", insideAccounts)
}

// runAccountsTest is the body of every test on accountsStack: outside
// the namespaces it checks what the test needs, builds syncserver and runs
// the test again in fresh namespaces; inside, it runs inside there.
func runAccountsTest(t *testing.T, long string, inside func(t *testing.T, dir string)) {
	if dir := os.Getenv(insideEnv); dir != "" {
		inside(t, dir)
		return
	}
	needOutside(t, long, programFirefox, programGo)
	dir := t.TempDir()
	runInNamespaces(t, dir, syncserverBinary(t, dir), t.Name())
}

const (
	accountEmail    = "e2e@example.com"
	accountPassword = "correct horse battery staple ✓"
	scopeOldSync    = "https://identity.mozilla.com/apps/oldsync"
	invitedEmail    = "invited@example.com"
	invitedPassword = "a password only the invited person knows"
)

// accountsStack is syncserver alone (standalone HTTP) with [accounts]
// enabled: the accounts origin is the origin of public_url, the page at its
// root.
type accountsStack struct {
	// root is the whole test: the server started in one step runs on
	// into the next, so its lifetime is the root test's.
	root      *testing.T
	dir, logs string
	env       []string
	binary    string
	config    string
	origin    string // http://127.0.0.1:port, no trailing slash
	addr      string
	server    *proc
	starts    int
}

func startAccountsStack(t *testing.T, dir string) *accountsStack {
	t.Helper()
	s := &accountsStack{root: t, dir: dir, logs: filepath.Join(dir, "logs"), env: workDirs(t, dir)}
	s.binary = os.Getenv(syncserverEnv)
	if s.binary == "" {
		t.Fatalf("%s is not set", syncserverEnv)
	}
	port := freePort(t)
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	s.origin = "http://" + s.addr
	secret := make([]byte, 32)
	rand.Read(secret)
	var ini strings.Builder
	ini.WriteString("# syncserver.ini of the accounts end-to-end test\n")
	ini.WriteString("[\"server:main\"]\nshutdown_timeout = 5\n")
	fmt.Fprintf(&ini, "\n[syncserver]\npublic_url = %q\nsecret = %q\nsqluri = %q\nallow_new_users = true\n",
		s.origin+"/", hex.EncodeToString(secret), "sqlite:///"+filepath.Join(dir, "db", "syncserver.db"))
	fmt.Fprintf(&ini, "\n[tokenserver]\ntoken_duration = %d\n", int(tokenDuration/time.Second))
	ini.WriteString("\n[accounts]\nenabled = true\n")
	s.config = filepath.Join(dir, "syncserver.ini")
	if err := os.WriteFile(s.config, []byte(ini.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// startAccountsProfiles is the start of every test on accountsStack,
// run inside the namespaces: the operator creates the test account (the
// password comes on stdin), syncserver starts, and one Firefox profile per
// name starts, driven over Marionette.
func startAccountsProfiles(t *testing.T, dir string, names ...string) (*accountsStack, []*browser) {
	t.Helper()
	start := time.Now()
	enterNamespaces(t, dir)
	s := startAccountsStack(t, dir)
	out := s.cli(t, accountPassword+"\n", "accounts", "add", accountEmail)
	t.Logf("accounts add: %s", strings.TrimSpace(out))
	s.start(t)
	t.Logf("syncserver with accounts at %s, up in %v", s.origin, time.Since(start).Round(time.Millisecond))
	browsers := make([]*browser, len(names))
	for i, name := range names {
		browsers[i] = startFirefox(t, dir, s.logs, s.env, name, s.prefs())
	}
	for _, b := range browsers {
		b.connect(t)
	}
	t.Logf("%d Firefox profile(s) up in %v", len(browsers), time.Since(start).Round(time.Millisecond))
	return s, browsers
}

// step is one named part of a test on accountsStack.
type step struct {
	name string
	run  func(t *testing.T)
}

// runSteps runs steps as subtests in order, logs how long each took and
// stops at the first that fails; then it checks that syncserver answered
// no request with a server error and that no line of the browsers' logs
// (where the page's console goes) names one of pageMarks: the page's
// scripts by URL, for uncaught errors, and the prefix of the errors the
// page reports itself.
func (s *accountsStack) runSteps(t *testing.T, steps []step, pageMarks ...string) {
	t.Helper()
	for _, st := range steps {
		t0 := time.Now()
		ok := t.Run(st.name, st.run)
		t.Logf("%s: %v", st.name, time.Since(t0).Round(time.Millisecond))
		if !ok {
			t.FailNow()
		}
	}
	for _, r := range s.requests(t, 1) {
		if r.Status >= 500 {
			t.Errorf("server error: %s", r.Line)
		}
	}
	if len(pageMarks) == 0 {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(s.logs, "firefox-*.log"))
	for _, f := range logs {
		for _, line := range lines(t, f) {
			for _, mark := range pageMarks {
				if strings.Contains(line, mark) {
					t.Errorf("%s: %s", filepath.Base(f), line)
					break
				}
			}
		}
	}
}

// cli runs a syncserver command (accounts add, disable…) against the
// test's configuration, with stdin, and returns its output.
func (s *accountsStack) cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.binary, append([]string{"-config", s.config}, args...)...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("syncserver %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start starts syncserver and waits until the accounts origin answers
// its discovery document.
func (s *accountsStack) start(t *testing.T) {
	t.Helper()
	s.starts++
	cmd := exec.Command(s.binary, "-config", s.config, "-http", s.addr)
	cmd.Env = s.env
	cmd.Dir = s.dir
	s.server = startProc(s.root, "syncserver", filepath.Join(s.logs, fmt.Sprintf("syncserver-%d.log", s.starts)), cmd)
	p := s.server
	s.root.Cleanup(func() {
		p.stop(10 * time.Second)
		if fileContains(p.log, "WARNING: DATA RACE") {
			s.root.Errorf("the race detector found a data race in syncserver: see %s", p.log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("syncserver exited at start (%v):\n%s", p.err, tail(p.log, 40))
		}
		resp, err := http.Get(s.origin + "/.well-known/fxa-client-configuration")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the accounts origin did not answer at %s/.well-known/fxa-client-configuration (last: %s)\n%s", s.origin, last, tail(p.log, 30))
}

// stop stops syncserver with SIGTERM, as a service manager does, and
// checks it ended cleanly.
func (s *accountsStack) stop(t *testing.T) {
	t.Helper()
	s.server.stop(10 * time.Second)
	if err := s.server.exitError(); err != nil {
		t.Errorf("syncserver did not stop cleanly on SIGTERM: %v\n%s", err, tail(s.server.log, 20))
	}
}

// serverRequest is one access line of syncserver's log.
type serverRequest struct {
	Method, Path string
	Status       int
	Line         string
}

var accessLineRE = regexp.MustCompile(`msg=request method=(\S+) path=(\S+) .*?status=(\d+)`)

// requests reads the access lines of the server's logs, of every start
// from the first-th on (1-based).
func (s *accountsStack) requests(t *testing.T, first int) []serverRequest {
	t.Helper()
	var out []serverRequest
	for i := first; i <= s.starts; i++ {
		for _, line := range lines(t, filepath.Join(s.logs, fmt.Sprintf("syncserver-%d.log", i))) {
			m := accessLineRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			var status int
			fmt.Sscan(m[3], &status)
			out = append(out, serverRequest{m[1], m[2], status, line})
		}
	}
	return out
}

// expectRequest checks the server answered method path with status since
// the first-th start.
func (s *accountsStack) expectRequest(t *testing.T, first int, method, path string, status int) {
	t.Helper()
	var seen []string
	for _, r := range s.requests(t, first) {
		if r.Method == method && r.Path == path {
			if r.Status == status {
				return
			}
			seen = append(seen, fmt.Sprint(r.Status))
		}
	}
	t.Errorf("the server log has no %s %s answered %d (answers seen: %v)", method, path, status, seen)
}

// prefs are the profile's prefs: the one identity setting, what plain
// http on loopback needs, and Sync kept from acting on its own.
func (s *accountsStack) prefs() map[string]any {
	p := map[string]any{
		"identity.fxaccounts.autoconfig.uri": s.origin,
		"identity.fxaccounts.allowHttp":      true,
		"identity.fxaccounts.loglevel":       "Debug",
		"services.sync.testing.tps":          true,
		"services.sync.log.appender.dump":    "Debug",
		// The page's console (errors included) goes to Firefox's stdout,
		// the browser log of a failed run.
		"devtools.console.stdout.content":              true,
		"browser.dom.window.dump.enabled":              true,
		"services.sync.log.appender.file.logOnSuccess": true,
		"services.sync.log.appender.file.logOnError":   true,
		"toolkit.startup.max_resumed_crashes":          -1,
	}
	for _, e := range []string{"addons", "addresses", "creditcards", "forms"} {
		p["services.sync.engine."+e] = false
	}
	// Not offered on the page (fxa_status), so the sign-in does not turn
	// them back on.
	p["services.sync.engine.addresses.available"] = false
	p["services.sync.engine.creditcards.available"] = false
	for _, k := range []string{"syncInterval", "autoconnectDelay", "scheduler.immediateInterval",
		"scheduler.activeInterval", "scheduler.idleInterval", "scheduler.fxa.singleDeviceInterval"} {
		p["services.sync."+k] = 3600
	}
	return p
}

// element finds an element of the page by CSS selector.
func (b *browser) element(t *testing.T, selector string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var found struct {
		Value map[string]string `json:"value"`
	}
	err := b.mc.SetContext(ctx, marionette.ContextContent)
	if err == nil {
		err = b.mc.Send(ctx, "WebDriver:FindElement", map[string]any{"using": "css selector", "value": selector}, &found)
	}
	if err != nil {
		t.Fatalf("firefox %s: finding %s: %v", b.name, selector, err)
	}
	id := found.Value["element-6066-11e4-a52e-4f735466cecf"]
	if id == "" {
		t.Fatalf("firefox %s: finding %s: no element reference in %v", b.name, selector, found.Value)
	}
	return id
}

// typeInto types text into the element selector, as a user does.
func (b *browser) typeInto(t *testing.T, selector, text string) {
	t.Helper()
	id := b.element(t, selector)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.mc.Send(ctx, "WebDriver:ElementClear", map[string]any{"id": id}, nil); err != nil {
		t.Fatalf("firefox %s: clearing %s: %v", b.name, selector, err)
	}
	if err := b.mc.Send(ctx, "WebDriver:ElementSendKeys", map[string]any{"id": id, "text": text}, nil); err != nil {
		t.Fatalf("firefox %s: typing into %s: %v", b.name, selector, err)
	}
	b.mc.SetContext(ctx, marionette.ContextChrome)
}

// click clicks the element selector.
func (b *browser) click(t *testing.T, selector string) {
	t.Helper()
	id := b.element(t, selector)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.mc.Send(ctx, "WebDriver:ElementClick", map[string]any{"id": id}, nil); err != nil {
		t.Fatalf("firefox %s: clicking %s: %v", b.name, selector, err)
	}
	b.mc.SetContext(ctx, marionette.ContextChrome)
}

// connectURL is the URL Firefox's "Sign in" button opens: its own OAuth
// flow (state, PKCE, ephemeral key) on the discovered accounts root.
func (b *browser) connectURL(t *testing.T) string {
	t.Helper()
	var u string
	b.run(t, &u, `
return (async () => {
  const { FxAccounts } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
  return await FxAccounts.config.promiseConnectAccountURI("e2e");
})();`)
	return u
}

// accountState is what Firefox holds of the account.
type accountState struct {
	Email        string `json:"email"`
	UID          string `json:"uid"`
	Verified     bool   `json:"verified"`
	SessionToken string `json:"sessionToken"`
	HasKeys      bool   `json:"hasKeys"`
	KID          string `json:"kid"`
	SyncUser     string `json:"syncUser"`
}

func (b *browser) accountState(t *testing.T) (st accountState, signedIn bool) {
	t.Helper()
	var out *accountState
	b.run(t, &out, `
return (async () => {
  const fxa = getFxAccountsSingleton();
  const user = await fxa.getSignedInUser();
  if (!user) return null;
  const data = await fxa._internal.getUserAccountData(["sessionToken"]);
  const hasKeys = await fxa.keys.hasKeysForScope("`+scopeOldSync+`");
  const key = hasKeys ? await fxa.keys.getKeyForScope("`+scopeOldSync+`") : null;
  return { email: user.email, uid: user.uid, verified: !!user.verified, sessionToken: data?.sessionToken || "",
           hasKeys, kid: key ? key.kid : "", syncUser: Services.prefs.getStringPref("services.sync.username", "") };
})();`)
	if out == nil {
		return accountState{}, false
	}
	return *out, true
}

var kidRE = regexp.MustCompile(`^[1-9][0-9]{12,}-[A-Za-z0-9_-]{22}$`)

// pageSignIn opens url (Firefox's connect URL, or the bare origin), types
// the email and password, submits, and returns the page's final state.
func (b *browser) pageSignIn(t *testing.T, url, email, password string) (state string) {
	t.Helper()
	b.navigate(t, url)
	if st := b.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" && s != "" }); st != "ready" {
		t.Fatalf("firefox %s: the page at %s is %q, not ready:\n%s", b.name, url, st, b.pageError(t))
	}
	// Under the page's Content-Security-Policy its scripts ran (the
	// state above) and its style sheet applies.
	var width string
	b.content(t, &width, `return getComputedStyle(document.querySelector("main")).maxWidth;`)
	if width != "416px" {
		t.Errorf("firefox %s: the page's main is %q wide at most, want style.css's 26rem (416px)", b.name, width)
	}
	b.typeInto(t, "#email", email)
	b.typeInto(t, "#password", password)
	b.click(t, "#submit")
	return b.waitState(t, 2*time.Minute, func(s string) bool { return s == "done" || strings.HasPrefix(s, "error:") })
}

// pageError is the error the page shows.
func (b *browser) pageError(t *testing.T) string {
	t.Helper()
	var msg string
	b.content(t, &msg, `return document.getElementById("error")?.textContent || "";`)
	return msg
}

// waitSignedIn polls Firefox until the account is verified, has the
// oldsync key and Sync is configured.
func (b *browser) waitSignedIn(t *testing.T) accountState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, ok := b.accountState(t)
		if ok && st.Verified && st.HasKeys && st.SyncUser != "" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("firefox %s: not signed in with keys after 60 s: %+v (signed in: %v)\n%s", b.name, st, ok, tail(b.proc.log, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sessionStatus asks the server about a session token, signed with Hawk as
// Firefox signs: 200 while it lives, 401 once destroyed.
func (s *accountsStack) sessionStatus(t *testing.T, sessionToken string) (int, string) {
	t.Helper()
	raw, err := hex.DecodeString(sessionToken)
	if err != nil {
		t.Fatalf("session token %q: %v", sessionToken, err)
	}
	keys := onepw.DeriveToken(raw, onepw.KindSession)
	nonce := make([]byte, 6)
	rand.Read(nonce)
	a := hawk.Auth{ID: keys.ID, TS: time.Now().Unix(), Nonce: hex.EncodeToString(nonce)}
	var port int
	fmt.Sscan(s.addr[strings.LastIndex(s.addr, ":")+1:], &port)
	a.MAC = hawk.Sign(keys.HMACKey, a, hawk.Request{Method: "GET", Host: "127.0.0.1", Port: port, Resource: "/v1/session/status"})
	req, _ := http.NewRequest(http.MethodGet, s.origin+"/v1/session/status", nil)
	req.Header.Set("Authorization", a.Header())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func insideAccounts(t *testing.T, dir string) {
	start := time.Now()
	s, abc := startAccountsProfiles(t, dir, "A", "B", "C")
	a, b, c := abc[0], abc[1], abc[2]

	var stA, stB accountState
	var bm []bookmark
	var visits []page
	steps := []step{
		{"A signs in on the page from Firefox's connect URL and syncs", func(t *testing.T) {
			url := a.connectURL(t)
			if !strings.HasPrefix(url, s.origin+"/?") || !strings.Contains(url, "keys_jwk=") {
				t.Fatalf("connect URL %q: want the discovered origin %s with Firefox's OAuth parameters", url, s.origin)
			}
			t0 := time.Now()
			if st := a.pageSignIn(t, url, accountEmail, accountPassword); st != "done" {
				t.Fatalf("page state %q: %s", st, a.pageError(t))
			}
			stA = a.waitSignedIn(t)
			t.Logf("sign-in time, profile A (connect URL): %v", time.Since(t0).Round(time.Millisecond))
			if stA.Email != accountEmail || !kidRE.MatchString(stA.KID) {
				t.Fatalf("A: %+v; want %s with a kid <keysChangedAt ms>-<16 bytes b64url>", stA, accountEmail)
			}
			bm = a.addBookmarks(t, bookmark{URL: "http://bookmarks.e2e.example/accounts", Title: "From A, via our accounts"})
			visits = a.addHistory(t, []page{{URL: "http://history.e2e.example/accounts", Title: "A visit from A"}})
			a.sync(t)
			// The tokenserver keyed the user by our accounts' identity and
			// the key's timestamp, which is the kid's.
			users := openServerDB(t, filepath.Join(dir, "db", "syncserver.db")).users(t, stA.UID)
			if len(users) != 1 || fmt.Sprint(users[0].KeysChangedAt) != strings.SplitN(stA.KID, "-", 2)[0] {
				t.Errorf("tokenserver users rows of %s: %+v; want one with keys_changed_at from kid %s", stA.UID, users, stA.KID)
			}
		}},
		{"B signs in on the bare page (oauth_flow_begin) and reads A's data", func(t *testing.T) {
			// What opening Firefox's account menu does: fetch the
			// discovery document, which points the WebChannel at our
			// origin. Then the user types the origin.
			b.run(t, nil, `
return (async () => {
  const { FxAccounts } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
  await FxAccounts.config.ensureConfigured();
})();`)
			t0 := time.Now()
			if st := b.pageSignIn(t, s.origin+"/", accountEmail, accountPassword); st != "done" {
				t.Fatalf("page state %q: %s", st, b.pageError(t))
			}
			stB = b.waitSignedIn(t)
			t.Logf("sign-in time, profile B (bare page): %v", time.Since(t0).Round(time.Millisecond))
			if stB.UID != stA.UID || stB.KID != stA.KID {
				t.Fatalf("B: uid %s kid %s; A: uid %s kid %s: both devices must derive the same key", stB.UID, stB.KID, stA.UID, stA.KID)
			}
			if stB.SessionToken == stA.SessionToken {
				t.Errorf("B got A's session token")
			}
			b.sync(t)
			if got, ok := b.bookmark(t, bm[0].GUID); !ok || got.URL != bm[0].URL || got.Title != bm[0].Title {
				t.Errorf("B: bookmark %s = %+v (found %v), want %+v", bm[0].GUID, got, ok, bm[0])
			}
			if got, ok := b.historyPage(t, visits[0].URL); !ok || got.GUID != visits[0].GUID {
				t.Errorf("B: history %s = %+v (found %v), want GUID %s", visits[0].URL, got, ok, visits[0].GUID)
			}
		}},
		{"C: a wrong password (or an unknown email) is refused on the page", func(t *testing.T) {
			t0 := time.Now()
			st := c.pageSignIn(t, c.connectURL(t), accountEmail, accountPassword+"x")
			t.Logf("refusal time, profile C: %v", time.Since(t0).Round(time.Millisecond))
			if st != "error:incorrect-password" {
				t.Fatalf("page state %q (%s), want error:incorrect-password", st, c.pageError(t))
			}
			if msg := c.pageError(t); !strings.Contains(strings.ToLower(msg), "password") {
				t.Errorf("the page shows %q: want an error about the password", msg)
			}
			// An unknown email gets the very same answer: the page cannot
			// tell whether an account exists.
			if st := c.pageSignIn(t, c.connectURL(t), "nobody@example.com", accountPassword); st != "error:incorrect-password" {
				t.Fatalf("unknown email: page state %q (%s), want error:incorrect-password", st, c.pageError(t))
			}
			if st, ok := c.accountState(t); ok {
				t.Fatalf("C is signed in after a wrong password: %+v", st)
			}
		}},
		{"the server restarts: B syncs again", func(t *testing.T) {
			s.stop(t)
			s.start(t)
			// The access token minted before the restart still opens the
			// tokenserver (the signing key persisted); then a new one is
			// minted from the session token issued before the restart.
			var renewed struct{ Same bool }
			b.run(t, &renewed, `
return (async () => {
  const fxa = getFxAccountsSingleton();
  const scope = "`+scopeOldSync+`";
  const old = await fxa.getOAuthToken({ scope });
  await Weave.Service.identity._ensureValidToken(true);
  await fxa.removeCachedOAuthToken({ token: old });
  const fresh = await fxa.getOAuthToken({ scope });
  await Weave.Service.identity._ensureValidToken(true);
  return { same: old === fresh };
})();`)
			if renewed.Same {
				t.Errorf("B got its old access token back after removing it from the cache")
			}
			b.sync(t)
			if code, body := s.sessionStatus(t, stB.SessionToken); code != http.StatusOK {
				t.Errorf("B's session after the restart: %d %s, want 200", code, body)
			}
			s.expectRequest(t, s.starts, "POST", "/v1/oauth/token", http.StatusOK)
			s.expectRequest(t, s.starts, "GET", "/token/1.0/sync/1.5", http.StatusOK)
		}},
		{"accounts disable: no token for B, no sign-in on the page", func(t *testing.T) {
			s.cli(t, "", "accounts", "disable", accountEmail)
			mark := len(s.requests(t, s.starts))
			var tokErr string
			b.run(t, &tokErr, `
return (async () => {
  try {
    await Weave.Service.identity._ensureValidToken(true);
    return "";
  } catch (e) {
    return String(e && (e.message || e)) || "error";
  }
})();`)
			if tokErr == "" {
				t.Errorf("B got a new Sync token for a disabled account")
			} else {
				t.Logf("B's token request after disable: %s", tokErr)
			}
			refused := false
			for _, r := range s.requests(t, s.starts)[mark:] {
				if r.Status == http.StatusUnauthorized && (r.Path == "/token/1.0/sync/1.5" || r.Path == "/v1/oauth/token") {
					refused = true
				}
			}
			if !refused {
				t.Errorf("no 401 from the tokenserver or the OAuth token endpoint after disable: %v", s.requests(t, s.starts)[mark:])
			}
			st := c.pageSignIn(t, c.connectURL(t), accountEmail, accountPassword)
			if st != "error:account-disabled" {
				t.Errorf("page state %q (%s), want error:account-disabled", st, c.pageError(t))
			}
			if st, ok := c.accountState(t); ok {
				t.Errorf("C is signed in to a disabled account: %+v", st)
			}
		}},
		{"sign-out in Firefox destroys the session on the server", func(t *testing.T) {
			s.cli(t, "", "accounts", "enable", accountEmail)
			t0 := time.Now()
			if st := c.pageSignIn(t, c.connectURL(t), accountEmail, accountPassword); st != "done" {
				t.Fatalf("page state %q: %s", st, c.pageError(t))
			}
			stC := c.waitSignedIn(t)
			t.Logf("sign-in time, profile C (after enable): %v", time.Since(t0).Round(time.Millisecond))
			if stC.KID != stA.KID {
				t.Errorf("C's kid %s, A's %s", stC.KID, stA.KID)
			}
			if code, body := s.sessionStatus(t, stC.SessionToken); code != http.StatusOK {
				t.Fatalf("C's session before sign-out: %d %s, want 200", code, body)
			}
			c.run(t, nil, `return getFxAccountsSingleton().signOut();`)
			if _, ok := c.accountState(t); ok {
				t.Errorf("C is still signed in after signOut")
			}
			var code int
			var body string
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if code, body = s.sessionStatus(t, stC.SessionToken); code == http.StatusUnauthorized {
					break
				}
			}
			var e struct{ Errno int }
			json.Unmarshal([]byte(body), &e)
			if code != http.StatusUnauthorized || e.Errno != 110 {
				t.Errorf("C's session after sign-out: %d %s, want 401 errno 110", code, body)
			}
			s.expectRequest(t, s.starts, "POST", "/v1/session/destroy", http.StatusOK)
		}},
	}
	steps = append(steps, step{"an invited person picks a password on the page, signs in and syncs", func(t *testing.T) {
		out := s.cli(t, "", "accounts", "invite", "--json", invitedEmail)
		var inv struct{ Link string }
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &inv); err != nil || !strings.HasPrefix(inv.Link, s.origin+"/?invite=") {
			t.Fatalf("accounts invite --json printed %q (%v); want a link %s/?invite=…", out, err, s.origin)
		}
		d := startFirefox(t, dir, s.logs, s.env, "D", s.prefs())
		d.connect(t)
		d.run(t, nil, `
return (async () => {
  const { FxAccounts } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
  await FxAccounts.config.ensureConfigured();
})();`)
		t0 := time.Now()
		d.navigate(t, inv.Link)
		if st := d.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" && s != "" }); st != "ready" {
			t.Fatalf("the invite page is %q: %s", st, d.pageError(t))
		}
		d.typeInto(t, "#email", invitedEmail)
		d.typeInto(t, "#password", invitedPassword)
		d.typeInto(t, "#confirm", invitedPassword)
		d.click(t, "#submit")
		if st := d.waitState(t, 2*time.Minute, func(s string) bool { return s == "done" || strings.HasPrefix(s, "error:") }); st != "done" {
			t.Fatalf("page state %q: %s", st, d.pageError(t))
		}
		stD := d.waitSignedIn(t)
		t.Logf("sign-up and sign-in time, profile D (invite): %v", time.Since(t0).Round(time.Millisecond))
		if stD.Email != invitedEmail || stD.UID == stA.UID || stD.KID == stA.KID || !kidRE.MatchString(stD.KID) {
			t.Fatalf("D: %+v; want a new account %s with its own key", stD, invitedEmail)
		}
		d.sync(t)
		if _, ok := d.bookmark(t, bm[0].GUID); ok {
			t.Errorf("D, another account, sees A's bookmark")
		}
		s.expectRequest(t, s.starts, "POST", "/v1/account/create", http.StatusOK)
	}})
	steps = append(steps, step{"too many tries: the page says so", func(t *testing.T) {
		// C is signed out; wrong passwords for the first account until
		// the per-account limit of [accounts] logins_per_account.
		var st string
		for i := 1; i <= 12; i++ {
			st = c.pageSignIn(t, c.connectURL(t), accountEmail, accountPassword+"?")
			if st != "error:incorrect-password" {
				break
			}
		}
		if st != "error:too-many-tries" {
			t.Fatalf("page state %q (%s), want error:too-many-tries", st, c.pageError(t))
		}
		if msg := c.pageError(t); !strings.Contains(msg, "Too many attempts") {
			t.Errorf("the page shows %q", msg)
		}
		s.expectRequest(t, s.starts, "POST", "/v1/account/login", http.StatusTooManyRequests)
	}})
	// The page's console.error lines start "sign-in page:".
	s.runSteps(t, steps, s.origin+"/app.js", s.origin+"/crypto.js", s.origin+"/common.js", "sign-in page:")
	t.Logf("whole run in the namespaces: %v", time.Since(start).Round(time.Millisecond))
}
