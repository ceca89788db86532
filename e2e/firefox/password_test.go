package firefox

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFirefoxPasswordChange is the acceptance test of the settings page
// and of a password change (issue #17): profile A, signed in and synced,
// opens the URL of Firefox's "Manage account" menu item, sees its devices
// and changes the password there. A stays signed in (the page hands it the
// new session over the WebChannel), keeps its Sync key and syncs; profile
// B, signed in before the change, is told to reconnect (its session is
// dead), signs in again with the new password and reads what A synced
// after the change. Then A signs B out and deletes the account, with its
// Sync data, on the same page. It runs in loopback-only namespaces as
// TestFirefoxAccounts does.
func TestFirefoxPasswordChange(t *testing.T) {
	runAccountsTest(t, "the password change end-to-end test takes a minute", insidePasswordChange)
}

const newAccountPassword = "a new password, stronger ✓✓"

// manageURL is the URL Firefox's "Manage account" menu item opens.
func (b *browser) manageURL(t *testing.T) string {
	t.Helper()
	var u string
	b.run(t, &u, `
return (async () => {
  const { FxAccounts } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
  return await FxAccounts.config.promiseManageURI("e2e");
})();`)
	return u
}

// reconnectState asks Firefox to check its account with the server, as it
// does after a 401, and reports whether it still holds a session: false is
// the "reconnect" state of the account menu.
func (b *browser) reconnectState(t *testing.T) (statusOK, hasSession bool) {
	t.Helper()
	var out struct {
		OK, Session bool
	}
	b.run(t, &out, `
return (async () => {
  const fxa = getFxAccountsSingleton();
  const ok = await fxa.checkAccountStatus();
  return { ok, session: await fxa.hasLocalSession() };
})();`)
	return out.OK, out.Session
}

// freshSyncToken drops Firefox's cached OAuth token and asks the
// tokenserver again: a new access token from the session it holds now.
func (b *browser) freshSyncToken(t *testing.T) {
	t.Helper()
	b.run(t, nil, `
return (async () => {
  const fxa = getFxAccountsSingleton();
  const scope = "`+scopeOldSync+`";
  const old = await fxa.getOAuthToken({ scope });
  await fxa.removeCachedOAuthToken({ token: old });
  await Weave.Service.identity._ensureValidToken(true);
})();`)
}

