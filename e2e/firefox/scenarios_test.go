package firefox

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Two prefs Sync carries by default (services.sync.prefs.sync.*), neither
// set by offline-user.js.
const (
	prefMaxResults = "browser.urlbar.maxRichResults"
	prefTypeahead  = "accessibility.typeaheadfind"
)

// e2e is the state the scenarios share: each builds on the last.
type e2e struct {
	s    *stack
	a, b *browser
	db   *serverDB

	uid   int64      // the account's storage uid
	bms   []bookmark // added on A: renamed, deleted, kept
	pages []page     // visited on A
	login login      // saved on A
	bm4   bookmark   // added on B
	bulk  []page     // the 1,200 pages of bulkHistory
	bm5   bookmark   // added on A after its token expired
}

// expectIDs checks that the server holds every id in a collection of uid.
func (e *e2e) expectIDs(t *testing.T, uid int64, collection string, ids ...string) {
	t.Helper()
	have := e.db.bsoIDs(t, uid, collection)
	var missing []string
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 10 {
			missing = append(missing[:10], fmt.Sprintf("… (%d in all)", len(missing)))
		}
		t.Errorf("server: %s of uid %d lacks %d of %d ids: %v (it holds %d)", collection, uid, len(missing), len(ids), missing, len(have))
	}
}

// checkRequests checks what Firefox asked of the server: storage only under
// uid, and no server error. It returns the storage requests.
func checkRequests(t *testing.T, reqs []request, uid int64) []request {
	t.Helper()
	var storage []request
	for _, r := range reqs {
		if r.Status >= 500 {
			t.Errorf("server error: %v", r)
		}
		if u, _, ok := storageRequest(r); ok {
			if u != uid {
				t.Errorf("request for uid %d, want %d: %v", u, uid, r)
			}
			storage = append(storage, r)
		}
	}
	if len(storage) == 0 {
		t.Errorf("no storage request reached the server (%d requests)", len(reqs))
	}
	return storage
}

func guids[T any](items []T, guid func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = guid(it)
	}
	return out
}

func bookmarkGUID(b bookmark) string { return b.GUID }
func pageGUID(p page) string         { return p.GUID }

func (e *e2e) firstUpload(t *testing.T) {
	a := e.a
	mark := e.s.mark(t)
	a.signIn(t, e.s.account.SignInData())
	synced := a.syncedPrefs(t)
	for _, p := range []string{prefMaxResults, prefTypeahead} {
		if !synced[p] {
			t.Fatalf("Firefox does not sync %s by default any more: pick another pref", p)
		}
	}
	e.bms = a.addBookmarks(t,
		bookmark{URL: "http://bookmarks.e2e.example/one", Title: "One"},
		bookmark{URL: "http://bookmarks.e2e.example/two", Title: "Two"},
		bookmark{URL: "http://bookmarks.e2e.example/three", Title: "Three"},
	)
	var pages []page
	for i := 1; i <= 5; i++ {
		pages = append(pages, page{URL: fmt.Sprintf("http://history.e2e.example/%d", i), Title: fmt.Sprintf("History %d", i)})
	}
	e.pages = a.addHistory(t, pages)
	a.setPrefs(t, map[string]any{prefMaxResults: 17, prefTypeahead: true})
	e.login = a.addLogin(t, login{Origin: "https://login.e2e.example", Username: "alice", Password: "first-secret"})
	a.sync(t)

	users := e.db.users(t, e.s.account.UID)
	if len(users) != 1 || users[0].ClientState != e.s.account.ClientState() || users[0].KeysChangedAt != e.s.account.KeysChangedAt {
		t.Fatalf("server: users rows %+v, want one with client state %s and keys_changed_at %d",
			users, e.s.account.ClientState(), e.s.account.KeysChangedAt)
	}
	e.uid = users[0].UID
	reqs := e.s.since(t, mark)
	checkRequests(t, reqs, e.uid)
	if !slices.ContainsFunc(reqs, func(r request) bool { return isTokenRequest(r) && r.Status == 200 }) {
		t.Errorf("no successful tokenserver request in %v", reqs)
	}
	e.expectIDs(t, e.uid, "meta", "global")
	e.expectIDs(t, e.uid, "crypto", "keys")
	e.expectIDs(t, e.uid, "clients", a.clientID(t))
	e.expectIDs(t, e.uid, "bookmarks", guids(e.bms, bookmarkGUID)...)
	e.expectIDs(t, e.uid, "history", guids(e.pages, pageGUID)...)
	e.expectIDs(t, e.uid, "passwords", e.login.GUID)
	// What the records say, decrypted with the account's keys.
	e.expectRecord(t, e.uid, "bookmarks", e.bms[0].GUID, map[string]any{"type": "bookmark", "bmkUri": e.bms[0].URL, "title": "One"})
	e.expectRecord(t, e.uid, "history", e.pages[0].GUID, map[string]any{"histUri": e.pages[0].URL, "title": "History 1"})
	e.expectRecord(t, e.uid, "passwords", e.login.GUID, map[string]any{"hostname": e.login.Origin, "username": "alice", "password": "first-secret"})
	e.expectPrefs(t, e.uid, map[string]any{prefMaxResults: 17, prefTypeahead: true})
}

