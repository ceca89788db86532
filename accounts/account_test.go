package accounts

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
)

func TestCreateAccountStoresNoSecret(t *testing.T) {
	h := newHarness(t)
	salt := onepw.NewClientSalt()
	authPW := onepw.AuthPW(stretch("pw", salt))
	a, err := CreateAccount(context.Background(), h.store, " Me@Example.ORG", salt, authPW, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.store.AccountByEmail(context.Background(), "me@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != a.UID || !isHex(a.UID, 16) || got.KeysChangedAt != testEpoch.UnixMilli() || got.VerifierSetAt != got.KeysChangedAt || len(got.KA) != 32 {
		t.Fatalf("account %+v", got)
	}
	if _, ok := kdf.unwrap(onepw.Verifier{AuthSalt: got.AuthSalt, VerifyHash: got.VerifyHash, WrapWrapKb: got.WrapWrapKb}, authPW); !ok {
		t.Fatal("the stored verifier does not open with authPW")
	}
	for _, b := range [][]byte{got.AuthSalt, got.VerifyHash, got.WrapWrapKb, got.KA} {
		if hex.EncodeToString(b) == hex.EncodeToString(authPW) {
			t.Fatal("authPW stored")
		}
	}
	_, err = CreateAccount(context.Background(), h.store, "me@example.org", salt, authPW, h.clock.Now())
	if !errors.Is(err, db.ErrExists) {
		t.Fatalf("second account with the email: %v", err)
	}
	for _, bad := range []struct{ email, salt string }{{"no-at", salt}, {"x@example.org", "short"}, {"x@example.org", strings.TrimSuffix(salt, "0") + "g"}} {
		if _, err := CreateAccount(context.Background(), h.store, bad.email, bad.salt, authPW, h.clock.Now()); !errors.Is(err, ErrInvalidAccount) {
			t.Errorf("CreateAccount(%q, %q): %v", bad.email, bad.salt, err)
		}
	}
}

// createBody is what the page sends to account/create.
func createBody(email, password, invite string) map[string]string {
	salt := onepw.NewClientSalt()
	return map[string]string{"email": email, "clientSalt": salt, "authPW": hex.EncodeToString(onepw.AuthPW(stretch(password, salt))), "invite": invite}
}

func TestCreateWithInvite(t *testing.T) {
	h := newHarness(t)
	link, err := h.svc.NewInvite(context.Background(), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	code := u.Query().Get("invite")
	if !strings.HasPrefix(link, testOrigin+"/?invite=") || !isHex(code, 32) {
		t.Fatalf("link %q", link)
	}
	wantErrno(t, h.do("POST", "/v1/account/create?keys=true", createBody("new@example.org", "pw", "")), 400, errnoInvalidParameter)
	wantErrno(t, h.do("POST", "/v1/account/create?keys=true", createBody("new@example.org", "pw", strings.Repeat("0", 64))), 400, errnoInvalidParameter)
	m := wantOK(t, h.do("POST", "/v1/account/create?keys=true", createBody("new@example.org", "pw", code)))
	if m["keyFetchToken"] == nil || m["sessionToken"] == nil || m["verified"] != true {
		t.Fatalf("create answer %v", m)
	}
	// The page then signs in as usual.
	(&pageClient{h: h, email: "new@example.org", password: "pw"}).signIn()
	// Single use.
	wantErrno(t, h.do("POST", "/v1/account/create", createBody("other@example.org", "pw", code)), 400, errnoInvalidParameter)
	// Taken email.
	link2, _ := h.svc.NewInvite(context.Background(), "", time.Hour)
	u2, _ := url.Parse(link2)
	wantErrno(t, h.do("POST", "/v1/account/create", createBody("NEW@example.org", "pw", u2.Query().Get("invite"))), 400, errnoAccountExists)

	// An invitation for one address: that address signs up with it,
	// another is refused.
	link3, _ := h.svc.NewInvite(context.Background(), "Friend@example.org", time.Hour)
	u3, _ := url.Parse(link3)
	if u3.Query().Get("email") != "friend@example.org" {
		t.Fatalf("link %q", link3)
	}
	wantOK(t, h.do("POST", "/v1/account/create", createBody("friend@example.org", "pw", u3.Query().Get("invite"))))
	link5, _ := h.svc.NewInvite(context.Background(), "friend2@example.org", time.Hour)
	u5, _ := url.Parse(link5)
	wantErrno(t, h.do("POST", "/v1/account/create", createBody("typo@example.org", "pw", u5.Query().Get("invite"))), 400, errnoInvalidParameter)

	// Expired.
	link4, _ := h.svc.NewInvite(context.Background(), "", time.Minute)
	u4, _ := url.Parse(link4)
	h.clock.Add(2 * time.Minute)
	wantErrno(t, h.do("POST", "/v1/account/create", createBody("late@example.org", "pw", u4.Query().Get("invite"))), 400, errnoInvalidParameter)

	// Malformed input.
	wantErrno(t, h.do("POST", "/v1/account/create", map[string]string{"email": "a@example.org", "clientSalt": "x", "authPW": strings.Repeat("a", 64)}), 400, errnoInvalidParameter)
	wantErrno(t, h.do("POST", "/v1/account/create", map[string]string{"email": "a@example.org", "authPW": strings.Repeat("a", 64)}), 400, errnoMissingParameter)
}

func TestCreateOpenSignup(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.OpenSignup = true })
	m := wantOK(t, h.do("POST", "/v1/account/create", createBody("anyone@example.org", "pw", "")))
	if m["keyFetchToken"] != nil {
		t.Fatalf("keys without ?keys=true: %v", m)
	}
	(&pageClient{h: h, email: "anyone@example.org", password: "pw"}).signIn()
}

