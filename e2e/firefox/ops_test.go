package firefox

import (
	"fmt"
	"strings"
	"testing"
)

// What the test does in Firefox, as privileged JavaScript.

// signIn signs the profile in to the account as the FxA web flow would end
// (setSignedInUser). Over an account already signed in it is what
// happens when the user signs in again after a password reset elsewhere.
func (b *browser) signIn(t *testing.T, data map[string]any) {
	t.Helper()
	var got struct {
		Email    string `json:"email"`
		Verified bool   `json:"verified"`
	}
	b.run(t, &got, `
const [data] = arguments;
return (async () => {
  const fxAccounts = getFxAccountsSingleton();
  await Weave.Service.promiseInitialized;
  await fxAccounts._internal.setSignedInUser(data);
  await Weave.Service.configure();
  return await fxAccounts.getSignedInUser();
})();`, data)
	if got.Email != data["email"] || !got.Verified {
		t.Fatalf("firefox %s: signed in as %+v, want %v", b.name, got, data["email"])
	}
}

// syncResult is how one sync that Firefox ran for the test ended.
type syncResult struct {
	// Outcome: "finish", "error" (sync:error), "login-error" (login
	// failed before the sync started).
	Outcome  string            `json:"outcome"`
	Attempts int               `json:"attempts"`
	Service  string            `json:"service"`
	Login    string            `json:"login"`
	Sync     string            `json:"sync"`
	Engines  map[string]string `json:"engines"`
	Error    string            `json:"error"`
}

func (r syncResult) ok() bool {
	return r.Outcome == "finish" && r.Service == "success.status_ok" && r.Login == "success.login" && len(r.Engines) == 0
}

func (r syncResult) String() string {
	return fmt.Sprintf("outcome %s after %d attempt(s); status service=%s login=%s sync=%s engines=%v; %s",
		r.Outcome, r.Attempts, r.Service, r.Login, r.Sync, r.Engines, r.Error)
}

// trySync runs one whole sync and reports how it ended. Sync's scheduler
// may start a sync on its own; Weave.Service.sync then returns at once
// without syncing. So the script waits for the
// lock, watches the observer topics around its own call, and calls again
// when the sync that ran was not its own. The last sync to start and end
// before its call returns is its own: a sync that held the lock when it
// tried would still be running.
func (b *browser) trySync(t *testing.T) syncResult {
	t.Helper()
	var r syncResult
	b.run(t, &r, `
return (async () => {
  await Weave.Service.promiseInitialized;
  const topics = ["weave:service:sync:start", "weave:service:sync:finish",
                  "weave:service:sync:error", "weave:service:login:error"];
  for (let attempt = 1; attempt <= 10; attempt++) {
    for (let waited = 0; Weave.Service.locked; waited += 100) {
      if (waited > 120000) throw new Error("Sync's lock held for 2 minutes");
      await sleep(100);
    }
    const events = [];
    const observer = { observe(subject, topic, data) { events.push({topic, error: topic.endsWith(":error") ? String(subject?.wrappedJSObject?.object ?? subject ?? "") : ""}); } };
    for (const topic of topics) Services.obs.addObserver(observer, topic);
    try {
      await Weave.Service.sync({ why: "user" });
    } finally {
      for (const topic of topics) Services.obs.removeObserver(observer, topic);
    }
    const names = events.map(e => e.topic.replace("weave:service:", ""));
    const status = {
      attempts: attempt,
      service: Weave.Status.service,
      login: Weave.Status.login,
      sync: Weave.Status.sync,
      engines: Object.assign({}, Weave.Status.engines),
      error: events.filter(e => e.error).map(e => e.topic + ": " + e.error).join("; "),
    };
    const last = names.length - 1;
    if (last >= 1 && names[last - 1] == "sync:start" && (names[last] == "sync:finish" || names[last] == "sync:error")) {
      return Object.assign(status, { outcome: names[last] == "sync:finish" ? "finish" : "error" });
    }
    if (names.includes("login:error") && !names.includes("sync:start")) {
      return Object.assign(status, { outcome: "login-error" });
    }
    // Lost the race with a sync Sync started itself: wait for it, retry.
  }
  throw new Error("could not run a sync of our own in 10 attempts");
})();`)
	return r
}