// expectPrefs checks the values in the server's prefs record (nil: reset
// to the default).
func (e *e2e) expectPrefs(t *testing.T, uid int64, want map[string]any) {
	t.Helper()
	ids := e.db.bsoIDs(t, uid, "prefs")
	if len(ids) != 1 {
		t.Errorf("server: %d prefs records under uid %d, want 1", len(ids), uid)
		return
	}
	for id := range ids {
		values, _ := e.record(t, e.s.account, uid, "prefs", id)["value"].(map[string]any)
		for k, v := range want {
			if got := values[k]; !matches(got, v) {
				t.Errorf("server: prefs record of uid %d: %s = %v, want %v", uid, k, got, v)
			}
		}
	}
}

func (e *e2e) secondDevice(t *testing.T) {
	b := e.b
	mark := e.s.mark(t)
	b.signIn(t, e.s.account.SignInData())
	b.sync(t)
	checkRequests(t, e.s.since(t, mark), e.uid)

	for _, want := range e.bms {
		got, ok := b.bookmark(t, want.GUID)
		if !ok || got.URL != want.URL || got.Title != want.Title || got.ParentGUID != want.ParentGUID {
			t.Errorf("B: bookmark %s = %+v (found %v), want %+v", want.GUID, got, ok, want)
		}
	}
	for _, want := range e.pages {
		if got, ok := b.historyPage(t, want.URL); !ok || got.GUID != want.GUID {
			t.Errorf("B: history %s = %+v (found %v), want GUID %s", want.URL, got, ok, want.GUID)
		}
	}
	if got := b.pref(t, prefMaxResults); got.Value != float64(17) {
		t.Errorf("B: %s = %+v, want 17", prefMaxResults, got)
	}
	if got := b.pref(t, prefTypeahead); got.Value != true {
		t.Errorf("B: %s = %+v, want true", prefTypeahead, got)
	}
	if got, ok := b.logins(t)[e.login.GUID]; !ok || got != e.login {
		t.Errorf("B: login %s = %+v (found %v), want %+v", e.login.GUID, got, ok, e.login)
	}
	e.expectIDs(t, e.uid, "clients", e.a.clientID(t), b.clientID(t))
}

