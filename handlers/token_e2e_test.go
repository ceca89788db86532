package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestTokenToStorageEndToEnd follows Firefox: an access token from the FxA
// stand-in is traded at the tokenserver for Hawk credentials, which the
// storage endpoints accept; then a password change and a key change.
func TestTokenToStorageEndToEnd(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	tok := wantToken(t, tt.firefox(a))

	r := tt.storage(tok, http.MethodGet, "/info/collections", "")
	wantResponse(t, r, http.StatusOK, "{}")
	r = tt.storage(tok, http.MethodPut, "/storage/bookmarks/abcdef", `{"payload":"hello"}`)
	wantResponse(t, r, http.StatusOK, "-")
	r = tt.storage(tok, http.MethodGet, "/storage/bookmarks/abcdef", "")
	wantResponse(t, r, http.StatusOK, "-")
	if !strings.Contains(string(r.Body), `"payload":"hello"`) {
		t.Fatalf("record read back as %s", r.Body)
	}

	// Password change: a higher generation, the same kB. Same uid, same data.
	a.Generation += 1000
	tt.FxA.SetAccount(a)
	pw := wantToken(t, tt.firefox(a))
	if pw.UID != tok.UID {
		t.Fatalf("password change moved uid %d to %d", tok.UID, pw.UID)
	}
	r = tt.storage(pw, http.MethodGet, "/storage/bookmarks/abcdef", "")
	wantResponse(t, r, http.StatusOK, "-")
	// The token from before the password change is refused.
	old := a
	old.Generation -= 1000
	tt.FxA.SetAccount(old)
	wantTokenError(t, tt.firefox(old), unauthorizedAs("invalid-generation"))
	tt.FxA.SetAccount(a)

	// Key change (password reset): a new kB and a higher keys_changed_at.
	// A new uid with an empty storage.
	reset := a
	reset.KB = []byte(strings.Repeat("r", 32))
	reset.Generation += 1000
	reset.KeysChangedAt = reset.Generation
	tt.FxA.SetAccount(reset)
	kc := wantToken(t, tt.firefox(reset))
	if kc.UID == tok.UID {
		t.Fatal("key change kept the uid")
	}
	wantResponse(t, tt.storage(kc, http.MethodGet, "/info/collections", ""), http.StatusOK, "{}")
	wantResponse(t, tt.storage(kc, http.MethodGet, "/storage/bookmarks/abcdef", ""), http.StatusNotFound, "0")
	// The new credentials do not open the old uid's storage.
	cross := kc
	cross.APIEndpoint = tok.APIEndpoint
	want401(t, tt.storage(cross, http.MethodGet, "/info/collections", ""))

	// A device still holding the old key is refused: its client state is
	// stale, whatever FxA says about the account now.
	stale := reset
	stale.KB, stale.KeysChangedAt = a.KB, a.KeysChangedAt
	tt.FxA.SetAccount(stale)
	wantTokenError(t, tt.firefox(stale), badClientState("stale value"))
	// The old data are still there until purged, for the old uid.
	r = tt.storage(tok, http.MethodGet, "/storage/bookmarks/abcdef", "")
	wantResponse(t, r, http.StatusOK, "-")
}
