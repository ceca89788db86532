package firefox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/internal/marionette"
	"syncserver/internal/testdb"
)

// scriptTimeout bounds one privileged script (a sync of 1,200 history
// records included).
const scriptTimeout = 3 * time.Minute

// browser is one headless Firefox with its own profile, driven over
// Marionette.
type browser struct {
	name    string
	profile string
	port    int // Marionette's
	proc    *proc
	mc      *marionette.Client
}

// syncPrefs point Firefox at the stack and keep Sync from acting on its own
// (identity.sync.tokenserver.uri and the identity.fxaccounts.* URLs). Values are JSON.
func (s *stack) syncPrefs() map[string]any {
	fxa := s.fxa.URL
	p := map[string]any{
		"identity.sync.tokenserver.uri":          s.tokenURL(),
		"identity.fxaccounts.auth.uri":           fxa + "/v1",
		"identity.fxaccounts.remote.profile.uri": fxa + "/profile/v1",
		"identity.fxaccounts.remote.oauth.uri":   fxa + "/v1",
		"identity.fxaccounts.remote.root":        fxa + "/",
		"identity.fxaccounts.allowHttp":          true,
		"identity.fxaccounts.autoconfig.uri":     "",
		"identity.fxaccounts.pairing.enabled":    false,
		"identity.fxaccounts.commands.enabled":   false,
		"identity.fxaccounts.loglevel":           "Debug",
		"services.sync.testing.tps":              true,
		"services.sync.log.appender.dump":        "Debug",
		"services.sync.log.appender.file.level":  "Trace",
		// Keep a Sync log of every sync in the profile (weave/logs), the
		// artefact of a failed run.
		"services.sync.log.appender.file.logOnSuccess": true,
		"services.sync.log.appender.file.logOnError":   true,
		"browser.dom.window.dump.enabled":              true,
		"toolkit.startup.max_resumed_crashes":          -1,
	}
	for _, e := range []string{"bookmarks", "history", "prefs", "passwords", "tabs"} {
		p["services.sync.engine."+e] = true
	}
	for _, e := range []string{"addons", "addresses", "creditcards", "forms"} {
		p["services.sync.engine."+e] = false
	}
	for _, k := range []string{"syncInterval", "autoconnectDelay", "scheduler.immediateInterval",
		"scheduler.activeInterval", "scheduler.idleInterval", "scheduler.fxa.singleDeviceInterval"} {
		p["services.sync."+k] = 3600
	}
	return p
}