func (e *e2e) changesFlowBack(t *testing.T) {
	a, b := e.a, e.b
	mark := e.s.mark(t)
	renamed := "One, renamed on B"
	b.renameBookmark(t, e.bms[0].GUID, renamed)
	b.removeBookmark(t, e.bms[1].GUID)
	e.bm4 = b.addBookmarks(t, bookmark{URL: "http://bookmarks.e2e.example/four", Title: "Four, from B"})[0]
	b.removeHistory(t, e.pages[1].URL)
	b.setPrefs(t, map[string]any{prefMaxResults: 23, prefTypeahead: nil})
	b.changePassword(t, e.login.GUID, "second-secret")
	b.sync(t)
	storage := checkRequests(t, e.s.since(t, mark), e.uid)
	for _, c := range []string{"bookmarks", "history", "prefs", "passwords"} {
		if !slices.ContainsFunc(storage, func(r request) bool {
			_, coll, _ := storageRequest(r)
			return r.Method == "POST" && coll == c && r.Status == 200
		}) {
			t.Errorf("B uploaded nothing to %s: %v", c, storage)
		}
	}
	e.expectIDs(t, e.uid, "bookmarks", e.bm4.GUID)
	e.expectRecord(t, e.uid, "bookmarks", e.bms[0].GUID, map[string]any{"title": renamed})
	e.expectRecord(t, e.uid, "bookmarks", e.bms[1].GUID, map[string]any{"deleted": true})
	e.expectRecord(t, e.uid, "history", e.pages[1].GUID, map[string]any{"deleted": true})
	e.expectRecord(t, e.uid, "passwords", e.login.GUID, map[string]any{"password": "second-secret"})
	// A reset pref goes up as null or as its default value.
	e.expectPrefs(t, e.uid, map[string]any{prefMaxResults: 23, prefTypeahead: anyOf{nil, false}})

	mark = e.s.mark(t)
	a.sync(t)
	checkRequests(t, e.s.since(t, mark), e.uid)
	if got, ok := a.bookmark(t, e.bms[0].GUID); !ok || got.Title != renamed {
		t.Errorf("A: bookmark %s = %+v (found %v), want the title %q", e.bms[0].GUID, got, ok, renamed)
	}
	if got, ok := a.bookmark(t, e.bms[1].GUID); ok {
		t.Errorf("A: bookmark %+v deleted on B is still there", got)
	}
	if got, ok := a.bookmark(t, e.bm4.GUID); !ok || got.URL != e.bm4.URL {
		t.Errorf("A: bookmark %s = %+v (found %v), want %+v", e.bm4.GUID, got, ok, e.bm4)
	}
	if got, ok := a.historyPage(t, e.pages[1].URL); ok {
		t.Errorf("A: history %+v deleted on B is still there", got)
	}
	if _, ok := a.historyPage(t, e.pages[0].URL); !ok {
		t.Errorf("A: history %s is gone", e.pages[0].URL)
	}
	if got := a.pref(t, prefMaxResults); got.Value != float64(23) {
		t.Errorf("A: %s = %+v, want 23", prefMaxResults, got)
	}
	if got := a.pref(t, prefTypeahead); got.UserSet {
		t.Errorf("A: %s = %+v, want it reset to its default", prefTypeahead, got)
	}
	if got := a.logins(t)[e.login.GUID]; got.Password != "second-secret" {
		t.Errorf("A: login %s = %+v, want the password changed on B", e.login.GUID, got)
	}
}

// bulkPages is how many pages bulkHistory visits: more than a page of
// downloads (1,000) and than a POST (100 records), below Firefox's
// 5,000-record history limits.
const bulkPages = 1200

