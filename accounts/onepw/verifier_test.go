package onepw

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestVerifierKnownAnswer pins the server-side verifier with a fixed salt
// (0x00..0x1f), FxA's v1 authPW and the onepw wrapKb. The expected values
// were computed by testdata/vectors.py with Python's hashlib.scrypt.
func TestVerifierKnownAnswer(t *testing.T) {
	authPW := mustHex(t, "247b675ffb4c46310bc87e26d712153abe5e1c90ef00a4784594f97ef54f2375")
	wrapKb := mustHex(t, "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f")
	salt := make([]byte, 32)
	for i := range salt {
		salt[i] = byte(i)
	}
	v := newVerifier(authPW, wrapKb, salt)
	if got, want := hex.EncodeToString(v.VerifyHash), "b430deba02daed5b0e261ddd14988c841486a76647abcdc6d29280e600a555ff"; got != want {
		t.Errorf("verifyHash = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(v.WrapWrapKb), "63b54b33b1483346abd9d8405b1027de161bf35fd459ae5fb2b38c36940a337c"; got != want {
		t.Errorf("wrapWrapKb = %s, want %s", got, want)
	}
	got, ok := v.Unwrap(authPW)
	if !ok || !bytes.Equal(got, wrapKb) {
		t.Errorf("Unwrap = %x, %v; want %x, true", got, ok, wrapKb)
	}
}

func TestVerifierRoundTrip(t *testing.T) {
	authPW := bytes.Repeat([]byte{7}, 32)
	wrapKb := bytes.Repeat([]byte{9}, 32)
	v, err := NewVerifier(authPW, wrapKb)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.AuthSalt) != 32 || len(v.VerifyHash) != 32 || len(v.WrapWrapKb) != 32 {
		t.Fatalf("verifier sizes %d/%d/%d, want 32 each", len(v.AuthSalt), len(v.VerifyHash), len(v.WrapWrapKb))
	}
	if bytes.Equal(v.WrapWrapKb, wrapKb) {
		t.Error("wrapKb stored in the clear")
	}
	if got, ok := v.Unwrap(authPW); !ok || !bytes.Equal(got, wrapKb) {
		t.Errorf("Unwrap(right) = %x, %v", got, ok)
	}
	wrong := bytes.Repeat([]byte{8}, 32)
	if got, ok := v.Unwrap(wrong); ok || got != nil {
		t.Errorf("Unwrap(wrong) = %x, %v; want nil, false", got, ok)
	}
	if _, ok := (Verifier{}).Unwrap(authPW); ok {
		t.Error("an empty verifier accepted a password")
	}
}

func TestNewVerifierRefusesBadLengths(t *testing.T) {
	if _, err := NewVerifier(make([]byte, 31), make([]byte, 32)); !errors.Is(err, ErrAuthPW) {
		t.Errorf("short authPW: err = %v, want ErrAuthPW", err)
	}
	if _, err := NewVerifier(make([]byte, 32), make([]byte, 16)); err == nil {
		t.Error("short wrapKb accepted")
	}
}

// TestDummyWork only shows it runs on any input, a nil authPW included;
// its cost equals Unwrap's by construction (the same stretch).
func TestDummyWork(t *testing.T) {
	DummyWork(nil)
}