// sync runs a sync that must succeed.
func (b *browser) sync(t *testing.T) {
	t.Helper()
	if r := b.trySync(t); !r.ok() {
		t.Fatalf("firefox %s: sync failed: %v", b.name, r)
	}
}

// bookmark is a bookmark as Places has it.
type bookmark struct {
	GUID       string `json:"guid"`
	URL        string `json:"url"`
	Title      string `json:"title"`
	ParentGUID string `json:"parentGuid"`
}

// addBookmarks inserts bookmarks into the toolbar and returns them with
// their GUIDs.
func (b *browser) addBookmarks(t *testing.T, bms ...bookmark) []bookmark {
	t.Helper()
	var out []bookmark
	b.run(t, &out, `
const [items] = arguments;
return withSyncLock(async () => {
  const out = [];
  for (const it of items) {
    const bm = await PlacesUtils.bookmarks.insert({ parentGuid: PlacesUtils.bookmarks.toolbarGuid, url: it.url, title: it.title });
    out.push({ guid: bm.guid, url: bm.url.href, title: bm.title, parentGuid: bm.parentGuid });
  }
  return out;
});`, bms)
	return out
}

// bookmark fetches a bookmark by GUID; ok is false when there is none.
func (b *browser) bookmark(t *testing.T, guid string) (bm bookmark, ok bool) {
	t.Helper()
	var out *bookmark
	b.run(t, &out, `
const [guid] = arguments;
return (async () => {
  const bm = await PlacesUtils.bookmarks.fetch(guid);
  return bm ? { guid: bm.guid, url: bm.url ? bm.url.href : "", title: bm.title, parentGuid: bm.parentGuid } : null;
})();`, guid)
	if out == nil {
		return bookmark{}, false
	}
	return *out, true
}

// renameBookmark changes a bookmark's title.
func (b *browser) renameBookmark(t *testing.T, guid, title string) {
	t.Helper()
	b.run(t, nil, `
const [guid, title] = arguments;
return withSyncLock(() => PlacesUtils.bookmarks.update({ guid, title })).then(() => null);`, guid, title)
}

// removeBookmark deletes a bookmark.
func (b *browser) removeBookmark(t *testing.T, guid string) {
	t.Helper()
	b.run(t, nil, `return withSyncLock(() => PlacesUtils.bookmarks.remove(arguments[0])).then(() => null);`, guid)
}

// page is a history entry.
type page struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	GUID  string `json:"guid"`
}

// addHistory records one visit (a few seconds apart, newest first) to each
// page and returns the pages with their GUIDs, in order.
func (b *browser) addHistory(t *testing.T, pages []page) []page {
	t.Helper()
	var out []page
	b.run(t, &out, `
const [pages] = arguments;
return withSyncLock(async () => {
  const now = Date.now();
  const infos = pages.map((p, i) => ({
    url: p.url, title: p.title,
    visits: [{ date: new Date(now - 1000 * (i + 1)), transition: PlacesUtils.history.TRANSITIONS.LINK }],
  }));
  const guids = new Map();
  await PlacesUtils.history.insertMany(infos, r => guids.set(r.url.href, r.guid));
  return pages.map(p => ({ url: p.url, title: p.title, guid: guids.get(new URL(p.url).href) || "" }));
});`, pages)
	for _, p := range out {
		if p.GUID == "" {
			t.Fatalf("firefox %s: %s was not added to history", b.name, p.URL)
		}
	}
	return out
}

// historyPage fetches a page from history by URL; ok is false when there
// is none.
func (b *browser) historyPage(t *testing.T, url string) (p page, ok bool) {
	t.Helper()
	var out *page
	b.run(t, &out, `
return (async () => {
  const p = await PlacesUtils.history.fetch(arguments[0]);
  return p ? { url: p.url.href, title: p.title, guid: p.guid } : null;
})();`, url)
	if out == nil {
		return page{}, false
	}
	return *out, true
}

// countHistory counts the pages in history whose URL starts with prefix.
func (b *browser) countHistory(t *testing.T, urlPrefix string) int {
	t.Helper()
	var n int
	b.run(t, &n, `
return (async () => {
  const db = await PlacesUtils.promiseDBConnection();
  const rows = await db.execute("SELECT count(*) AS n FROM moz_places WHERE url LIKE :p AND visit_count > 0",
                                { p: arguments[0] + "%" });
  return rows[0].getResultByName("n");
})();`, urlPrefix)
	return n
}

