package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncserver/accounts"
	"syncserver/accounts/onepw"
	"syncserver/db"
)

// seedSyncData gives an account a tokenserver record with one bookmark,
// as its first sync would, and returns the record's uid.
func seedSyncData(t *testing.T, m *Main, a db.Account, payload string) db.UID {
	t.Helper()
	ctx := t.Context()
	users := m.Store.Users()
	if err := users.EnsureNode(ctx, db.Service, m.Config.Tokenserver.NodeURL, tokenNodeCapacity); err != nil {
		t.Fatal(err)
	}
	u, err := users.AllocateUser(ctx, db.Service, a.UID+"@127.0.0.1:5000", a.VerifierSetAt, a.KeysChangedAt, "", m.Config.Tokenserver.NodeURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Store.Update(ctx, u.UID, func(tx db.Tx) error {
		return tx.PutBSO("bookmarks", db.BSOUpdate{ID: "b1", Payload: &payload})
	}); err != nil {
		t.Fatal(err)
	}
	return u.UID
}

// bookmarkCount is how many bookmarks the Sync user uid has stored: 0 when
// it has no record left at all.
func bookmarkCount(t *testing.T, m *Main, uid db.UID) int {
	t.Helper()
	n := 0
	if err := m.Store.View(t.Context(), uid, func(tx db.Tx) error {
		got, err := tx.FindBSOs("bookmarks", db.Query{Limit: -1})
		n = len(got.Items)
		return err
	}); err != nil && !errors.Is(err, db.ErrNotFound) {
		t.Fatal(err)
	}
	return n
}

// seedCredentials gives an account a session with a device and a phone's
// refresh token with a device.
func seedCredentials(t *testing.T, as db.AccountsStore, a db.Account) (session db.AuthToken, refresh db.RefreshToken) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UnixMilli()
	session = db.AuthToken{IDHash: onepw.HashID("session of " + a.UID), Kind: db.TokenSession, UID: a.UID, HMACKey: make([]byte, 32),
		CreatedAt: now - 60000, LastUsed: now - 1000, UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"}
	refresh = db.RefreshToken{Hash: onepw.HashID("refresh token of " + a.UID), ClientID: "a2270f727f45f648", UID: a.UID,
		Scope: onepw.ScopeProfile + " " + onepw.ScopeOldSync, CreatedAt: now - 30000, LastUsed: now - 2000}
	if err := as.PutAuthToken(ctx, session); err != nil {
		t.Fatal(err)
	}
	if err := as.PutRefreshToken(ctx, refresh); err != nil {
		t.Fatal(err)
	}
	for _, d := range []db.Device{
		{ID: a.UID[:16] + strings.Repeat("d1", 8), UID: a.UID, CredentialHash: session.IDHash, Name: "Laptop", Type: "desktop", CreatedAt: now - 60000, LastAccess: now - 60000},
		{ID: a.UID[:16] + strings.Repeat("d2", 8), UID: a.UID, CredentialHash: refresh.Hash, Name: "Phone", Type: "mobile", CreatedAt: now - 30000, LastAccess: now - 30000},
	} {
		if _, err := as.UpsertDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return session, refresh
}

// TestAccountsResetPassword: the new password comes from a file (or
// stdin, or the terminal), never the command line; the account then
// opens with what the page derives from it, its keys are new, every
// credential is revoked, and its old Sync data is gone, which the command
// says.
func TestAccountsResetPassword(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	as, m := openAccountsStore(t, cfg)
	ctx := t.Context()
	a := seedAccount(t, as, "me@example.org")
	other := seedAccount(t, as, "other@example.org")
	syncUID := seedSyncData(t, m, a, "old bookmark")
	otherUID := seedSyncData(t, m, other, "other bookmark")
	session, refresh := seedCredentials(t, as, a)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("the new password\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// No --yes and no terminal to ask on: nothing changes, but the
	// operator is told what the command would do.
	status, out, errOut := runCmd(t, ctx, cfg, nil, "accounts", "reset-password", "me@example.org", "--password-file", pwFile)
	if status != exitFail || !strings.Contains(errOut, "add --yes") || !strings.Contains(errOut, "nobody could read") {
		t.Fatalf("reset without --yes: exit %d\n%s%s", status, out, errOut)
	}
	if got, _ := as.AccountByUID(ctx, a.UID); got.ClientSalt != a.ClientSalt {
		t.Fatal("the password changed without --yes")
	}
	// The password is never an argument.
	status, _, errOut = runCmd(t, ctx, cfg, nil, "accounts", "reset-password", "me@example.org", "--password", "the new password", "--yes")
	if status != exitUsage {
		t.Fatalf("--password accepted: exit %d\n%s", status, errOut)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("short\n"), 0o600)
	status, _, errOut = runCmd(t, ctx, cfg, nil, "accounts", "reset-password", "me@example.org", "--password-file", short, "--yes")
	if status != exitFail || !strings.Contains(errOut, "too short") {
		t.Fatalf("short password: exit %d\n%s", status, errOut)
	}

	status, out, errOut = runCmd(t, ctx, cfg, nil, "accounts", "reset-password", "me@example.org", "--password-file", pwFile, "--yes", "--json")
	var res struct {
		Email, UID    string
		Reset         bool
		SyncUser      string   `json:"sync_user"`
		KeysChangedAt string   `json:"keys_changed_at"`
		DeletedUIDs   []db.UID `json:"deleted_uids"`
		Records       int64
	}
	if err := json.Unmarshal([]byte(out), &res); status != 0 || err != nil {
		t.Fatalf("reset --json: exit %d, %v\n%s%s", status, err, out, errOut)
	}
	if res.Email != a.Email || !res.Reset || len(res.DeletedUIDs) != 1 || res.DeletedUIDs[0] != syncUID || res.Records != 1 {
		t.Errorf("reset --json: %+v", res)
	}
	b, err := as.AccountByUID(ctx, a.UID)
	if err != nil {
		t.Fatal(err)
	}
	if b.ClientSalt == a.ClientSalt || b.KeysChangedAt <= a.KeysChangedAt || b.VerifierSetAt != b.KeysChangedAt {
		t.Errorf("after the reset: salt %s (was %s), keysChangedAt %d (was %d), verifierSetAt %d",
			b.ClientSalt, a.ClientSalt, b.KeysChangedAt, a.KeysChangedAt, b.VerifierSetAt)
	}
	// What the page derives from the new password opens the account.
	v := onepw.Verifier{AuthSalt: b.AuthSalt, VerifyHash: b.VerifyHash, WrapWrapKb: b.WrapWrapKb}
	if _, ok := v.Unwrap(pageAuthPW(b, "the new password")); !ok {
		t.Error("the page's authPW for the new password does not open the account")
	}
	if _, err := as.AuthToken(ctx, session.IDHash); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("session after the reset: %v", err)
	}
	if _, err := as.RefreshToken(ctx, refresh.Hash); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("refresh token after the reset: %v", err)
	}
	if devs, _ := as.Devices(ctx, a.UID); len(devs) != 0 {
		t.Errorf("devices after the reset: %+v", devs)
	}
	if n := bookmarkCount(t, m, syncUID); n > 0 {
		t.Errorf("%d old bookmarks remain", n)
	}
	if n := bookmarkCount(t, m, otherUID); n != 1 {
		t.Errorf("the other account has %d bookmarks, want 1", n)
	}

	// Text output, the password from standard input this time.
	status, out, errOut = runCmd(t, ctx, cfg, pipeInput(t, "yet another password\n"), "accounts", "reset-password", a.UID, "--yes")
	if status != 0 || !strings.Contains(out, "Reset the password of me@example.org.") || !strings.Contains(out, resetExplanation) ||
		!strings.Contains(out, "Deleted its old Sync data: 0 records") {
		t.Errorf("reset: exit %d\n%s%s", status, out, errOut)
	}
	if strings.Contains(out+errOut, "another password") {
		t.Error("the output shows the password")
	}
}

// TestAccountsShow: the admin view lists the account's devices (with the
// credential each hangs on), sessions, phones' refresh tokens, last
// sign-in and storage, and nothing of another account.
func TestAccountsShow(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	as, m := openAccountsStore(t, cfg)
	ctx := t.Context()
	a := seedAccount(t, as, "me@example.org")
	other := seedAccount(t, as, "other@example.org")
	seedCredentials(t, as, other)

	// Never signed in, never synced.
	status, out, errOut := runCmd(t, ctx, cfg, nil, "accounts", "show", "me@example.org")
	if status != 0 || !strings.Contains(out, "Devices (0)") || !strings.Contains(out, "Sessions (0)") ||
		!strings.Contains(out, "No Sync data") || !strings.Contains(out, "none of its sessions is left") {
		t.Fatalf("show of a fresh account: exit %d\n%s%s", status, out, errOut)
	}

	session, refresh := seedCredentials(t, as, a)
	syncUID := seedSyncData(t, m, a, "a bookmark of 26 bytes....")
	status, out, errOut = runCmd(t, ctx, cfg, nil, "accounts", "show", a.UID, "--json")
	var got showAccountJSON
	if err := json.Unmarshal([]byte(out), &got); status != 0 || err != nil {
		t.Fatalf("show --json: exit %d, %v\n%s%s", status, err, out, errOut)
	}
	if got.Email != a.Email || got.UID != a.UID || got.SyncUser != a.UID+"@127.0.0.1:5000" {
		t.Errorf("account %+v", got.accountJSONOut)
	}
	if len(got.Devices) != 2 || got.Devices[0].Name != "Laptop" || got.Devices[0].Via != "session" ||
		got.Devices[1].Name != "Phone" || got.Devices[1].Via != "Firefox for Android" || got.Devices[1].Type != "mobile" {
		t.Errorf("devices %+v", got.Devices)
	}
	if *got.Devices[0].LastSeen != *jsonTime(session.LastUsed) {
		t.Errorf("laptop last seen %s, its session was used at %s", *got.Devices[0].LastSeen, *jsonTime(session.LastUsed))
	}
	if len(got.Sessions) != 1 || got.Sessions[0].UserAgent != session.UserAgent || got.Sessions[0].Device == nil || *got.Sessions[0].Device != "Laptop" {
		t.Errorf("sessions %+v", got.Sessions)
	}
	if len(got.OAuthClients) != 1 || got.OAuthClients[0].ClientID != refresh.ClientID || len(got.OAuthClients[0].Scope) != 2 {
		t.Errorf("OAuth clients %+v", got.OAuthClients)
	}
	// The newest sign-in is the phone's refresh token; the last use the
	// session's.
	if got.LastSignIn == nil || *got.LastSignIn != *jsonTime(refresh.CreatedAt) || got.LastSeen == nil || *got.LastSeen != *jsonTime(session.LastUsed) {
		t.Errorf("last sign-in %v, last seen %v", deref(got.LastSignIn, "nil"), deref(got.LastSeen, "nil"))
	}
	if len(got.Storage) != 1 || got.Storage[0].UID != syncUID || got.Storage[0].Records != 1 || got.Records != 1 || got.StorageBytes != 26 {
		t.Errorf("storage %+v, %d records, %d bytes", got.Storage, got.Records, got.StorageBytes)
	}

	status, out, errOut = runCmd(t, ctx, cfg, nil, "accounts", "show", "me@example.org")
	for _, want := range []string{"Devices (2):", "Laptop", "Phone", "Firefox for Android", "Sessions (1):", "Firefox/153.0",
		"OAuth clients (1;", "1 live records, 26 B", "Sync data (syncserver users show"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if status, _, errOut := runCmd(t, ctx, cfg, nil, "accounts", "show", "nobody@example.org"); status != exitFail || !strings.Contains(errOut, "no account") {
		t.Errorf("show of an unknown account: exit %d %s", status, errOut)
	}
}

// TestAccountsMetrics: the metrics count password sign-ins by result, and
// the accounts' live sessions with the other totals.
func TestAccountsMetrics(t *testing.T) {
	port := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf("[syncserver]\npublic_url = \"http://127.0.0.1:%d/\"\nsqluri = \"sqlite:///syncserver.db\"\n"+
		"metrics_listen = \"127.0.0.1:0\"\n\n[accounts]\nenabled = true\n", port))
	// Two sessions of an account before the server starts: the gauge
	// reads them at start.
	as, m := openAccountsStore(t, cfg)
	salt := onepw.NewClientSalt()
	authPW := onepw.AuthPW(onepw.QuickStretchV2(testPassword, salt))
	a, err := accounts.CreateAccount(t.Context(), as, "me@example.org", salt, authPW, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seedCredentials(t, as, a)
	if err := as.PutAuthToken(t.Context(), db.AuthToken{IDHash: onepw.HashID("second"), Kind: db.TokenSession, UID: a.UID,
		HMACKey: make([]byte, 32), CreatedAt: 1, LastUsed: 1}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	srv, logs := newTestMain(t, "-config", cfg, "-http", fmt.Sprintf("127.0.0.1:%d", port))
	runMain(t, srv, logs)
	addr := srv.MetricsAddr().String()
	eventually(t, 10*time.Second, "active sessions not counted", func() bool {
		return sample(scrape(t, addr), "syncserver_accounts_active_sessions") == 2
	})
	before := scrape(t, addr)
	login := func(pw []byte) int {
		return send(t, port, fmt.Sprintf("127.0.0.1:%d", port), "POST", "/v1/account/login",
			fmt.Sprintf(`{"email":"me@example.org","authPW":"%x"}`, pw)).status
	}
	wrong := bytes.Clone(authPW)
	wrong[0] ^= 1
	if s := login(authPW); s != http.StatusOK {
		t.Fatalf("login: %d", s)
	}
	for range 2 {
		if s := login(wrong); s != http.StatusBadRequest {
			t.Fatalf("wrong password: %d", s)
		}
	}
	after := scrape(t, addr)
	for result, want := range map[string]float64{"ok": 1, "failed": 2} {
		label := `result="` + result + `"`
		if got := sample(after, "syncserver_accounts_sign_ins_total", label) - sample(before, "syncserver_accounts_sign_ins_total", label); got != want {
			t.Errorf("sign-ins %s moved by %v, want %v", result, got, want)
		}
	}
}

// TestAccountsResetPasswordOnTerminal: on a terminal the command explains
// the cost, asks before it does anything, then asks for the new password
// twice without echo.
func TestAccountsResetPasswordOnTerminal(t *testing.T) {
	cfg := writeConfig(t, accountsConfig)
	as, _ := openAccountsStore(t, cfg)
	a := seedAccount(t, as, "tty@example.org")
	master, slave := openPTY(t)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		m := NewMain()
		m.Stdin, m.Stdout, m.Stderr = slave, stdout, stderr
		m.Getenv = func(string) string { return "" }
		if err := m.ParseFlags(t.Context(), []string{"-config", cfg, "accounts", "reset-password", "tty@example.org"}); err != nil {
			done <- -1
			return
		}
		done <- m.Main(t.Context())
	}()
	steps := []struct{ prompt, typed string }{
		{"and delete its Sync data? [y/N] ", "y"},
		{"Password for tty@example.org: ", testPassword},
		{"The same password again: ", testPassword},
	}
	for i, s := range steps {
		eventually(t, 30*time.Second, "no prompt "+s.prompt, func() bool {
			return strings.Contains(stderr.String(), s.prompt) && (i == 0 || !echoOn(t, slave))
		})
		if _, err := master.WriteString(s.typed + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case status := <-done:
		if status != 0 || !strings.Contains(stderr.String(), resetExplanation) || !strings.Contains(stdout.String(), "Reset the password of tty@example.org.") {
			t.Fatalf("exit %d\n%s%s", status, stdout, stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("accounts reset-password did not finish")
	}
	b, _ := as.AccountByUID(t.Context(), a.UID)
	v := onepw.Verifier{AuthSalt: b.AuthSalt, VerifyHash: b.VerifyHash, WrapWrapKb: b.WrapWrapKb}
	if _, ok := v.Unwrap(pageAuthPW(b, testPassword)); !ok {
		t.Error("the typed password does not open the account")
	}
}
