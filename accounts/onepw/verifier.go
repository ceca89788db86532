package onepw

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"

	"golang.org/x/crypto/scrypt"
)

// scrypt cost of the server-side verifier. With the global semaphore of
// the service (two at a time) this bounds the CPU a login flood can take.
const (
	scryptN      = 1 << 16
	scryptR      = 8
	scryptP      = 1
	authSaltSize = 32
)

// Verifier is all the server keeps of a password: the per-account scrypt
// salt, a hash to check authPW against, and wrapKb wrapped under a key that
// only the right authPW yields (FxA lib/crypto/password.js, with scrypt as
// our KDF). A stolen Verifier allows only a slow offline guess.
type Verifier struct {
	AuthSalt   []byte
	VerifyHash []byte
	WrapWrapKb []byte
}

// ErrAuthPW is returned by NewVerifier for an authPW that is not 32 bytes.
var ErrAuthPW = errors.New("onepw: authPW must be 32 bytes")

// stretch is the slow part, S = scrypt(authPW, authSalt, 2^16, 8, 1, 32),
// and the two keys derived from it.
func stretch(authPW, authSalt []byte) (verifyHash, wrapWrapKey []byte) {
	s, err := scrypt.Key(authPW, authSalt, scryptN, scryptR, scryptP, 32)
	if err != nil {
		panic("onepw: scrypt: " + err.Error()) // constant parameters: cannot fail
	}
	return HKDF(s, NS+"verifyHash", 32), HKDF(s, NS+"wrapwrapKey", 32)
}

// NewVerifier makes the verifier of authPW with a fresh random 32-byte
// AuthSalt, wrapping wrapKb (32 bytes). It costs one scrypt.
func NewVerifier(authPW, wrapKb []byte) (Verifier, error) {
	if len(authPW) != 32 {
		return Verifier{}, ErrAuthPW
	}
	if len(wrapKb) != 32 {
		return Verifier{}, errors.New("onepw: wrapKb must be 32 bytes")
	}
	salt := make([]byte, authSaltSize)
	rand.Read(salt)
	return newVerifier(authPW, wrapKb, salt), nil
}

// newVerifier is NewVerifier with a given salt, for known-answer tests.
func newVerifier(authPW, wrapKb, salt []byte) Verifier {
	verifyHash, wwKey := stretch(authPW, salt)
	return Verifier{AuthSalt: salt, VerifyHash: verifyHash, WrapWrapKb: XOR(wrapKb, wwKey)}
}

// Unwrap checks authPW against the verifier in constant time and, if it
// matches, returns wrapKb. It costs one scrypt whatever the outcome.
func (v Verifier) Unwrap(authPW []byte) (wrapKb []byte, ok bool) {
	verifyHash, wwKey := stretch(authPW, v.AuthSalt)
	if len(v.WrapWrapKb) != 32 || subtle.ConstantTimeCompare(verifyHash, v.VerifyHash) != 1 {
		return nil, false
	}
	return XOR(v.WrapWrapKb, wwKey), true
}

// DummyWork does the work of Unwrap for an email that has no account, so
// that a wrong email and a wrong password take the same time.
func DummyWork(authPW []byte) {
	var salt [authSaltSize]byte
	stretch(authPW, salt[:])
}