// removeHistory deletes a page and its visits.
func (b *browser) removeHistory(t *testing.T, url string) {
	t.Helper()
	b.run(t, nil, `return withSyncLock(() => PlacesUtils.history.remove(arguments[0])).then(() => null);`, url)
}

// prefValue is a pref's value and whether the user set it (false: the
// default applies).
type prefValue struct {
	Value   any  `json:"value"`
	UserSet bool `json:"userSet"`
}

// setPrefs sets prefs (bool, int or string values); a nil value resets
// the pref to its default.
func (b *browser) setPrefs(t *testing.T, prefs map[string]any) {
	t.Helper()
	b.run(t, nil, `
const [prefs] = arguments;
return withSyncLock(async () => {
  for (const [name, v] of Object.entries(prefs)) {
    if (v === null) Services.prefs.clearUserPref(name);
    else if (typeof v == "boolean") Services.prefs.setBoolPref(name, v);
    else if (typeof v == "number") Services.prefs.setIntPref(name, v);
    else Services.prefs.setStringPref(name, v);
  }
  return null;
});`, prefs)
}

// pref reads a pref.
func (b *browser) pref(t *testing.T, name string) prefValue {
	t.Helper()
	var v prefValue
	b.run(t, &v, `
const [name] = arguments;
const type = Services.prefs.getPrefType(name);
let value = null;
if (type == Services.prefs.PREF_BOOL) value = Services.prefs.getBoolPref(name);
else if (type == Services.prefs.PREF_INT) value = Services.prefs.getIntPref(name);
else if (type == Services.prefs.PREF_STRING) value = Services.prefs.getStringPref(name);
return { value, userSet: Services.prefs.prefHasUserValue(name) };`, name)
	return v
}

// login is a saved password.
type login struct {
	GUID     string `json:"guid"`
	Origin   string `json:"origin"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// addLogin saves a password for a site's form and returns it with its GUID.
func (b *browser) addLogin(t *testing.T, l login) login {
	t.Helper()
	var out login
	b.run(t, &out, `
const [l] = arguments;
return withSyncLock(async () => {
  const info = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(Ci.nsILoginInfo);
  info.init(l.origin, l.origin, null, l.username, l.password, "username", "password");
  const added = await Services.logins.addLoginAsync(info);
  added.QueryInterface(Ci.nsILoginMetaInfo);
  return { guid: added.guid, origin: added.origin, username: added.username, password: added.password };
});`, l)
	return out
}

// logins lists the saved passwords.
func (b *browser) logins(t *testing.T) map[string]login {
	t.Helper()
	var out []login
	b.run(t, &out, `
return (async () => {
  const all = await Services.logins.getAllLogins();
  return all.map(l => { l.QueryInterface(Ci.nsILoginMetaInfo); return { guid: l.guid, origin: l.origin, username: l.username, password: l.password }; });
})();`)
	m := map[string]login{}
	for _, l := range out {
		m[l.GUID] = l
	}
	return m
}

// changePassword changes a saved password.
func (b *browser) changePassword(t *testing.T, guid, password string) {
	t.Helper()
	b.run(t, nil, `
const [guid, password] = arguments;
return withSyncLock(async () => {
  const [old] = await Services.logins.searchLoginsAsync({ guid });
  if (!old) throw new Error("no login " + guid);
  const props = Cc["@mozilla.org/hash-property-bag;1"].createInstance(Ci.nsIWritablePropertyBag);
  props.setProperty("password", password);
  await Services.logins.modifyLoginAsync(old, props);
  return null;
});`, guid, password)
}

// syncedPrefs lists the prefs Sync carries (services.sync.prefs.sync.*).
func (b *browser) syncedPrefs(t *testing.T) map[string]bool {
	t.Helper()
	var names []string
	b.run(t, &names, `
const branch = "services.sync.prefs.sync.";
return Services.prefs.getChildList(branch).filter(n => Services.prefs.getBoolPref(n, false)).map(n => n.slice(branch.length));`)
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// clientID is Sync's id of this device: its record in the clients
// collection.
func (b *browser) clientID(t *testing.T) string {
	t.Helper()
	var id string
	b.run(t, &id, `return Weave.Service.clientsEngine.localID;`)
	return strings.TrimSpace(id)
}
