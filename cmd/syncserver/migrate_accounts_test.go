package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"syncserver/db"
	"syncserver/db/dbtest"
)

// The built-in accounts' tables in migrate-db: populateAccounts and
// accountsSnapshot join populate and snapshot, so TestMigrateDB checks
// them on every pair of backends.

func accountsOf(t *testing.T, s db.Store) db.AccountsStore {
	t.Helper()
	a, ok := s.(db.AccountsStore)
	if !ok {
		t.Fatalf("%T does not implement db.AccountsStore", s)
	}
	return a
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// populateAccounts writes two accounts with one of everything: tokens of
// both kinds, a code (with and without a session), refresh tokens, devices
// with commands, invites, and two signing keys. Binary columns hold every
// byte value, and one is empty.
func populateAccounts(t *testing.T, s db.Store, clock *dbtest.Clock) {
	t.Helper()
	ctx := context.Background()
	a := accountsOf(t, s)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	now := clock.Now().UnixMilli()
	for i, email := range []string{"me@example.org", "friend@example.org"} {
		uid := fmt.Sprintf("%x", sha(email)[:16])
		sess := sha("session " + email)
		refresh := sha("refresh " + email)
		err := errors.Join(
			a.CreateAccount(ctx, db.Account{UID: uid, Email: email, ClientSalt: "identity.mozilla.com/picl/v1/quickStretchV2:" + uid,
				AuthSalt: allBytes, VerifyHash: sha("vh" + email), WrapWrapKb: sha("wk" + email), KA: sha("ka" + email),
				KeysChangedAt: now - 5000, VerifierSetAt: now, CreatedAt: now - 9000, Disabled: i == 1, Locale: "fr"}),
			a.PutAuthToken(ctx, db.AuthToken{IDHash: sess, Kind: db.TokenSession, UID: uid, HMACKey: sha("hmac" + email),
				CreatedAt: now, LastUsed: now + 1, UserAgent: "Firefox ☃", DeviceID: "dev"}),
			a.PutAuthToken(ctx, db.AuthToken{IDHash: sha("kf " + email), Kind: db.TokenKeyFetch, UID: uid,
				Bundle: strings.Repeat("ab", 96), CreatedAt: now, LastUsed: now, Expires: now + 3_600_000}),
			a.PutOAuthCode(ctx, db.OAuthCode{Hash: sha("code " + email), ClientID: "5882386c6d801776", UID: uid, Scope: "profile",
				Challenge: "ch", KeysJWE: "a..b.c.d", SessionIDHash: sess, AuthAt: now / 1000, Expires: now + 3_600_000}),
			a.PutOAuthCode(ctx, db.OAuthCode{Hash: sha("code2 " + email), UID: uid, Expires: now + 3_600_000}),
			a.PutRefreshToken(ctx, db.RefreshToken{Hash: refresh, ClientID: "a2270f727f45f648", UID: uid, Scope: "profile",
				DeviceID: "d", SessionIDHash: sess, CreatedAt: now, LastUsed: now}),
			a.PutInvite(ctx, db.Invite{Hash: sha("invite " + email), Email: email, CreatedAt: now, Expires: now + 3_600_000}),
		)
		if err != nil {
			t.Fatal(err)
		}
		for j, cred := range [][]byte{sess, refresh} {
			d, err := a.UpsertDevice(ctx, db.Device{ID: fmt.Sprintf("%x", sha(fmt.Sprint(email, j))[:16]), UID: uid, CredentialHash: cred,
				Name: fmt.Sprint("device ", j), Type: "mobile", AvailableCommands: map[string]string{"cmd": `{"x":1}`},
				PushCallback: "https://push.example/", PushPublicKey: "pk", PushAuthKey: "ak", CreatedAt: now + int64(j), LastAccess: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.PushDeviceCommand(ctx, db.DeviceCommand{TargetDeviceID: d.ID, UID: uid, Command: "cmd",
				Payload: `{"encrypted":"…"}`, Sender: "s", Expires: now + 3_600_000}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := errors.Join(a.PutSigningKey(ctx, []byte(`{"kid":"old"}`)), a.PutSigningKey(ctx, []byte(`{"kid":"current"}`))); err != nil {
		t.Fatal(err)
	}
}

// accountsSnapshot prints what the accounts service can read of a store
// without consuming anything (codes and invites are single use: see
// checkAccountsCopy).
func accountsSnapshot(t *testing.T, s db.Store) string {
	t.Helper()
	ctx := context.Background()
	a := accountsOf(t, s)
	var b strings.Builder
	accts, err := a.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, acct := range accts {
		fmt.Fprintf(&b, "account %+v\n", acct)
		for _, name := range []string{"session ", "kf "} {
			tok, err := a.AuthToken(ctx, sha(name+acct.Email))
			fmt.Fprintf(&b, "\ttoken %+v %v\n", tok, err)
		}
		refresh, err := a.RefreshTokens(ctx, acct.UID)
		fmt.Fprintf(&b, "\trefresh %+v %v\n", refresh, err)
		devs, err := a.Devices(ctx, acct.UID)
		fmt.Fprintf(&b, "\tdevices %+v %v\n", devs, err)
		for _, d := range devs {
			cmds, err := a.DeviceCommands(ctx, acct.UID, d.ID, 0, 0)
			fmt.Fprintf(&b, "\tcommands %+v %v\n", cmds, err)
		}
	}
	keys, err := a.SigningKeys(ctx)
	fmt.Fprintf(&b, "keys %q %v\n", keys, err)
	return b.String()
}

// checkAccountsCopy checks what accountsSnapshot cannot: the copied codes
// and invites redeem once, and new signing keys and command indexes go
// past the copied ones.
func checkAccountsCopy(t *testing.T, s db.Store, clock *dbtest.Clock) {
	t.Helper()
	ctx := context.Background()
	a := accountsOf(t, s)
	for _, email := range []string{"me@example.org", "friend@example.org"} {
		code, err := a.TakeOAuthCode(ctx, sha("code "+email))
		if err != nil || code.KeysJWE != "a..b.c.d" || string(code.SessionIDHash) != string(sha("session "+email)) {
			t.Errorf("copied code of %s: %+v, %v", email, code, err)
		}
		if code, err := a.TakeOAuthCode(ctx, sha("code2 "+email)); err != nil || code.SessionIDHash != nil {
			t.Errorf("copied code without a session of %s: %+v, %v", email, code, err)
		}
		if inv, err := a.TakeInvite(ctx, sha("invite "+email), clock.Now().UnixMilli()); err != nil || inv.Email != email {
			t.Errorf("copied invite of %s: %+v, %v", email, inv, err)
		}
		uid := fmt.Sprintf("%x", sha(email)[:16])
		if idx, err := a.PushDeviceCommand(ctx, db.DeviceCommand{TargetDeviceID: "x", UID: uid, Expires: 1}, 0); err != nil || idx != 3 {
			t.Errorf("next command index of %s on the copy = %d, %v; want 3", email, idx, err)
		}
	}
	if err := a.PutSigningKey(ctx, []byte(`{"kid":"new"}`)); err != nil {
		t.Fatalf("a new signing key on the copy: %v", err)
	}
	if keys, err := a.SigningKeys(ctx); err != nil || len(keys) != 3 || string(keys[0]) != `{"kid":"new"}` {
		t.Errorf("signing keys on the copy after a new one: %q, %v", keys, err)
	}
}