func (e *e2e) bulkHistory(t *testing.T) {
	a, b := e.a, e.b
	var pages []page
	for i := range bulkPages {
		pages = append(pages, page{URL: fmt.Sprintf("http://bulk.e2e.example/page/%d", i), Title: fmt.Sprintf("Bulk %d", i)})
	}
	mark := e.s.mark(t)
	e.bulk = a.addHistory(t, pages)
	a.sync(t)
	var posts []request
	for _, r := range checkRequests(t, e.s.since(t, mark), e.uid) {
		if _, c, _ := storageRequest(r); c == "history" && r.Method == "POST" {
			posts = append(posts, r)
		}
	}
	// One batch: opened by batch=true, continued with its id, closed by
	// commit=true; each POST at most max_post_records (100).
	batches := map[string]int{}
	opened, committed := 0, 0
	for _, r := range posts {
		if r.Status/100 != 2 {
			t.Errorf("A: history upload failed: %v", r)
		}
		switch id := r.Query.Get("batch"); {
		case id == "true":
			opened++
		case id != "":
			batches[id]++
		}
		if r.Query.Get("commit") == "true" {
			committed++
		}
	}
	if len(posts) < bulkPages/100 || opened != 1 || len(batches) != 1 || committed != 1 {
		t.Errorf("A: want the history uploaded in one batch over %d+ POSTs; got %d POSTs, %d opening, batch ids %v, %d commits:\n%s",
			bulkPages/100, len(posts), opened, batches, committed, joinRequests(posts))
	}
	e.expectIDs(t, e.uid, "history", guids(e.bulk, pageGUID)...)

	mark = e.s.mark(t)
	b.sync(t)
	var gets []request
	for _, r := range checkRequests(t, e.s.since(t, mark), e.uid) {
		if _, c, _ := storageRequest(r); c == "history" && r.Method == "GET" {
			gets = append(gets, r)
		}
	}
	paged := slices.ContainsFunc(gets, func(r request) bool { return r.Query.Get("offset") != "" && r.Status == 200 })
	if len(gets) < 2 || !paged {
		t.Errorf("B: want the history downloaded in pages (limit and offset); got:\n%s", joinRequests(gets))
	}
	if n := b.countHistory(t, "http://bulk.e2e.example/"); n != bulkPages {
		t.Errorf("B: %d of the %d pages visited on A are in its history", n, bulkPages)
	}
}