// TestPasswordChange: the page sends the new verifier's inputs with wrapKb
// = kB ⊕ unwrapBKey'; kB (so the Sync key) stays, every old session and
// access token goes.
func TestPasswordChange(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "old")
	ts := h.tokenServer(h.svc.Verifier())
	page := &pageClient{h: h, email: "me@example.org", password: "old"}
	si := page.signIn()
	other := page.signIn()
	oldAT := h.syncToken(si.session)
	if r, _ := getSyncToken(t, ts, oldAT, si.kid); r.Status != http.StatusOK {
		t.Fatalf("tokenserver: %d %s", r.Status, r.Body)
	}

	h.clock.Add(time.Minute)
	oldQS := stretch("old", page.salt())
	newSalt := onepw.NewClientSalt()
	newQS := stretch("new", newSalt)
	body := map[string]string{
		"oldAuthPW":  hex.EncodeToString(onepw.AuthPW(oldQS)),
		"authPW":     hex.EncodeToString(onepw.AuthPW(newQS)),
		"clientSalt": newSalt,
		"wrapKb":     hex.EncodeToString(onepw.XOR(si.kB, onepw.UnwrapBKey(newQS))),
	}
	wrong := map[string]string{}
	for k, v := range body {
		wrong[k] = v
	}
	wrong["oldAuthPW"] = hex.EncodeToString(make([]byte, 32))
	wantErrno(t, h.session("POST", "/v1/password/change", wrong, si.session), 400, errnoIncorrectPW)
	m := wantOK(t, h.session("POST", "/v1/password/change", body, si.session))
	if m["uid"] != si.uid || m["verified"] != true || !isHex(m["sessionToken"].(string), 32) {
		t.Fatalf("password change answer %v", m)
	}
	wantErrno(t, h.session("GET", "/v1/session/status", nil, si.session), 401, errnoInvalidToken)
	wantErrno(t, h.session("GET", "/v1/session/status", nil, other.session), 401, errnoInvalidToken)
	wantOK(t, h.session("GET", "/v1/session/status", nil, m["sessionToken"].(string)))

	// The old password is refused, the new one derives the same key.
	r, _ := page.login()
	wantErrno(t, r, 400, errnoIncorrectPW)
	page.password = "new"
	si2 := page.signIn()
	if si2.kid != si.kid || si2.k != si.k {
		t.Fatalf("password change changed the Sync key: %s → %s", si.kid, si2.kid)
	}
	// The access token from before the change is refused; a new one works
	// and finds the same storage user.
	if r, _ := getSyncToken(t, ts, oldAT, si.kid); r.Status != http.StatusUnauthorized {
		t.Fatalf("old access token after a password change: %d %s", r.Status, r.Body)
	}
	if r, _ := getSyncToken(t, ts, h.syncToken(si2.session), si2.kid); r.Status != http.StatusOK {
		t.Fatalf("new access token: %d %s", r.Status, r.Body)
	}
}

