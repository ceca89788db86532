package dbtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"syncserver/db"
)

// The built-in accounts' store (db.AccountsStore): accounts, tokens,
// codes, refresh tokens, devices, commands, invites, signing keys.

func (e *env) accounts() db.AccountsStore {
	e.t.Helper()
	a, ok := e.s.(db.AccountsStore)
	if !ok {
		e.t.Fatalf("%T does not implement db.AccountsStore", e.s)
	}
	return a
}

// ms is the clock in epoch milliseconds.
func (e *env) ms() int64 { return e.clock.Now().UnixMilli() }

// secretHash is a stand-in for the SHA-256 of a secret a client presents.
func secretHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// uidOf is a 32-hex uid made from a name.
func uidOf(name string) string { return fmt.Sprintf("%x", secretHash(name)[:16]) }

// newAccount creates an account with distinct key material.
func (e *env) newAccount(name, email string) db.Account {
	e.t.Helper()
	a := db.Account{
		UID: uidOf(name), Email: email, ClientSalt: "salt-" + name,
		AuthSalt: secretHash("authSalt" + name), VerifyHash: secretHash("verifyHash" + name), WrapWrapKb: secretHash("wwkb" + name),
		KA: secretHash("kA" + name), KeysChangedAt: e.ms() - 1000, VerifierSetAt: e.ms(), CreatedAt: e.ms(), Locale: "en-GB",
	}
	if err := e.accounts().CreateAccount(e.ctx, a); err != nil {
		e.t.Fatalf("CreateAccount(%s): %v", email, err)
	}
	a.Email = db.NormaliseEmail(email)
	return a
}

func sameAccount(a, b db.Account) bool {
	return a.UID == b.UID && a.Email == b.Email && a.ClientSalt == b.ClientSalt && bytes.Equal(a.AuthSalt, b.AuthSalt) &&
		bytes.Equal(a.VerifyHash, b.VerifyHash) && bytes.Equal(a.WrapWrapKb, b.WrapWrapKb) && bytes.Equal(a.KA, b.KA) &&
		a.KeysChangedAt == b.KeysChangedAt && a.VerifierSetAt == b.VerifierSetAt && a.CreatedAt == b.CreatedAt &&
		a.Disabled == b.Disabled && a.Locale == b.Locale
}

func testAccountsCreateFind(t *testing.T, e *env) {
	s := e.accounts()
	if _, err := s.AccountByEmail(e.ctx, "me@example.org"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("AccountByEmail on an empty store: %v, want ErrNotFound", err)
	}
	me := e.newAccount("me", "  Me@Example.ORG ")
	if me.Email != "me@example.org" {
		t.Fatalf("normalised email %q", me.Email)
	}
	for _, lookup := range []string{"me@example.org", "ME@example.org", " me@EXAMPLE.org\t"} {
		got, err := s.AccountByEmail(e.ctx, lookup)
		if err != nil || !sameAccount(got, me) {
			t.Fatalf("AccountByEmail(%q) = %+v, %v; want %+v", lookup, got, err, me)
		}
	}
	got, err := s.AccountByUID(e.ctx, me.UID)
	if err != nil || !sameAccount(got, me) {
		t.Fatalf("AccountByUID = %+v, %v; want %+v", got, err, me)
	}
	_, err = s.AccountByUID(e.ctx, uidOf("nobody"))
	wantErr(t, "AccountByUID(unknown)", err, db.ErrNotFound)

	dup := me
	dup.UID, dup.Email = uidOf("other"), "ME@example.org"
	wantErr(t, "CreateAccount(same email, other case)", s.CreateAccount(e.ctx, dup), db.ErrExists)
	dup.UID, dup.Email = me.UID, "other@example.org"
	wantErr(t, "CreateAccount(same uid)", s.CreateAccount(e.ctx, dup), db.ErrExists)
	if err := s.CreateAccount(e.ctx, db.Account{UID: uidOf("x"), Email: "  "}); err == nil {
		t.Fatal("CreateAccount without an email succeeded")
	}

	alice := e.newAccount("alice", "alice@example.org")
	list, err := s.ListAccounts(e.ctx)
	if err != nil || len(list) != 2 || !sameAccount(list[0], alice) || !sameAccount(list[1], me) {
		t.Fatalf("ListAccounts = %+v, %v; want alice then me", list, err)
	}
}

