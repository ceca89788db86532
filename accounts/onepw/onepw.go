// Package onepw holds the crypto of the accounts protocol: FxA's "onepw"
// password stretch, the token and key-bundle derivations, the server-side
// verifier, the oldsync scoped key, PKCE, the keys_jwe sealed to Firefox and
// the RS256 access tokens. It is pure computation with known-answer tests,
// apart from any endpoint or storage, so that the page's JavaScript, the
// CLI and the server can all be checked against the same functions.
//
// Conventions follow FxA: hex is lowercase, base64url has no padding, HKDF
// is HKDF-SHA256 with an empty salt.
package onepw

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// NS is the namespace prefix of every derivation label in FxA's protocol.
const NS = "identity.mozilla.com/picl/v1/"

// Scopes our accounts service grants.
const (
	// ScopeOldSync is the scope of the Sync key and of Sync access tokens.
	ScopeOldSync = "https://identity.mozilla.com/apps/oldsync"
	// ScopeProfile lets a client read the profile.
	ScopeProfile = "profile"
	// ScopeSession makes the authorization_code answer carry a session
	// token; the mobile apps ask for it at sign-in.
	ScopeSession = "https://identity.mozilla.com/tokens/session"
)

// Iteration counts of FxA's two quick stretches.
const (
	// IterationsV1 is FxA onepw v1's PBKDF2 count, kept for its vectors.
	IterationsV1 = 1000
	// IterationsV2 is FxA's v2 count (getCredentialsV2), which our page uses.
	IterationsV2 = 650000
)

// HKDF is HKDF-SHA256 of secret with an empty salt and info, n bytes long.
// n is always a protocol constant, so an impossible length panics.
func HKDF(secret []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, nil, info, n)
	if err != nil {
		panic("onepw: HKDF: " + err.Error())
	}
	return out
}

// pbkdf2SHA256 is the quick stretch: PBKDF2-HMAC-SHA256 to 32 bytes.
func pbkdf2SHA256(password, salt string, iter int) []byte {
	out, err := pbkdf2.Key(sha256.New, password, []byte(salt), iter, 32)
	if err != nil {
		panic("onepw: PBKDF2: " + err.Error())
	}
	return out
}

// QuickStretchV2 is FxA's v2 stretch (fxa-auth-client getCredentialsV2):
// PBKDF2-SHA256(password, NS+"quickStretchV2:"+clientSalt, 650000) → 32
// bytes. clientSalt is the value credentials/status serves; FxA's salt.ts
// shapes it as NS+"quickStretchV2:"+32 hex, and crypto.ts then feeds it
// verbatim as the PBKDF2 salt, so the salt bytes carry the prefix once,
// inside clientSalt. We do exactly that (used verbatim), so an FxA-aware
// client computes the same qs. The password is used as its UTF-8 bytes,
// without Unicode normalisation, as FxA's client (TextEncoder) does.
func QuickStretchV2(password, clientSalt string) []byte {
	return pbkdf2SHA256(password, clientSalt, IterationsV2)
}

// QuickStretchV1 is FxA onepw v1: PBKDF2-SHA256(password,
// NS+"quickStretch:"+email, 1000) → 32 bytes. Too weak to use (whoever
// sees authPW can brute-force kB); kept for FxA's published vectors.
func QuickStretchV1(password, email string) []byte {
	return pbkdf2SHA256(password, NS+"quickStretch:"+email, IterationsV1)
}

// AuthPW is what the client sends instead of the password:
// HKDF(qs, NS+"authPW", 32).
func AuthPW(qs []byte) []byte { return HKDF(qs, NS+"authPW", 32) }

// UnwrapBKey never leaves the client: kB = wrapKb ⊕ UnwrapBKey(qs).
// The label has a lower-case k, as in FxA.
func UnwrapBKey(qs []byte) []byte { return HKDF(qs, NS+"unwrapBkey", 32) }

// clientSaltPrefix is the fixed part of FxA's v2 client salt.
const clientSaltPrefix = NS + "quickStretchV2:"

// NewClientSalt draws a fresh v2 client salt, FxA's shape:
// NS+"quickStretchV2:"+32 random hex. A new one is drawn at signup and on
// every password set.
func NewClientSalt() string {
	var b [16]byte
	rand.Read(b[:])
	return clientSaltPrefix + hex.EncodeToString(b[:])
}

// FakeClientSalt is the salt credentials/status serves for an email that
// has no account: deterministic (the same answer twice) and of the real
// shape, NS+"quickStretchV2:"+hex(HMAC-SHA256(secret, email)[0:16]), so
// that accounts cannot be enumerated. email is normalised first with
// NormalizeEmail.
func FakeClientSalt(secret []byte, email string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(NormalizeEmail(email)))
	return clientSaltPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// NormalizeEmail is the form emails are stored and compared in: trimmed
// and lower-case.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// XOR returns a ⊕ b. The protocol only XORs equal lengths; unequal
// lengths are a programming error and panic.
func XOR(a, b []byte) []byte {
	if len(a) != len(b) {
		panic("onepw: XOR of unequal lengths")
	}
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// b64 is base64url without padding, the only base64 of the protocol.
var b64 = base64.RawURLEncoding

// OldSyncKey derives the oldsync scoped key as Firefox does
// (FxAccountsKeys _deriveLegacyScopedKey): k = b64url(HKDF(kB,
// NS+"oldsync", 64)) (AES key then HMAC key) and kid =
// "<keysChangedAt ms>-" + b64url(SHA-256(kB)[0:16]), the X-KeyID the
// tokenserver parses.
func OldSyncKey(kB []byte, keysChangedAtMs int64) (k, kid string) {
	sum := sha256.Sum256(kB)
	return b64.EncodeToString(HKDF(kB, NS+"oldsync", 64)),
		strconv.FormatInt(keysChangedAtMs, 10) + "-" + b64.EncodeToString(sum[:16])
}

// PKCEChallenge is the S256 code_challenge of a PKCE verifier:
// b64url(SHA-256(ASCII(verifier))).
func PKCEChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64.EncodeToString(sum[:])
}
