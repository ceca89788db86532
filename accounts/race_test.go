//go:build race

package accounts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"syncserver/accounts/onepw"
)

// Under the race detector one scrypt takes seconds, and these tests run
// dozens: a keyed hash stands in for it, with the same shape and the same
// refusals. The tests without -race run the real verifier.
func init() {
	cheap := func(authPW, salt []byte, label string) []byte {
		m := hmac.New(sha256.New, salt)
		m.Write([]byte(label))
		m.Write(authPW)
		return m.Sum(nil)
	}
	kdf.newVerifier = func(authPW, wrapKb []byte) (onepw.Verifier, error) {
		if len(authPW) != 32 || len(wrapKb) != 32 {
			return onepw.Verifier{}, errors.New("bad lengths")
		}
		salt := make([]byte, 32)
		rand.Read(salt)
		return onepw.Verifier{AuthSalt: salt, VerifyHash: cheap(authPW, salt, "verify"), WrapWrapKb: onepw.XOR(wrapKb, cheap(authPW, salt, "wrap"))}, nil
	}
	kdf.unwrap = func(v onepw.Verifier, authPW []byte) ([]byte, bool) {
		if len(v.WrapWrapKb) != 32 || !hmac.Equal(cheap(authPW, v.AuthSalt, "verify"), v.VerifyHash) {
			return nil, false
		}
		return onepw.XOR(v.WrapWrapKb, cheap(authPW, v.AuthSalt, "wrap")), true
	}
	kdf.dummyWork = func(authPW []byte) { cheap(authPW, make([]byte, 32), "verify") }
}