func testAccountsUpdate(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	other := e.newAccount("other", "other@example.org")
	for _, disabled := range []bool{true, true, false, false} { // repeats change nothing, and are no error
		if err := s.SetAccountDisabled(e.ctx, me.UID, disabled); err != nil {
			t.Fatalf("SetAccountDisabled(%v): %v", disabled, err)
		}
		if got, _ := s.AccountByUID(e.ctx, me.UID); got.Disabled != disabled {
			t.Fatalf("Disabled = %v after setting %v", got.Disabled, disabled)
		}
	}
	wantErr(t, "SetAccountDisabled(unknown)", s.SetAccountDisabled(e.ctx, uidOf("nobody"), true), db.ErrNotFound)

	// A password change keeps keysChangedAt when given 0.
	err := s.UpdateAccountPassword(e.ctx, me.UID, "salt2", secretHash("as2"), secretHash("vh2"), secretHash("wk2"), me.VerifierSetAt+5, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := me
	want.ClientSalt, want.AuthSalt, want.VerifyHash, want.WrapWrapKb, want.VerifierSetAt = "salt2", secretHash("as2"), secretHash("vh2"), secretHash("wk2"), me.VerifierSetAt+5
	if got, _ := s.AccountByUID(e.ctx, me.UID); !sameAccount(got, want) {
		t.Fatalf("after UpdateAccountPassword: %+v, want %+v", got, want)
	}
	// The same again is no error (MySQL reports no changed row).
	if err := s.UpdateAccountPassword(e.ctx, me.UID, "salt2", secretHash("as2"), secretHash("vh2"), secretHash("wk2"), me.VerifierSetAt+5, 0); err != nil {
		t.Fatalf("repeated UpdateAccountPassword: %v", err)
	}
	// A reset sets both.
	if err := s.UpdateAccountPassword(e.ctx, me.UID, "salt3", secretHash("as3"), secretHash("vh3"), secretHash("wk3"), 7777, 7777); err != nil {
		t.Fatal(err)
	}
	want.ClientSalt, want.AuthSalt, want.VerifyHash, want.WrapWrapKb, want.VerifierSetAt, want.KeysChangedAt = "salt3", secretHash("as3"), secretHash("vh3"), secretHash("wk3"), 7777, 7777
	if got, _ := s.AccountByUID(e.ctx, me.UID); !sameAccount(got, want) {
		t.Fatalf("after a reset: %+v, want %+v", got, want)
	}
	if got, _ := s.AccountByUID(e.ctx, other.UID); !sameAccount(got, other) {
		t.Fatalf("another account changed: %+v", got)
	}
	wantErr(t, "UpdateAccountPassword(unknown)",
		s.UpdateAccountPassword(e.ctx, uidOf("nobody"), "s", nil, nil, nil, 1, 1), db.ErrNotFound)
}

func sameToken(a, b db.AuthToken) bool {
	return bytes.Equal(a.IDHash, b.IDHash) && a.Kind == b.Kind && a.UID == b.UID && bytes.Equal(a.HMACKey, b.HMACKey) &&
		a.Bundle == b.Bundle && a.CreatedAt == b.CreatedAt && a.LastUsed == b.LastUsed && a.Expires == b.Expires &&
		a.UserAgent == b.UserAgent && a.DeviceID == b.DeviceID
}

func (e *env) session(uid, name string) db.AuthToken {
	e.t.Helper()
	tok := db.AuthToken{IDHash: secretHash("session " + name), Kind: db.TokenSession, UID: uid, HMACKey: secretHash("hmac " + name),
		CreatedAt: e.ms(), LastUsed: e.ms(), UserAgent: "Firefox/153.0 " + name}
	if err := e.accounts().PutAuthToken(e.ctx, tok); err != nil {
		e.t.Fatalf("PutAuthToken(%s): %v", name, err)
	}
	return tok
}

func testAccountsAuthTokens(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	sess := e.session(me.UID, "a")
	got, err := s.AuthToken(e.ctx, sess.IDHash)
	if err != nil || !sameToken(got, sess) {
		t.Fatalf("AuthToken = %+v, %v; want %+v", got, err, sess)
	}
	wantErr(t, "PutAuthToken(same id)", s.PutAuthToken(e.ctx, sess), db.ErrExists)
	_, err = s.AuthToken(e.ctx, secretHash("unknown"))
	wantErr(t, "AuthToken(unknown)", err, db.ErrNotFound)

	for range 2 { // the same time twice is no error
		if err := s.TouchAuthToken(e.ctx, sess.IDHash, e.ms()+500); err != nil {
			t.Fatalf("TouchAuthToken: %v", err)
		}
	}
	if got, _ := s.AuthToken(e.ctx, sess.IDHash); got.LastUsed != e.ms()+500 {
		t.Fatalf("LastUsed = %d, want %d", got.LastUsed, e.ms()+500)
	}
	wantErr(t, "TouchAuthToken(unknown)", s.TouchAuthToken(e.ctx, secretHash("unknown"), 1), db.ErrNotFound)

	kf := db.AuthToken{IDHash: secretHash("kf"), Kind: db.TokenKeyFetch, UID: me.UID, HMACKey: secretHash("kf hmac"),
		Bundle: fmt.Sprintf("%x", bytes.Repeat([]byte{0xab}, 96)), CreatedAt: e.ms(), LastUsed: e.ms(), Expires: e.ms() + 300_000}
	if err := s.PutAuthToken(e.ctx, kf); err != nil {
		t.Fatal(err)
	}
	got, err = s.TakeAuthToken(e.ctx, kf.IDHash)
	if err != nil || !sameToken(got, kf) {
		t.Fatalf("TakeAuthToken = %+v, %v; want %+v", got, err, kf)
	}
	_, err = s.TakeAuthToken(e.ctx, kf.IDHash)
	wantErr(t, "second TakeAuthToken", err, db.ErrNotFound)
	_, err = s.AuthToken(e.ctx, kf.IDHash)
	wantErr(t, "AuthToken after Take", err, db.ErrNotFound)

	// Expiry: found until it passes.
	kf2 := kf
	kf2.IDHash = secretHash("kf2")
	if err := s.PutAuthToken(e.ctx, kf2); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(299 * time.Second)
	if _, err := s.AuthToken(e.ctx, kf2.IDHash); err != nil {
		t.Fatalf("AuthToken before expiry: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err = s.AuthToken(e.ctx, kf2.IDHash)
	wantErr(t, "AuthToken at expiry", err, db.ErrNotFound)
	_, err = s.TakeAuthToken(e.ctx, kf2.IDHash)
	wantErr(t, "TakeAuthToken of an expired token", err, db.ErrNotFound)
	// A session never expires.
	e.clock.Advance(1000 * time.Hour)
	if _, err := s.AuthToken(e.ctx, sess.IDHash); err != nil {
		t.Fatalf("session after 1000 h: %v", err)
	}

	if err := s.DeleteAuthToken(e.ctx, sess.IDHash); err != nil {
		t.Fatal(err)
	}
	_, err = s.AuthToken(e.ctx, sess.IDHash)
	wantErr(t, "AuthToken after DeleteAuthToken", err, db.ErrNotFound)
	wantErr(t, "DeleteAuthToken again", s.DeleteAuthToken(e.ctx, sess.IDHash), db.ErrNotFound)
}

func testAccountsOAuthCodes(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	sess := e.session(me.UID, "a")
	c := db.OAuthCode{Hash: secretHash("code"), ClientID: "5882386c6d801776", UID: me.UID,
		Scope: "profile https://identity.mozilla.com/apps/oldsync", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		KeysJWE: "eyJhbGciOiJFQ0RILUVTIn0..aXY.Y3Q.dGFn", SessionIDHash: sess.IDHash, AuthAt: e.ms() / 1000, Expires: e.ms() + 600_000}
	if err := s.PutOAuthCode(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "PutOAuthCode(same hash)", s.PutOAuthCode(e.ctx, c), db.ErrExists)
	got, err := s.TakeOAuthCode(e.ctx, c.Hash)
	if err != nil || !bytes.Equal(got.Hash, c.Hash) || got.ClientID != c.ClientID || got.UID != c.UID || got.Scope != c.Scope ||
		got.Challenge != c.Challenge || got.KeysJWE != c.KeysJWE || !bytes.Equal(got.SessionIDHash, c.SessionIDHash) ||
		got.AuthAt != c.AuthAt || got.Expires != c.Expires {
		t.Fatalf("TakeOAuthCode = %+v, %v; want %+v", got, err, c)
	}
	_, err = s.TakeOAuthCode(e.ctx, c.Hash)
	wantErr(t, "second TakeOAuthCode", err, db.ErrNotFound)

	// Without a session; expired.
	c2 := c
	c2.Hash, c2.SessionIDHash = secretHash("code2"), nil
	if err := s.PutOAuthCode(e.ctx, c2); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	_, err = s.TakeOAuthCode(e.ctx, c2.Hash)
	wantErr(t, "TakeOAuthCode of an expired code", err, db.ErrNotFound)
	c3 := c2
	c3.Hash, c3.Expires = secretHash("code3"), e.ms()+1000
	if err := s.PutOAuthCode(e.ctx, c3); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TakeOAuthCode(e.ctx, c3.Hash); err != nil || got.SessionIDHash != nil {
		t.Fatalf("TakeOAuthCode without a session = %+v, %v; want a nil SessionIDHash", got, err)
	}
}

func sameRefresh(a, b db.RefreshToken) bool {
	return bytes.Equal(a.Hash, b.Hash) && a.ClientID == b.ClientID && a.UID == b.UID && a.Scope == b.Scope &&
		a.DeviceID == b.DeviceID && bytes.Equal(a.SessionIDHash, b.SessionIDHash) && a.CreatedAt == b.CreatedAt && a.LastUsed == b.LastUsed
}

func (e *env) refresh(uid, name string, session []byte) db.RefreshToken {
	e.t.Helper()
	r := db.RefreshToken{Hash: secretHash("refresh " + name), ClientID: "a2270f727f45f648", UID: uid,
		Scope: "https://identity.mozilla.com/apps/oldsync", SessionIDHash: session, CreatedAt: e.ms(), LastUsed: e.ms()}
	if err := e.accounts().PutRefreshToken(e.ctx, r); err != nil {
		e.t.Fatalf("PutRefreshToken(%s): %v", name, err)
	}
	e.clock.Advance(time.Millisecond)
	return r
}

func testAccountsRefreshTokens(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	other := e.newAccount("other", "other@example.org")
	r1 := e.refresh(me.UID, "1", nil)
	r2 := e.refresh(me.UID, "2", secretHash("some session"))
	e.refresh(other.UID, "3", nil)
	got, err := s.RefreshToken(e.ctx, r2.Hash)
	if err != nil || !sameRefresh(got, r2) {
		t.Fatalf("RefreshToken = %+v, %v; want %+v", got, err, r2)
	}
	wantErr(t, "PutRefreshToken(same hash)", s.PutRefreshToken(e.ctx, r1), db.ErrExists)
	_, err = s.RefreshToken(e.ctx, secretHash("unknown"))
	wantErr(t, "RefreshToken(unknown)", err, db.ErrNotFound)
	for range 2 {
		if err := s.TouchRefreshToken(e.ctx, r1.Hash, e.ms()+99); err != nil {
			t.Fatalf("TouchRefreshToken: %v", err)
		}
	}
	r1.LastUsed = e.ms() + 99
	wantErr(t, "TouchRefreshToken(unknown)", s.TouchRefreshToken(e.ctx, secretHash("unknown"), 1), db.ErrNotFound)
	list, err := s.RefreshTokens(e.ctx, me.UID)
	if err != nil || len(list) != 2 || !sameRefresh(list[0], r1) || !sameRefresh(list[1], r2) {
		t.Fatalf("RefreshTokens = %+v, %v; want r1, r2", list, err)
	}
	dev := e.device(me.UID, "phone", r1.Hash)
	if err := s.DeleteRefreshToken(e.ctx, r1.Hash); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteRefreshToken again", s.DeleteRefreshToken(e.ctx, r1.Hash), db.ErrNotFound)
	if ids := e.deviceIDs(me.UID); slices.Contains(ids, dev.ID) {
		t.Fatalf("the refresh token's device survived it: %v", ids)
	}
	if list, _ := s.RefreshTokens(e.ctx, me.UID); len(list) != 1 || !sameRefresh(list[0], r2) {
		t.Fatalf("RefreshTokens after delete = %+v", list)
	}
}

// device registers a device for a credential.
func (e *env) device(uid, name string, credential []byte) db.Device {
	e.t.Helper()
	d, err := e.accounts().UpsertDevice(e.ctx, db.Device{ID: uidOf("device " + name), UID: uid, CredentialHash: credential,
		Name: name, Type: "desktop", CreatedAt: e.ms(), LastAccess: e.ms()})
	if err != nil {
		e.t.Fatalf("UpsertDevice(%s): %v", name, err)
	}
	e.clock.Advance(time.Millisecond)
	return d
}

func (e *env) deviceIDs(uid string) []string {
	e.t.Helper()
	devs, err := e.accounts().Devices(e.ctx, uid)
	if err != nil {
		e.t.Fatalf("Devices: %v", err)
	}
	var ids []string
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	return ids
}

func sameDevice(a, b db.Device) bool {
	return a.ID == b.ID && a.UID == b.UID && bytes.Equal(a.CredentialHash, b.CredentialHash) && a.Name == b.Name &&
		a.Type == b.Type && maps.Equal(a.AvailableCommands, b.AvailableCommands) && a.PushCallback == b.PushCallback &&
		a.PushPublicKey == b.PushPublicKey && a.PushAuthKey == b.PushAuthKey && a.CreatedAt == b.CreatedAt && a.LastAccess == b.LastAccess
}

func testAccountsDevices(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	other := e.newAccount("other", "other@example.org")
	sess := e.session(me.UID, "a")
	d := db.Device{ID: uidOf("laptop"), UID: me.UID, CredentialHash: sess.IDHash, Name: "Laptop", Type: "desktop",
		AvailableCommands: map[string]string{"https://identity.mozilla.com/cmd/open-uri": `{"kid":"x","ciphertext":"y"}`},
		PushCallback:      "https://push.example/x", PushPublicKey: "BPub", PushAuthKey: "auth", CreatedAt: e.ms(), LastAccess: e.ms()}
	got, err := s.UpsertDevice(e.ctx, d)
	if err != nil || !sameDevice(got, d) {
		t.Fatalf("UpsertDevice(new) = %+v, %v; want %+v", got, err, d)
	}
	// Again for the same credential, with another id (a second
	// registration): the same device, updated.
	e.clock.Advance(time.Second)
	upd := d
	upd.ID, upd.Name, upd.AvailableCommands, upd.PushCallback, upd.CreatedAt, upd.LastAccess = uidOf("other id"), "Renamed", nil, "", e.ms(), e.ms()
	got, err = s.UpsertDevice(e.ctx, upd)
	want := upd
	want.ID, want.CreatedAt, want.AvailableCommands = d.ID, d.CreatedAt, map[string]string{}
	if err != nil || !sameDevice(got, want) || got.AvailableCommands == nil {
		t.Fatalf("UpsertDevice(same credential) = %+v, %v; want %+v", got, err, want)
	}
	if ids := e.deviceIDs(me.UID); !slices.Equal(ids, []string{d.ID}) {
		t.Fatalf("devices %v, want one: %s", ids, d.ID)
	}
	// The device's id with a new credential (its client signed in again):
	// the device moves to the new credential.
	sess2 := e.session(me.UID, "b")
	moved := want
	moved.CredentialHash, moved.Name = sess2.IDHash, "Moved"
	got, err = s.UpsertDevice(e.ctx, moved)
	if err != nil || !sameDevice(got, moved) {
		t.Fatalf("UpsertDevice(known id, new credential) = %+v, %v; want %+v", got, err, moved)
	}
	// Another device; the credential of another account's device.
	phone := e.device(me.UID, "phone", secretHash("refresh phone"))
	_, err = s.UpsertDevice(e.ctx, db.Device{ID: uidOf("x"), UID: other.UID, CredentialHash: phone.CredentialHash})
	wantErr(t, "UpsertDevice(another account's credential)", err, db.ErrExists)
	if _, err := s.UpsertDevice(e.ctx, db.Device{UID: me.UID, CredentialHash: secretHash("new")}); err == nil {
		t.Fatal("UpsertDevice of a new device without an id succeeded")
	}
	if _, err := s.UpsertDevice(e.ctx, db.Device{ID: "x", UID: me.UID}); err == nil {
		t.Fatal("UpsertDevice without a credential succeeded")
	}
	devs, err := s.Devices(e.ctx, me.UID)
	if err != nil || len(devs) != 2 || !sameDevice(devs[0], moved) || !sameDevice(devs[1], phone) {
		t.Fatalf("Devices = %+v, %v; want laptop, phone", devs, err)
	}
	if devs, _ := s.Devices(e.ctx, other.UID); len(devs) != 0 {
		t.Fatalf("another account's devices: %+v", devs)
	}

	// Deleting a device takes its commands, not others'.
	if _, err := s.PushDeviceCommand(e.ctx, db.DeviceCommand{TargetDeviceID: phone.ID, UID: me.UID, Command: "c", Expires: e.ms() + 1e6}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushDeviceCommand(e.ctx, db.DeviceCommand{TargetDeviceID: d.ID, UID: me.UID, Command: "c", Expires: e.ms() + 1e6}, 0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteDevice(another account's)", s.DeleteDevice(e.ctx, other.UID, phone.ID), db.ErrNotFound)
	if err := s.DeleteDevice(e.ctx, me.UID, phone.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteDevice again", s.DeleteDevice(e.ctx, me.UID, phone.ID), db.ErrNotFound)
	if ids := e.deviceIDs(me.UID); !slices.Equal(ids, []string{d.ID}) {
		t.Fatalf("devices after delete %v", ids)
	}
	if n := e.commandCount(me.UID, phone.ID); n != 0 {
		t.Fatalf("%d commands of the deleted device left", n)
	}
	if n := e.commandCount(me.UID, d.ID); n != 1 {
		t.Fatalf("%d commands of the kept device, want 1", n)
	}
}

func (e *env) commandCount(uid, device string) int {
	e.t.Helper()
	cmds, err := e.accounts().DeviceCommands(e.ctx, uid, device, 0, 0)
	if err != nil {
		e.t.Fatalf("DeviceCommands: %v", err)
	}
	return len(cmds)
}

func testAccountsDeviceCommands(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	other := e.newAccount("other", "other@example.org")
	push := func(uid, target, payload string, ttl time.Duration) int64 {
		t.Helper()
		idx, err := s.PushDeviceCommand(e.ctx, db.DeviceCommand{TargetDeviceID: target, UID: uid,
			Command: "https://identity.mozilla.com/cmd/open-uri", Payload: payload, Sender: "sender", Expires: e.ms() + ttl.Milliseconds()}, 0)
		if err != nil {
			t.Fatalf("PushDeviceCommand: %v", err)
		}
		return idx
	}
	var idx []int64
	for i := range 5 {
		target := "A"
		if i%2 == 1 {
			target = "B"
		}
		idx = append(idx, push(me.UID, target, fmt.Sprint("p", i), time.Hour))
	}
	for i := 1; i < len(idx); i++ {
		if idx[i] <= idx[i-1] {
			t.Fatalf("indexes %v are not strictly increasing", idx)
		}
	}
	if o := push(other.UID, "A", "o", time.Hour); o <= 0 {
		t.Fatalf("other account's first index %d", o)
	}
	cmds, err := s.DeviceCommands(e.ctx, me.UID, "A", 0, 0)
	if err != nil || len(cmds) != 3 || cmds[0].Index != idx[0] || cmds[1].Index != idx[2] || cmds[2].Index != idx[4] ||
		cmds[1].Payload != "p2" || cmds[1].UID != me.UID || cmds[1].TargetDeviceID != "A" || cmds[1].Sender != "sender" ||
		cmds[1].Command != "https://identity.mozilla.com/cmd/open-uri" {
		t.Fatalf("DeviceCommands(A) = %+v, %v", cmds, err)
	}
	if cmds, _ := s.DeviceCommands(e.ctx, me.UID, "A", idx[0], 1); len(cmds) != 1 || cmds[0].Index != idx[2] {
		t.Fatalf("DeviceCommands(A, after %d, limit 1) = %+v", idx[0], cmds)
	}
	if cmds, _ := s.DeviceCommands(e.ctx, me.UID, "A", idx[4], 0); len(cmds) != 0 {
		t.Fatalf("DeviceCommands after the last = %+v", cmds)
	}
	_, err = s.PushDeviceCommand(e.ctx, db.DeviceCommand{TargetDeviceID: "A", UID: uidOf("nobody"), Expires: e.ms() + 1}, 0)
	wantErr(t, "PushDeviceCommand(unknown account)", err, db.ErrNotFound)

	// Expired commands are not listed; once purged, indexes still go on.
	short := push(me.UID, "A", "short", time.Minute)
	e.clock.Advance(2 * time.Hour)
	if cmds, _ := s.DeviceCommands(e.ctx, me.UID, "A", 0, 0); len(cmds) != 0 {
		t.Fatalf("expired commands listed: %+v", cmds)
	}
	if _, err := s.PurgeAccounts(e.ctx, e.ms()); err != nil {
		t.Fatal(err)
	}
	if next := push(me.UID, "A", "after purge", time.Hour); next <= short {
		t.Fatalf("index after the purge %d, not above %d", next, short)
	}

	// A bounded queue: a push beyond the bound stores nothing and says
	// so; other devices' queues and expired commands do not count.
	const bound = 3
	bounded := func(target string, ttl time.Duration) (int64, error) {
		return s.PushDeviceCommand(e.ctx, db.DeviceCommand{TargetDeviceID: target, UID: me.UID, Command: "c",
			Payload: "bounded", Expires: e.ms() + ttl.Milliseconds()}, bound)
	}
	if _, err := bounded("full", time.Minute); err != nil {
		t.Fatalf("PushDeviceCommand(bound %d): %v", bound, err)
	}
	e.clock.Advance(2 * time.Minute) // that one expired: it no longer counts
	var last int64
	for i := range bound {
		if last, err = bounded("full", time.Hour); err != nil {
			t.Fatalf("PushDeviceCommand %d of %d: %v", i+1, bound, err)
		}
	}
	_, err = bounded("full", time.Hour)
	wantErr(t, "PushDeviceCommand beyond the bound", err, db.ErrQueueFull)
	if cmds, _ := s.DeviceCommands(e.ctx, me.UID, "full", 0, 0); len(cmds) != bound || cmds[bound-1].Index != last {
		t.Fatalf("the full queue holds %+v; want the %d commands up to index %d", cmds, bound, last)
	}
	if next, err := bounded("other", time.Hour); err != nil || next <= last {
		t.Fatalf("another device's queue: index %d, %v; want one above %d", next, err, last)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := bounded("full", time.Hour); err != nil {
		t.Fatalf("once the queue expired: %v", err)
	}
}

func testAccountsInvites(t *testing.T, e *env) {
	s := e.accounts()
	inv := db.Invite{Hash: secretHash("invite"), Email: " Friend@Example.org", CreatedAt: e.ms(), Expires: e.ms() + 3600_000}
	if err := s.PutInvite(e.ctx, inv); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "PutInvite(same hash)", s.PutInvite(e.ctx, inv), db.ErrExists)
	now := e.ms() + 1000
	got, err := s.TakeInvite(e.ctx, inv.Hash, now)
	if err != nil || !bytes.Equal(got.Hash, inv.Hash) || got.Email != "friend@example.org" || got.CreatedAt != inv.CreatedAt ||
		got.Expires != inv.Expires || got.UsedAt != now {
		t.Fatalf("TakeInvite = %+v, %v", got, err)
	}
	_, err = s.TakeInvite(e.ctx, inv.Hash, now+1)
	wantErr(t, "second TakeInvite", err, db.ErrNotFound)
	_, err = s.TakeInvite(e.ctx, secretHash("unknown"), now)
	wantErr(t, "TakeInvite(unknown)", err, db.ErrNotFound)

	open := db.Invite{Hash: secretHash("open"), CreatedAt: e.ms(), Expires: e.ms() + 1000}
	if err := s.PutInvite(e.ctx, open); err != nil {
		t.Fatal(err)
	}
	_, err = s.TakeInvite(e.ctx, open.Hash, open.Expires)
	wantErr(t, "TakeInvite at expiry", err, db.ErrNotFound)
	if got, err := s.TakeInvite(e.ctx, open.Hash, open.Expires-1); err != nil || got.Email != "" {
		t.Fatalf("TakeInvite before expiry = %+v, %v", got, err)
	}
}

func testAccountsSigningKeys(t *testing.T, e *env) {
	s := e.accounts()
	if keys, err := s.SigningKeys(e.ctx); err != nil || len(keys) != 0 {
		t.Fatalf("SigningKeys on an empty store = %q, %v", keys, err)
	}
	k1 := []byte(`{"kty":"RSA","kid":"1","d":"` + string(bytes.Repeat([]byte("x"), 3000)) + `"}`)
	k2 := []byte(`{"kty":"RSA","kid":"2"}`)
	for _, k := range [][]byte{k1, k2} {
		if err := s.PutSigningKey(e.ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.SigningKeys(e.ctx)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k2) || !bytes.Equal(keys[1], k1) {
		t.Fatalf("SigningKeys = %d keys, %v; want k2, k1", len(keys), err)
	}
}

// world is an account with one of everything hanging off it.
type world struct {
	acct              db.Account
	sess, sess2, kf   db.AuthToken
	code              db.OAuthCode
	refresh, refresh2 db.RefreshToken
	dev, dev2, phone  db.Device
}

func (e *env) world(name string) world {
	e.t.Helper()
	s := e.accounts()
	var w world
	w.acct = e.newAccount(name, name+"@example.org")
	w.sess = e.session(w.acct.UID, name+" 1")
	w.sess2 = e.session(w.acct.UID, name+" 2")
	w.kf = db.AuthToken{IDHash: secretHash("kf " + name), Kind: db.TokenKeyFetch, UID: w.acct.UID, Expires: e.ms() + 1000}
	w.code = db.OAuthCode{Hash: secretHash("code " + name), UID: w.acct.UID, SessionIDHash: w.sess.IDHash, Expires: e.ms() + 1000}
	if err := s.PutAuthToken(e.ctx, w.kf); err != nil {
		e.t.Fatal(err)
	}
	if err := s.PutOAuthCode(e.ctx, w.code); err != nil {
		e.t.Fatal(err)
	}
	w.refresh = e.refresh(w.acct.UID, name+" from 1", w.sess.IDHash)
	w.refresh2 = e.refresh(w.acct.UID, name+" alone", nil)
	w.dev = e.device(w.acct.UID, name+" laptop", w.sess.IDHash)
	w.dev2 = e.device(w.acct.UID, name+" desktop", w.sess2.IDHash)
	w.phone = e.device(w.acct.UID, name+" phone", w.refresh.Hash)
	for _, d := range []db.Device{w.dev, w.dev2, w.phone} {
		if _, err := s.PushDeviceCommand(e.ctx, db.DeviceCommand{TargetDeviceID: d.ID, UID: w.acct.UID, Command: "c", Expires: e.ms() + 1000}, 0); err != nil {
			e.t.Fatal(err)
		}
	}
	return w
}

// exists reports which of the world's parts are still there.
func (e *env) exists(w world) map[string]bool {
	e.t.Helper()
	s := e.accounts()
	found := func(err error) bool {
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			e.t.Fatal(err)
		}
		return err == nil
	}
	out := map[string]bool{}
	_, err := s.AccountByUID(e.ctx, w.acct.UID)
	out["account"] = found(err)
	for name, tok := range map[string]db.AuthToken{"sess": w.sess, "sess2": w.sess2, "kf": w.kf} {
		_, err := s.AuthToken(e.ctx, tok.IDHash)
		out[name] = found(err)
	}
	for name, r := range map[string]db.RefreshToken{"refresh": w.refresh, "refresh2": w.refresh2} {
		_, err := s.RefreshToken(e.ctx, r.Hash)
		out[name] = found(err)
	}
	ids := e.deviceIDs(w.acct.UID)
	for name, d := range map[string]db.Device{"dev": w.dev, "dev2": w.dev2, "phone": w.phone} {
		out[name] = slices.Contains(ids, d.ID)
		out[name+" command"] = e.commandCount(w.acct.UID, d.ID) > 0
	}
	// Last: taking the code consumes it.
	_, err = s.TakeOAuthCode(e.ctx, w.code.Hash)
	out["code"] = found(err)
	return out
}

func wantExists(t *testing.T, what string, got map[string]bool, gone ...string) {
	t.Helper()
	for name, there := range got {
		if want := !slices.Contains(gone, name); there != want {
			t.Errorf("%s: %s exists = %v, want %v", what, name, there, want)
		}
	}
}

func testAccountsDeleteSession(t *testing.T, e *env) {
	w := e.world("me")
	other := e.world("other")
	if err := e.accounts().DeleteAuthToken(e.ctx, w.sess.IDHash); err != nil {
		t.Fatal(err)
	}
	// The session, its device, the refresh token and code made from it,
	// and that refresh token's device go.
	wantExists(t, "after DeleteAuthToken(session)", e.exists(w),
		"sess", "dev", "dev command", "refresh", "phone", "phone command", "code")
	wantExists(t, "another account", e.exists(other))
}

func testAccountsDeleteAuthTokens(t *testing.T, e *env) {
	w := e.world("me")
	other := e.world("other")
	inv := db.Invite{Hash: secretHash("invite"), Email: "me@example.org", Expires: e.ms() + 1000}
	if err := e.accounts().PutInvite(e.ctx, inv); err != nil {
		t.Fatal(err)
	}
	if err := e.accounts().DeleteAuthTokens(e.ctx, w.acct.UID); err != nil {
		t.Fatal(err)
	}
	wantExists(t, "after DeleteAuthTokens", e.exists(w),
		"sess", "sess2", "kf", "code", "refresh", "refresh2", "dev", "dev2", "phone", "dev command", "dev2 command", "phone command")
	wantExists(t, "another account", e.exists(other))
	if _, err := e.accounts().TakeInvite(e.ctx, inv.Hash, e.ms()); err != nil {
		t.Fatalf("the account's invite went with its tokens: %v", err)
	}
	wantErr(t, "DeleteAuthTokens(unknown)", e.accounts().DeleteAuthTokens(e.ctx, uidOf("nobody")), db.ErrNotFound)
}

func testAccountsDeleteAccount(t *testing.T, e *env) {
	w := e.world("me")
	other := e.world("other")
	if err := e.accounts().DeleteAccount(e.ctx, w.acct.UID); err != nil {
		t.Fatal(err)
	}
	got := e.exists(w)
	for name, there := range got {
		if there {
			t.Errorf("after DeleteAccount: %s still exists", name)
		}
	}
	wantExists(t, "another account", e.exists(other))
	wantErr(t, "DeleteAccount again", e.accounts().DeleteAccount(e.ctx, w.acct.UID), db.ErrNotFound)
	// The email is free again.
	e.newAccount("me again", "me@example.org")
}

func testAccountsPurge(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	sess := e.session(me.UID, "a")
	now := e.ms()
	put := func(name string, expires int64) {
		t.Helper()
		errs := errors.Join(
			s.PutAuthToken(e.ctx, db.AuthToken{IDHash: secretHash("kf " + name), Kind: db.TokenKeyFetch, UID: me.UID, Expires: expires}),
			s.PutOAuthCode(e.ctx, db.OAuthCode{Hash: secretHash("code " + name), UID: me.UID, Expires: expires}),
			s.PutInvite(e.ctx, db.Invite{Hash: secretHash("invite " + name), Expires: expires}),
		)
		if _, err := s.PushDeviceCommand(e.ctx, db.DeviceCommand{UID: me.UID, TargetDeviceID: "d", Payload: name, Expires: expires}, 0); err != nil {
			errs = errors.Join(errs, err)
		}
		if errs != nil {
			t.Fatal(errs)
		}
	}
	put("old", now-1)
	put("now", now)
	put("later", now+1)
	n, err := s.PurgeAccounts(e.ctx, now)
	if err != nil || n != 8 {
		t.Fatalf("PurgeAccounts = %d, %v; want 8 rows (2 each of codes, keyFetch tokens, invites, commands)", n, err)
	}
	if _, err := s.AuthToken(e.ctx, sess.IDHash); err != nil {
		t.Fatalf("the session (no expiry) was purged: %v", err)
	}
	// What is left is what expires later: the clock is before it, so the
	// store finds it.
	if _, err := s.AuthToken(e.ctx, secretHash("kf later")); err != nil {
		t.Fatalf("unexpired keyFetch token: %v", err)
	}
	if _, err := s.TakeOAuthCode(e.ctx, secretHash("code later")); err != nil {
		t.Fatalf("unexpired code: %v", err)
	}
	if _, err := s.TakeInvite(e.ctx, secretHash("invite later"), now); err != nil {
		t.Fatalf("unexpired invite: %v", err)
	}
	if cmds, _ := s.DeviceCommands(e.ctx, me.UID, "d", 0, 0); len(cmds) != 1 || cmds[0].Payload != "later" {
		t.Fatalf("commands after purge: %+v", cmds)
	}
	if n, err := s.PurgeAccounts(e.ctx, now); err != nil || n != 0 {
		t.Fatalf("second PurgeAccounts = %d, %v; want 0", n, err)
	}
}

// testAccountsInPurge: the periodic purge (db.Purger) deletes what
// expired of the accounts too, and a dry run counts it.
func testAccountsInPurge(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	now := e.ms()
	err := errors.Join(
		s.PutAuthToken(e.ctx, db.AuthToken{IDHash: secretHash("kf old"), Kind: db.TokenKeyFetch, UID: me.UID, Expires: now - 1}),
		s.PutAuthToken(e.ctx, db.AuthToken{IDHash: secretHash("kf new"), Kind: db.TokenKeyFetch, UID: me.UID, Expires: now + 1}),
		s.PutOAuthCode(e.ctx, db.OAuthCode{Hash: secretHash("code old"), UID: me.UID, Expires: now - 1}),
		s.PutInvite(e.ctx, db.Invite{Hash: secretHash("invite old"), Expires: now - 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushDeviceCommand(e.ctx, db.DeviceCommand{UID: me.UID, TargetDeviceID: "d", Expires: now - 1}, 0); err != nil {
		t.Fatal(err)
	}
	var progress int64
	dry := e.purge(db.PurgeOptions{DryRun: true, Progress: func(p db.PurgeProgress) {
		if p.Kind == db.PurgeAccountsRows {
			progress += p.Rows
		}
	}})
	if dry.Accounts != 4 || progress != 4 {
		t.Fatalf("dry run: Accounts = %d, progress %d; want 4", dry.Accounts, progress)
	}
	res := e.purge(db.PurgeOptions{Grace: time.Hour})
	if res.Accounts != 4 || res.Rows() != 4 {
		t.Fatalf("Purge: Accounts = %d, Rows() = %d; want 4 (the grace is for records only)", res.Accounts, res.Rows())
	}
	if _, err := s.AuthToken(e.ctx, secretHash("kf new")); err != nil {
		t.Fatalf("the unexpired keyFetch token went: %v", err)
	}
	if again := e.purge(db.PurgeOptions{}); again.Accounts != 0 {
		t.Fatalf("second Purge: Accounts = %d", again.Accounts)
	}
}

// testAccountsSessions: the admin view lists an account's sessions (not
// its keyFetch tokens, not another account's, not expired ones), and the
// metrics count every account's.
func testAccountsSessions(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	other := e.newAccount("other", "other@example.org")
	if n, err := s.CountSessions(e.ctx, e.ms()); err != nil || n != 0 {
		t.Fatalf("CountSessions on no sessions = %d, %v", n, err)
	}
	a := e.session(me.UID, "a")
	e.clock.Advance(time.Second)
	b := e.session(me.UID, "b")
	e.session(other.UID, "c")
	kf := db.AuthToken{IDHash: secretHash("keyFetch"), Kind: db.TokenKeyFetch, UID: me.UID, HMACKey: secretHash("k"),
		CreatedAt: e.ms(), LastUsed: e.ms(), Expires: e.ms() + 60000}
	dead := db.AuthToken{IDHash: secretHash("dead session"), Kind: db.TokenSession, UID: me.UID, HMACKey: secretHash("d"),
		CreatedAt: e.ms(), LastUsed: e.ms(), Expires: e.ms() - 1}
	for _, tok := range []db.AuthToken{kf, dead} {
		if err := s.PutAuthToken(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.Sessions(e.ctx, me.UID)
	if err != nil || len(list) != 2 || !sameToken(list[0], a) || !sameToken(list[1], b) {
		t.Fatalf("Sessions = %+v, %v; want a, b", list, err)
	}
	if n, err := s.CountSessions(e.ctx, e.ms()); err != nil || n != 3 {
		t.Fatalf("CountSessions = %d, %v; want 3", n, err)
	}
	if list, err := s.Sessions(e.ctx, uidOf("nobody")); err != nil || len(list) != 0 {
		t.Fatalf("Sessions(unknown) = %+v, %v", list, err)
	}
}
