package accounts

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"syncserver/accounts/onepw"
	"syncserver/db"
)

// TestAccountDestroy: the settings page deletes the account with the
// password asked again; a wrong password, another email or no session
// deletes nothing, and a deletion takes every session and the Sync data
// (through the RemoveSyncData hook) along.
func TestAccountDestroy(t *testing.T) {
	var removed []string
	h := newHarness(t, func(o *Options) {
		o.RemoveSyncData = func(_ context.Context, uid string) error {
			removed = append(removed, uid)
			return nil
		}
	})
	uid := h.addAccount("me@example.org", "pw")
	h.addAccount("other@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	si := page.signIn()
	other := page.signIn()
	authPW := hex.EncodeToString(onepw.AuthPW(stretch("pw", page.salt())))

	wantErrno(t, h.do("POST", "/v1/account/destroy", map[string]string{"email": "me@example.org", "authPW": authPW}), 401, errnoInvalidToken)
	wantErrno(t, h.session("POST", "/v1/account/destroy", map[string]string{"email": "me@example.org", "authPW": hex.EncodeToString(make([]byte, 32))}, si.session), 400, errnoIncorrectPW)
	wantErrno(t, h.session("POST", "/v1/account/destroy", map[string]string{"email": "other@example.org", "authPW": authPW}, si.session), 400, errnoIncorrectPW)
	wantErrno(t, h.session("POST", "/v1/account/destroy", map[string]string{"email": "me@example.org"}, si.session), 400, errnoMissingParameter)
	wantErrno(t, h.session("POST", "/v1/account/destroy", map[string]string{"authPW": authPW}, si.session), 400, errnoMissingParameter)
	if len(removed) != 0 {
		t.Fatalf("Sync data removed by a refused request: %v", removed)
	}
	wantOK(t, h.session("GET", "/v1/session/status", nil, si.session))

	// The email as typed: case and spaces do not matter.
	wantOK(t, h.session("POST", "/v1/account/destroy", map[string]string{"email": " Me@Example.org", "authPW": authPW}, si.session))
	if len(removed) != 1 || removed[0] != uid {
		t.Fatalf("RemoveSyncData calls %v, want [%s]", removed, uid)
	}
	if _, err := h.store.AccountByUID(context.Background(), uid); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("account after destroy: %v", err)
	}
	for _, s := range []string{si.session, other.session} {
		wantErrno(t, h.session("GET", "/v1/session/status", nil, s), 401, errnoInvalidToken)
	}
	r, _ := page.login()
	wantErrno(t, r, 400, errnoIncorrectPW)
	if m := wantOK(t, h.do("GET", "/v1/account/status?uid="+uid, nil)); m["exists"] != false {
		t.Fatalf("account/status after destroy %v", m)
	}
	// The other account is untouched.
	(&pageClient{h: h, email: "other@example.org", password: "pw"}).signIn()
}

// TestAccountDestroySyncDataError: when the Sync data cannot be deleted
// the page hears of it (500), rather than a success that left data behind.
func TestAccountDestroySyncDataError(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.RemoveSyncData = func(context.Context, string) error { return errors.New("disk on fire") }
	})
	h.addAccount("me@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	si := page.signIn()
	authPW := hex.EncodeToString(onepw.AuthPW(stretch("pw", page.salt())))
	wantErrno(t, h.session("POST", "/v1/account/destroy", map[string]string{"email": "me@example.org", "authPW": authPW}, si.session), 500, errnoServerError)
}
