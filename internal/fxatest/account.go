package fxatest

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
)

// HKDF info strings of the FxA key schedule, as Firefox derives the Sync key.
const (
	oldsyncInfo      = "identity.mozilla.com/picl/v1/oldsync"
	sessionTokenInfo = "identity.mozilla.com/picl/v1/sessionToken"
)

// Account is an FxA account a test defines. Generation and KeysChangedAt
// are FxA's millisecond timestamps: a password change raises Generation, a
// password reset (new kB) raises both.
type Account struct {
	// UID is the FxA user id, 32 hex digits.
	UID   string
	Email string
	// Generation goes into access tokens as fxa-generation (0 leaves it out).
	Generation    int64
	KeysChangedAt int64
	// KB is the account's sync master key (32 bytes).
	KB []byte
	// SessionToken is the hex session token a signed-in Firefox holds; the
	// stand-in finds the account of a Hawk-signed request from it.
	SessionToken string
}

// NewAccount returns an account with a random uid, kB and session token,
// whose generation and keys-changed-at are now.
func NewAccount(email string) Account {
	ms := time.Now().UnixMilli()
	return Account{
		UID:           randomHex(16),
		Email:         email,
		Generation:    ms,
		KeysChangedAt: ms,
		KB:            randomBytes(32),
		SessionToken:  randomHex(32),
	}
}

// keyHash is the first 16 bytes of SHA-256(kB): what Firefox sends as the
// client state, and the part of the key id after the dash.
func (a Account) keyHash() []byte {
	sum := sha256.Sum256(a.KB)
	return sum[:16]
}

// ClientState is the X-Client-State Firefox derives from kB: lower-case
// hex of SHA-256(kB)[:16].
func (a Account) ClientState() string { return hex.EncodeToString(a.keyHash()) }

// KeyID is the kid of the oldsync scoped key, which Firefox sends as
// X-KeyID: "<keys changed at, ms>-<base64url, no padding, of SHA-256(kB)[:16]>".
func (a Account) KeyID() string {
	return strconv.FormatInt(a.KeysChangedAt, 10) + "-" + base64.RawURLEncoding.EncodeToString(a.keyHash())
}

// SyncKey is the 64-byte oldsync key (AES key then HMAC key) Firefox
// derives from kB: HKDF-SHA256(kB, no salt, "identity.mozilla.com/picl/v1/oldsync").
func (a Account) SyncKey() []byte {
	k, err := hkdf.Key(sha256.New, a.KB, nil, oldsyncInfo, 64)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return k
}

// SessionTokenID is the Hawk id Firefox signs FxA requests with: hex of the
// first 32 bytes of HKDF-SHA256(session token, no salt, "…/sessionToken", 96).
// It is "" when the account has no (valid hex) session token.
func (a Account) SessionTokenID() string {
	id, _ := a.sessionCredentials()
	return id
}

func (a Account) sessionCredentials() (id string, key []byte) {
	st, err := hex.DecodeString(a.SessionToken)
	if err != nil || len(st) == 0 {
		return "", nil
	}
	out, err := hkdf.Key(sha256.New, st, nil, sessionTokenInfo, 96)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(out[:32]), out[32:64]
}

// SignInData is the account as Firefox's setSignedInUser takes it
// (fxAccounts.setSignedInUser), for tests that drive a real Firefox.
func (a Account) SignInData() map[string]any {
	return map[string]any{
		"email":        a.Email,
		"uid":          a.UID,
		"sessionToken": a.SessionToken,
		"verified":     true,
		"scopedKeys": map[string]any{
			OldSyncScope: map[string]any{
				"scope": OldSyncScope,
				"kid":   a.KeyID(),
				"k":     base64.RawURLEncoding.EncodeToString(a.SyncKey()),
				"kty":   "oct",
			},
		},
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