func insidePasswordChange(t *testing.T, dir string) {
	start := time.Now()
	s, ab := startAccountsProfiles(t, dir, "A", "B")
	a, b := ab[0], ab[1]

	var stA, stB, stA2 accountState
	var after []bookmark
	steps := []step{
		{"A and B sign in and sync", func(t *testing.T) {
			for _, br := range []*browser{a, b} {
				if st := br.pageSignIn(t, br.connectURL(t), accountEmail, accountPassword); st != "done" {
					t.Fatalf("%s: page state %q: %s", br.name, st, br.pageError(t))
				}
			}
			stA, stB = a.waitSignedIn(t), b.waitSignedIn(t)
			a.addBookmarks(t, bookmark{URL: "http://bookmarks.e2e.example/before", Title: "Before the password change"})
			a.sync(t)
			b.sync(t)
		}},
		{"A changes the password on the settings page of Manage account", func(t *testing.T) {
			url := a.manageURL(t)
			if !strings.HasPrefix(url, s.origin+"/settings?") || !strings.Contains(url, "uid="+stA.UID) {
				t.Fatalf("Manage account URL %q: want %s/settings with the account's uid", url, s.origin)
			}
			a.navigate(t, url)
			// The page got Firefox's session over the WebChannel: no
			// password asked to get here.
			if st := a.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" && s != "" }); st != "ready" {
				t.Fatalf("the settings page is %q, not ready: %s", st, a.pageError(t))
			}
			var devices []string
			a.content(t, &devices, `return Array.from(document.querySelectorAll("#devices li"), li => li.textContent);`)
			if len(devices) != 2 || !strings.Contains(strings.Join(devices, "|"), "this browser") {
				t.Errorf("the settings page lists the devices %q; want A (this browser) and B", devices)
			}
			a.typeInto(t, "#old-password", accountPassword)
			a.typeInto(t, "#new-password", newAccountPassword)
			a.typeInto(t, "#new-confirm", newAccountPassword)
			t0 := time.Now()
			a.click(t, "#change-submit")
			if st := a.waitState(t, 2*time.Minute, func(s string) bool { return s == "changed" || strings.HasPrefix(s, "error:") }); st != "changed" {
				t.Fatalf("page state %q: %s", st, a.pageError(t))
			}
			t.Logf("password change on the page: %v", time.Since(t0).Round(time.Millisecond))
			s.expectRequest(t, 1, "POST", "/v1/password/change", http.StatusOK)
		}},
		{"A stays signed in with the same key and syncs", func(t *testing.T) {
			// fxaccounts:change_password stored the new session.
			deadline := time.Now().Add(30 * time.Second)
			for {
				var ok bool
				stA2, ok = a.accountState(t)
				if ok && stA2.SessionToken != "" && stA2.SessionToken != stA.SessionToken {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("A after the change: %+v (signed in: %v); want a new session token", stA2, ok)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if stA2.UID != stA.UID || stA2.KID != stA.KID || !stA2.HasKeys || !stA2.Verified {
				t.Fatalf("A after the change: %+v; before: %+v: the account and its key must stay", stA2, stA)
			}
			if code, body := s.sessionStatus(t, stA2.SessionToken); code != http.StatusOK {
				t.Fatalf("A's new session: %d %s", code, body)
			}
			if code, _ := s.sessionStatus(t, stA.SessionToken); code != http.StatusUnauthorized {
				t.Errorf("A's old session answers %d after the change, want 401", code)
			}
			// A new access token, minted from the new session, opens the
			// tokenserver (the generation moved) and the same storage.
			a.freshSyncToken(t)
			after = a.addBookmarks(t, bookmark{URL: "http://bookmarks.e2e.example/after", Title: "After the password change"})
			a.sync(t)
		}},
		{"B is told to reconnect, signs in with the new password and reads A's data", func(t *testing.T) {
			var e struct{ Errno int }
			code, body := s.sessionStatus(t, stB.SessionToken)
			json.Unmarshal([]byte(body), &e)
			if code != http.StatusUnauthorized || e.Errno != 110 {
				t.Fatalf("B's session after the change: %d %s, want 401 errno 110", code, body)
			}
			if ok, session := b.reconnectState(t); ok || session {
				t.Fatalf("B after the change: account status ok %v, local session %v; want the reconnect state", ok, session)
			}
			if st := b.pageSignIn(t, b.connectURL(t), accountEmail, accountPassword); st != "error:incorrect-password" {
				t.Fatalf("B with the old password: page state %q (%s), want error:incorrect-password", st, b.pageError(t))
			}
			if st := b.pageSignIn(t, b.connectURL(t), accountEmail, newAccountPassword); st != "done" {
				t.Fatalf("B with the new password: page state %q: %s", st, b.pageError(t))
			}
			var stB2 accountState
			deadline := time.Now().Add(60 * time.Second)
			for {
				var ok bool
				stB2, ok = b.accountState(t)
				if ok && stB2.HasKeys && stB2.SessionToken != "" && stB2.SessionToken != stB.SessionToken {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("B after signing in again: %+v (signed in: %v)", stB2, ok)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if stB2.KID != stA.KID {
				t.Fatalf("B's kid %s after the change, A's %s: the new password must unwrap the same kB", stB2.KID, stA.KID)
			}
			b.freshSyncToken(t)
			b.sync(t)
			if got, ok := b.bookmark(t, after[0].GUID); !ok || got.URL != after[0].URL || got.Title != after[0].Title {
				t.Errorf("B: bookmark %s = %+v (found %v), want %+v", after[0].GUID, got, ok, after[0])
			}
		}},
		{"A signs B out on the settings page of Manage devices", func(t *testing.T) {
			var url string
			a.run(t, &url, `
return (async () => {
  const { FxAccounts } = ChromeUtils.importESModule("resource://gre/modules/FxAccounts.sys.mjs");
  return await FxAccounts.config.promiseManageDevicesURI("e2e");
})();`)
			if !strings.HasPrefix(url, s.origin+"/settings/clients?") {
				t.Fatalf("Manage devices URL %q", url)
			}
			// B registers its device again after signing in, at a moment
			// of Firefox's choosing: its first try updates the device the
			// password change deleted, gets 400/123 and forgets it; the
			// next one (at its next sync, or now) registers a new one.
			var devices []string
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Second) {
				b.run(t, nil, `return getFxAccountsSingleton().device.updateDeviceRegistration();`)
				a.navigate(t, url)
				if st := a.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" && s != "" }); st != "ready" {
					t.Fatalf("the settings page is %q: %s", st, a.pageError(t))
				}
				a.content(t, &devices, `return Array.from(document.querySelectorAll("#devices li"), li => li.textContent);`)
				if len(devices) == 2 || time.Now().After(deadline) {
					break
				}
			}
			if len(devices) != 2 {
				t.Fatalf("devices on the page: %q, want A and B", devices)
			}
			a.click(t, "#devices li button")
			if st := a.waitState(t, 30*time.Second, func(s string) bool { return s == "ready" || strings.HasPrefix(s, "error:") }); st != "ready" {
				t.Fatalf("page state %q: %s", st, a.pageError(t))
			}
			a.content(t, &devices, `return Array.from(document.querySelectorAll("#devices li"), li => li.textContent);`)
			if len(devices) != 1 || !strings.Contains(devices[0], "this browser") {
				t.Errorf("devices after signing B out: %q, want A alone", devices)
			}
			stB2, _ := b.accountState(t)
			if code, body := s.sessionStatus(t, stB2.SessionToken); code != http.StatusUnauthorized {
				t.Errorf("B's session after the sign-out on the page: %d %s, want 401", code, body)
			}
			if code, body := s.sessionStatus(t, stA2.SessionToken); code != http.StatusOK {
				t.Errorf("A's session after signing B out: %d %s, want 200", code, body)
			}
		}},
		{"A deletes the account and its Sync data on the settings page", func(t *testing.T) {
			sdb := openServerDB(t, filepath.Join(dir, "db", "syncserver.db"))
			storageUID := sdb.currentUID(t, stA.UID)
			if _, ok := sdb.payload(t, storageUID, "bookmarks", after[0].GUID); !ok {
				t.Fatalf("A's bookmark %s is not on the server before the deletion", after[0].GUID)
			}
			a.navigate(t, a.manageURL(t))
			if st := a.waitState(t, 30*time.Second, func(s string) bool { return s != "loading" && s != "" }); st != "ready" {
				t.Fatalf("the settings page is %q: %s", st, a.pageError(t))
			}
			a.typeInto(t, "#delete-password", newAccountPassword)
			a.click(t, "#delete-confirm")
			a.click(t, "#delete-submit")
			if st := a.waitState(t, 2*time.Minute, func(s string) bool { return s == "deleted" || strings.HasPrefix(s, "error:") }); st != "deleted" {
				t.Fatalf("page state %q: %s", st, a.pageError(t))
			}
			// fxaccounts:delete signed Firefox out.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				if _, ok := a.accountState(t); !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("A is still signed in to the deleted account")
				}
			}
			if _, ok := sdb.payload(t, storageUID, "bookmarks", after[0].GUID); ok {
				t.Errorf("A's bookmark is still stored after the account was deleted")
			}
			if out := s.cli(t, "", "accounts", "list"); strings.Contains(out, accountEmail) {
				t.Errorf("accounts list after the deletion:\n%s", out)
			}
			s.expectRequest(t, 1, "POST", "/v1/account/destroy", http.StatusOK)
		}},
	}
	s.runSteps(t, steps, s.origin+"/settings.js", s.origin+"/common.js", "settings page:")
	t.Logf("whole run in the namespaces: %v", time.Since(start).Round(time.Millisecond))
}
