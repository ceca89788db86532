package onepw

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// Token kinds of DeriveToken, which are also their HKDF labels.
const (
	KindSession  = "sessionToken"
	KindKeyFetch = "keyFetchToken"
)

// TokenKeys are what a session token or keyFetchToken expands to
// (HKDF(token, NS+kind, 96)).
type TokenKeys struct {
	// ID is hex(out[0:32]): the Hawk id and, hashed with HashID, the
	// lookup key at rest.
	ID string
	// HMACKey is out[32:64], the raw Hawk key.
	HMACKey []byte
	// KeyRequestKey is out[64:96]; only a keyFetchToken uses it, to
	// encrypt the account/keys bundle.
	KeyRequestKey []byte
}

// DeriveToken expands a raw 32-byte token of kind KindSession or
// KindKeyFetch into its id and keys, as FxA's client and server both do.
func DeriveToken(raw []byte, kind string) TokenKeys {
	out := HKDF(raw, NS+kind, 96)
	return TokenKeys{ID: hex.EncodeToString(out[:32]), HMACKey: out[32:64], KeyRequestKey: out[64:96]}
}

// HashID is the at-rest lookup key of a token: SHA-256 of its hex tokenId
// as ASCII, so a stolen database holds no usable token id.
func HashID(tokenID string) []byte {
	sum := sha256.Sum256([]byte(tokenID))
	return sum[:]
}

// ErrBundle is returned by OpenKeysBundle for a bundle that is malformed
// or whose MAC does not match the key.
var ErrBundle = errors.New("onepw: bad keys bundle")

// bundleKeys splits HKDF(keyRequestKey, NS+"account/keys", 96) into the
// response MAC key and the 64-byte XOR pad.
func bundleKeys(keyRequestKey []byte) (hmacKey, xorKey []byte) {
	out := HKDF(keyRequestKey, NS+"account/keys", 32+64)
	return out[:32], out[32:]
}

// KeysBundle is the account/keys answer: hex(ct ‖ HMAC-SHA256(respHMACkey,
// ct)) with ct = (kA ‖ wrapKb) ⊕ respXORkey, 192 hex digits. kA and wrapKb
// are 32 bytes each; other lengths are a programming error and panic.
func KeysBundle(keyRequestKey, kA, wrapKb []byte) string {
	if len(kA) != 32 || len(wrapKb) != 32 {
		panic("onepw: KeysBundle: kA and wrapKb must be 32 bytes")
	}
	hmacKey, xorKey := bundleKeys(keyRequestKey)
	ct := XOR(append(append([]byte{}, kA...), wrapKb...), xorKey)
	m := hmac.New(sha256.New, hmacKey)
	m.Write(ct)
	return hex.EncodeToString(m.Sum(ct))
}

// OpenKeysBundle checks the bundle's MAC in constant time and unwraps kA
// and wrapKb, as the page does. It returns ErrBundle on any mismatch.
func OpenKeysBundle(keyRequestKey []byte, bundle string) (kA, wrapKb []byte, err error) {
	b, err := hex.DecodeString(bundle)
	if err != nil || len(b) != 96 {
		return nil, nil, ErrBundle
	}
	ct, mac := b[:64], b[64:]
	hmacKey, xorKey := bundleKeys(keyRequestKey)
	m := hmac.New(sha256.New, hmacKey)
	m.Write(ct)
	if !hmac.Equal(m.Sum(nil), mac) {
		return nil, nil, ErrBundle
	}
	pt := XOR(ct, xorKey)
	return pt[:32], pt[32:], nil
}