func TestSessionAndStatusRoutes(t *testing.T) {
	h := newHarness(t)
	uid := h.addAccount("me@example.org", "pw")
	si := (&pageClient{h: h, email: "me@example.org", password: "pw"}).signIn()
	m := wantOK(t, h.session("GET", "/v1/recovery_email/status", nil, si.session))
	if m["email"] != "me@example.org" || m["verified"] != true || m["sessionVerified"] != true || m["emailVerified"] != true {
		t.Fatalf("recovery_email/status %v", m)
	}
	if m := wantOK(t, h.do("GET", "/v1/account/status?uid="+uid, nil)); m["exists"] != true {
		t.Fatalf("account/status %v", m)
	}
	if m := wantOK(t, h.do("GET", "/v1/account/status?uid="+strings.Repeat("0", 32), nil)); m["exists"] != false {
		t.Fatalf("account/status of nobody %v", m)
	}
	wantErrno(t, h.do("GET", "/v1/account/status", nil), 400, errnoMissingParameter)
	wantErrno(t, h.do("GET", "/v1/account/status?uid=zz", nil), 400, errnoInvalidParameter)
	dup := wantOK(t, h.session("POST", "/v1/session/duplicate", map[string]string{"reason": "migration"}, si.session))
	wantOK(t, h.session("GET", "/v1/session/status", nil, dup["sessionToken"].(string)))
	wantOK(t, h.session("POST", "/v1/account/devices/notify", map[string]any{"to": "all", "payload": map[string]any{}, "TTL": 60}, si.session))
}

func TestProfile(t *testing.T) {
	h := newHarness(t)
	uid := h.addAccount("me@example.org", "pw")
	si := (&pageClient{h: h, email: "me@example.org", password: "pw"}).signIn()
	tok := wantOK(t, h.session("POST", "/v1/oauth/token", map[string]any{"client_id": desktopClient, "grant_type": "fxa-credentials", "scope": "profile"}, si.session))["access_token"].(string)
	r := h.do("GET", "/profile/v1/profile", nil, "Authorization", "Bearer "+tok)
	m := wantOK(t, r)
	if m["uid"] != uid || m["email"] != "me@example.org" || m["avatar"] != testOrigin+"/avatar/default.png" || m["avatarDefault"] != true || m["locale"] == nil {
		t.Fatalf("profile %v", m)
	}
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r = h.do("GET", "/profile/v1/profile", nil, "Authorization", "Bearer "+tok, "If-None-Match", etag)
	if r.Status != http.StatusNotModified || len(r.Body) != 0 || r.Header.Get("ETag") != etag {
		t.Fatalf("If-None-Match: %d %s", r.Status, r.Body)
	}
	r = h.do("GET", "/profile/v1/profile", nil, "Authorization", "Bearer "+tok, "If-None-Match", `"other"`)
	wantOK(t, r)
	// The avatar URL serves an image.
	if r := h.do("GET", "/avatar/default.png", nil); r.Status != http.StatusOK {
		t.Fatalf("avatar %d", r.Status)
	}
	wantErrno(t, h.do("GET", "/profile/v1/profile", nil), 401, errnoInvalidToken)
	syncOnly := h.syncToken(si.session)
	wantErrno(t, h.do("GET", "/profile/v1/profile", nil, "Authorization", "Bearer "+syncOnly), 403, 100)
}