// userJS is a profile's user.js: the offline prefs, then the given ones
// (values are JSON), then the Marionette port.
func userJS(t *testing.T, prefs map[string]any, marionettePort int) string {
	t.Helper()
	offline, err := os.ReadFile(filepath.Join("testdata", "offline-user.js"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(offline)
	b.WriteString("\n// The Firefox end-to-end test's servers.\n")
	all := map[string]any{"marionette.port": marionettePort}
	for k, v := range prefs {
		all[k] = v
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v, _ := json.Marshal(all[k])
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", k, v)
	}
	return b.String()
}

// startBrowser starts a Firefox on a fresh profile; connect must be called
// before driving it (starting several, then connecting, overlaps their
// start-up).
func (s *stack) startBrowser(t *testing.T, name string) *browser {
	t.Helper()
	return startFirefox(t, s.dir, s.logs, s.env, name, s.syncPrefs())
}

// startFirefox starts a headless Firefox with the profile dir/profile-name,
// the offline prefs plus prefs, its log in logs, and env.
func startFirefox(t *testing.T, dir, logs string, env []string, name string, prefs map[string]any) *browser {
	t.Helper()
	port := freePort(t)
	profile := filepath.Join(dir, "profile-"+name)
	mkdirs(t, 0o700, profile)
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(userJS(t, prefs, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	binary, _ := testdb.LookProgram("firefox-esr")
	cmd := exec.Command(binary, "--headless", "--marionette", "--remote-allow-system-access",
		"--no-remote", "--profile", profile)
	cmd.Env = append(append([]string(nil), env...),
		"MOZ_DISABLE_NONLOCAL_CONNECTIONS=1",
		"MOZ_CRASHREPORTER_DISABLE=1",
		"MOZ_HEADLESS=1",
	)
	cmd.Dir = profile
	b := &browser{name: name, profile: profile, port: port}
	b.proc = startProc(t, "firefox "+name, filepath.Join(logs, "firefox-"+name+".log"), cmd)
	// Registered after startProc's cleanup, so it runs first: quit
	// politely, then let the process cleanup make sure.
	t.Cleanup(func() {
		if b.mc != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b.mc.Quit(ctx)
			cancel()
			b.proc.wait(10 * time.Second)
		}
	})
	return b
}

// connect opens the Marionette session in the chrome context.
func (b *browser) connect(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() { // stop waiting if Firefox dies at start-up
		select {
		case <-b.proc.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	mc, err := marionette.DialRetry(ctx, "127.0.0.1:"+strconv.Itoa(b.port))
	if err != nil {
		if b.proc.exited() {
			err = fmt.Errorf("exited at start-up (%v)", b.proc.err)
		}
		t.Fatalf("firefox %s: %v\n%s", b.name, err, tail(b.proc.log, 30))
	}
	if _, err := mc.NewSession(ctx); err != nil {
		t.Fatalf("firefox %s: %v", b.name, err)
	}
	if err := mc.SetContext(ctx, marionette.ContextChrome); err != nil {
		t.Fatalf("firefox %s: %v", b.name, err)
	}
	if err := mc.SetTimeouts(ctx, marionette.Timeouts{Script: scriptTimeout.Milliseconds()}); err != nil {
		t.Fatalf("firefox %s: %v", b.name, err)
	}
	b.mc = mc
}

// prelude gives every script the modules it uses.
const prelude = `
const { PlacesUtils } = ChromeUtils.importESModule("resource://gre/modules/PlacesUtils.sys.mjs");
const { Weave } = ChromeUtils.importESModule("resource://services-sync/main.sys.mjs");
const { getFxAccountsSingleton } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
// Changes are made holding Sync's lock, so that a sync Sync starts on its
// own (its score threshold is reached by the changes) never uploads half
// of them: it finds the lock taken and gives up.
const withSyncLock = async fn => {
  for (let waited = 0; !Weave.Service.lock(); waited += 100) {
    if (waited > 120000) throw new Error("Sync's lock held for 2 minutes");
    await sleep(100);
  }
  try { return await fn(); } finally { Weave.Service.unlock(); }
};
`

// run runs a privileged script (a function body; arguments holds args; a
// returned Promise is awaited) and decodes its result into out (nil
// discards it).
func (b *browser) run(t *testing.T, out any, script string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout+10*time.Second)
	defer cancel()
	if args == nil {
		args = []any{}
	}
	if err := b.mc.ExecuteScript(ctx, prelude+script, args, out); err != nil {
		var jsErr *marionette.Error
		if errors.As(err, &jsErr) && jsErr.Stacktrace != "" {
			t.Fatalf("firefox %s: %v\n%s", b.name, err, jsErr.Stacktrace)
		}
		t.Fatalf("firefox %s: %v", b.name, err)
	}
}

// content runs a script in the web page of the current tab (no
// privileges), decoding its result into out, and returns to the chrome
// context.
func (b *browser) content(t *testing.T, out any, script string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout+10*time.Second)
	defer cancel()
	if args == nil {
		args = []any{}
	}
	err := b.mc.SetContext(ctx, marionette.ContextContent)
	if err == nil {
		err = b.mc.ExecuteScript(ctx, script, args, out)
		if cerr := b.mc.SetContext(ctx, marionette.ContextChrome); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("firefox %s (content): %v", b.name, err)
	}
}

// navigate loads url in the current tab and waits for it to load.
func (b *browser) navigate(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := b.mc.SetContext(ctx, marionette.ContextContent)
	if err == nil {
		err = b.mc.Send(ctx, "WebDriver:Navigate", map[string]any{"url": url}, nil)
		if cerr := b.mc.SetContext(ctx, marionette.ContextChrome); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("firefox %s: navigating to %s: %v", b.name, url, err)
	}
}

// waitState polls the page's <body data-state> until done returns true for
// it, and returns it; it fails the test after timeout.
func (b *browser) waitState(t *testing.T, timeout time.Duration, done func(state string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for {
		b.content(t, &state, `return document.body ? (document.body.dataset.state || "") : "";`)
		if done(state) {
			return state
		}
		if time.Now().After(deadline) {
			t.Fatalf("firefox %s: the page's data-state is still %q after %v", b.name, state, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