func (e *e2e) tokenExpiry(t *testing.T) {
	a, b := e.a, e.b
	// Wait until every token handed out so far has expired on the server.
	var last time.Time
	for _, r := range e.s.requests(t) {
		if isTokenRequest(r) && r.Status == 200 {
			last = r.At
		}
	}
	if wait := time.Until(last.Add(tokenDuration + time.Second)); wait > 0 {
		t.Logf("waiting %v for the tokens to expire", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
	// Every storage request from now on needs a new token: one Firefox
	// fetched (no 401 from storage), and with which it carried on.
	mark := e.s.mark(t)
	e.bm5 = a.addBookmarks(t, bookmark{URL: "http://bookmarks.e2e.example/five", Title: "Five, after the token expired"})[0]
	a.sync(t)
	b.sync(t)
	reqs := e.s.since(t, mark)
	tokens := 0
	for _, r := range reqs {
		if isTokenRequest(r) && r.Status == 200 {
			tokens++
		}
	}
	if tokens < 2 {
		t.Errorf("%d new tokens for the two browsers, want 2 or more:\n%s", tokens, joinRequests(reqs))
	}
	for _, r := range checkRequests(t, reqs, e.uid) {
		if r.Status == 401 {
			t.Errorf("storage refused a token: %v", r)
		}
	}
	if got, ok := b.bookmark(t, e.bm5.GUID); !ok || got.URL != e.bm5.URL {
		t.Errorf("B: bookmark %s = %+v (found %v), want %+v", e.bm5.GUID, got, ok, e.bm5)
	}
	e.expectIDs(t, e.uid, "bookmarks", e.bm5.GUID)
}

func (e *e2e) keyChange(t *testing.T) {
	a, b := e.a, e.b
	old := e.s.account
	// A password reset: new kB, keys changed (and generation) now.
	nw := old
	nw.KB = make([]byte, 32)
	rand.Read(nw.KB)
	nw.KeysChangedAt = time.Now().UnixMilli()
	nw.Generation = nw.KeysChangedAt
	e.s.fxa.SetAccount(nw)
	e.s.account = nw

	// A signs in again with the new keys, as after a reset elsewhere.
	mark := e.s.mark(t)
	bm6 := a.addBookmarks(t, bookmark{URL: "http://bookmarks.e2e.example/six", Title: "Six, after the key change"})[0]
	a.signIn(t, nw.SignInData())
	a.sync(t)
	var newTokenAt time.Time
	for _, r := range e.s.since(t, mark) {
		if isTokenRequest(r) && r.Status == 200 {
			newTokenAt = r.At
			break
		}
	}
	users := e.db.users(t, nw.UID)
	newUID := e.db.currentUID(t, nw.UID)
	if newUID == e.uid || len(users) != 2 || !users[0].Replaced || users[1].ClientState != nw.ClientState() || users[1].KeysChangedAt != nw.KeysChangedAt {
		t.Fatalf("server: users rows after the key change %+v, want the old uid %d replaced and a new one with client state %s, keys_changed_at %d",
			users, e.uid, nw.ClientState(), nw.KeysChangedAt)
	}
	// A re-uploaded everything it has under the new uid.
	e.expectIDs(t, newUID, "meta", "global")
	e.expectIDs(t, newUID, "crypto", "keys")
	e.expectIDs(t, newUID, "clients", a.clientID(t))
	e.expectIDs(t, newUID, "bookmarks", e.bms[0].GUID, e.bms[2].GUID, e.bm4.GUID, e.bm5.GUID, bm6.GUID)
	e.expectIDs(t, newUID, "history", guids(e.bulk, pageGUID)...)
	e.expectIDs(t, newUID, "passwords", e.login.GUID)
	e.expectRecord(t, newUID, "bookmarks", bm6.GUID, map[string]any{"bmkUri": bm6.URL, "title": bm6.Title})
	e.expectPrefs(t, newUID, map[string]any{prefMaxResults: 23})
	if raw, ok := e.db.payload(t, newUID, "crypto", "keys"); ok {
		sk := old.SyncKey()
		var v any
		if err := (keyBundle{enc: sk[:32], mac: sk[32:]}).decrypt(raw, &v); err == nil {
			t.Errorf("server: the new crypto/keys opens with the old kB")
		}
	}

	// The tokenserver refuses the old keys, and gives the new uid for the
	// new ones.
	if tr := e.s.token(t, old.KeyID()); tr.Status != 401 || tr.ErrStatus != "invalid-client-state" {
		t.Errorf("token with the old key id: %d %q, want 401 invalid-client-state", tr.Status, tr.ErrStatus)
	}
	if tr := e.s.token(t, nw.KeyID()); tr.Status != 200 || tr.UID != newUID {
		t.Errorf("token with the new key id: %d uid %d, want 200 uid %d", tr.Status, tr.UID, newUID)
	}

	// B still has the old keys. It goes on with its token for the old uid
	// until that expires; then the tokenserver refuses it.
	mark = e.s.mark(t)
	if wait := time.Until(newTokenAt.Add(tokenDuration + time.Second)); wait > 0 {
		t.Logf("waiting %v for B's token to expire", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
	if r := b.trySync(t); r.ok() || r.Login != "error.login.reason.account" {
		t.Errorf("B with the old keys: %v; want the login rejected", r)
	}
	refused := slices.ContainsFunc(e.s.since(t, mark), func(r request) bool { return isTokenRequest(r) && r.Status == 401 })
	if !refused {
		t.Errorf("B with the old keys: the tokenserver did not refuse it:\n%s", joinRequests(e.s.since(t, mark)))
	}

	// B signs in again with the new keys and gets A's data from the new uid.
	mark = e.s.mark(t)
	b.signIn(t, nw.SignInData())
	b.sync(t)
	checkRequests(t, e.s.since(t, mark), newUID)
	for _, want := range []bookmark{bm6, e.bm5, e.bm4} {
		if got, ok := b.bookmark(t, want.GUID); !ok || got.URL != want.URL {
			t.Errorf("B: bookmark %s = %+v (found %v), want %+v", want.GUID, got, ok, want)
		}
	}
	e.expectIDs(t, newUID, "clients", a.clientID(t), b.clientID(t))
	e.uid = newUID
}

func joinRequests(reqs []request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "\t%s %v\n", r.At.Format("15:04:05.000"), r)
	}
	return b.String()
}