// TestStoreFailure: a database failure is 500/999 with the envelope, and
// logged without the request's secrets.
func TestStoreFailure(t *testing.T) {
	ms := newMemStore()
	h := newHarness(t, func(o *Options) { o.Store = ms })
	ms.fail = errors.New("database down")
	pw := hex.EncodeToString(make([]byte, 32))
	wantErrno(t, h.do("POST", "/v1/account/login?keys=true&secret=query", map[string]string{"email": "me@example.org", "authPW": pw}), 500, errnoServerError)
	wantErrno(t, h.do("POST", "/v1/account/credentials/status", map[string]string{"email": "me@example.org"}), 500, errnoServerError)
	logs := h.logs.String()
	if !strings.Contains(logs, "database down") {
		t.Fatalf("the failure is not logged: %s", logs)
	}
	if strings.Contains(logs, pw) || strings.Contains(logs, "secret=query") || strings.Contains(logs, "me@example.org") {
		t.Fatalf("a body or query string in the log: %s", logs)
	}
}

// TestResetPassword: the operator's reset gives the account new keys. The
// old password, sessions, refresh tokens and access tokens are dead; the
// new password signs in through the page's crypto, to a new key id and a
// new tokenserver user with an empty storage, and the old data, deleted as
// the command deletes it, is gone.
func TestResetPassword(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	uid := h.addAccount("me@example.org", "the old password")
	ts := h.tokenServer(h.svc.Verifier())
	old := &pageClient{h: h, email: "me@example.org", password: "the old password"}
	si := old.signIn()
	ff := newFirefoxFlow(t)
	code := wantOK(t, h.redeem(si.session, old.authorize(si, ff), ff.verifier))
	refresh := code["refresh_token"].(string)
	at := h.syncToken(si.session)
	resp, st := getSyncToken(t, ts, at, si.kid)
	if resp.Status != http.StatusOK {
		t.Fatalf("tokenserver: %d %s", resp.Status, resp.Body)
	}
	if r := storageDo(t, ts, h.clock.Now(), st, "PUT", "/storage/bookmarks/b1", `{"payload":"old"}`); r.Status != http.StatusOK {
		t.Fatalf("storage write: %d %s", r.Status, r.Body)
	}
	before, _ := h.store.AccountByUID(ctx, uid)

	h.clock.Add(time.Minute)
	salt := onepw.NewClientSalt()
	if _, err := ResetPassword(ctx, h.store, uid, salt, onepw.AuthPW(stretch("the new password", salt)), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// What the command does next: the old Sync data goes.
	syncUID, err := h.db.ResolveUser(ctx, uid+"@"+h.svc.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.DeleteUserData(ctx, syncUID); err != nil {
		t.Fatal(err)
	}
	after, _ := h.store.AccountByUID(ctx, uid)
	if after.KeysChangedAt <= before.KeysChangedAt || after.VerifierSetAt != after.KeysChangedAt || after.ClientSalt != salt {
		t.Fatalf("after the reset keysChangedAt %d (was %d), verifierSetAt %d, salt %s", after.KeysChangedAt, before.KeysChangedAt, after.VerifierSetAt, after.ClientSalt)
	}

	// Everything of the old password is dead.
	wantErrno(t, h.session("GET", "/v1/session/status", nil, si.session), http.StatusUnauthorized, errnoInvalidToken)
	wantErrno(t, h.do("POST", "/v1/oauth/token", map[string]string{"client_id": desktopClient, "grant_type": "refresh_token", "refresh_token": refresh}), http.StatusUnauthorized, errnoInvalidToken)
	if r, _ := getSyncToken(t, ts, at, si.kid); r.Status != http.StatusUnauthorized {
		t.Fatalf("old access token at the tokenserver: %d %s", r.Status, r.Body)
	}
	r, _ := old.login()
	wantErrno(t, r, http.StatusBadRequest, errnoIncorrectPW)

	// The new password signs in, to new keys.
	si2 := (&pageClient{h: h, email: "me@example.org", password: "the new password"}).signIn()
	if si2.kid == si.kid || si2.k == si.k || bytes.Equal(si2.kB, si.kB) {
		t.Fatal("the same keys after a reset")
	}
	if !strings.HasPrefix(si2.kid, strconv.FormatInt(after.KeysChangedAt, 10)+"-") {
		t.Fatalf("kid %s, keysChangedAt %d", si2.kid, after.KeysChangedAt)
	}
	resp, st2 := getSyncToken(t, ts, h.syncToken(si2.session), si2.kid)
	if resp.Status != http.StatusOK {
		t.Fatalf("tokenserver after the reset: %d %s", resp.Status, resp.Body)
	}
	if st2.UID == st.UID {
		t.Fatalf("the same storage uid %d after new keys", st.UID)
	}
	if r := storageDo(t, ts, h.clock.Now(), st2, "GET", "/storage/bookmarks?full=1", ""); r.Status != http.StatusOK || string(r.Body) != "[]" {
		t.Fatalf("the new storage user: %d %s, want empty", r.Status, r.Body)
	}
	if err := h.db.View(ctx, db.UID(st.UID), func(tx db.Tx) error {
		got, err := tx.FindBSOs("bookmarks", db.Query{Limit: -1})
		if err == nil && len(got.Items) > 0 {
			t.Errorf("%d old records remain", len(got.Items))
		}
		return err
	}); err != nil && !errors.Is(err, db.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := ResetPassword(ctx, h.store, "0123456789abcdef0123456789abcdef", salt, make([]byte, 32), h.clock.Now()); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("reset of an unknown account: %v", err)
	}
}

type countingMetrics struct {
	mu         sync.Mutex
	ok, failed int
}

func (c *countingMetrics) SignIn(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.ok++
	} else {
		c.failed++
	}
}

// TestSignInMetrics: every password sign-in is counted once, as ok or
// failed (wrong password, unknown email, disabled account); requests that
// never tried a password are not sign-ins.
func TestSignInMetrics(t *testing.T) {
	c := &countingMetrics{}
	h := newHarness(t, func(o *Options) { o.Metrics = c })
	uid := h.addAccount("me@example.org", "pw")
	want := func(ok, failed int) {
		t.Helper()
		if c.ok != ok || c.failed != failed {
			t.Fatalf("sign-ins ok %d failed %d, want %d and %d", c.ok, c.failed, ok, failed)
		}
	}
	r, _ := (&pageClient{h: h, email: "me@example.org", password: "pw"}).login()
	wantOK(t, r)
	want(1, 0)
	r, _ = (&pageClient{h: h, email: "me@example.org", password: "wrong"}).login()
	wantErrno(t, r, http.StatusBadRequest, errnoIncorrectPW)
	r, _ = (&pageClient{h: h, email: "nobody@example.org", password: "pw"}).login()
	wantErrno(t, r, http.StatusBadRequest, errnoIncorrectPW)
	want(1, 2)
	wantErrno(t, h.do("POST", "/v1/account/login", map[string]string{"email": "me@example.org"}), http.StatusBadRequest, errnoMissingParameter)
	want(1, 2)
	if err := h.store.SetAccountDisabled(context.Background(), uid, true); err != nil {
		t.Fatal(err)
	}
	r, _ = (&pageClient{h: h, email: "me@example.org", password: "pw"}).login()
	wantErrno(t, r, http.StatusBadRequest, errnoRequestBlocked)
	want(1, 3)
}
