package onepw

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func TestDeriveTokenVectors(t *testing.T) {
	for _, v := range TokenVectors {
		t.Run(v.Kind, func(t *testing.T) {
			k := DeriveToken(mustHex(t, v.Token), v.Kind)
			if k.ID != v.ID {
				t.Errorf("id = %s, want %s", k.ID, v.ID)
			}
			if got := hex.EncodeToString(k.HMACKey); got != v.HMACKey {
				t.Errorf("hmac key = %s, want %s", got, v.HMACKey)
			}
			if got := hex.EncodeToString(k.KeyRequestKey); got != v.KeyRequestKey {
				t.Errorf("keyRequestKey = %s, want %s", got, v.KeyRequestKey)
			}
		})
	}
	// The keyFetchToken of the vector table expands to its KeyRequestKey.
	for _, v := range Vectors {
		if v.KeyFetchToken == "" || v.KeyRequestKey == "" {
			continue
		}
		k := DeriveToken(mustHex(t, v.KeyFetchToken), KindKeyFetch)
		if got := hex.EncodeToString(k.KeyRequestKey); got != v.KeyRequestKey {
			t.Errorf("%s: keyRequestKey = %s, want %s", v.Name, got, v.KeyRequestKey)
		}
	}
}

func TestHashID(t *testing.T) {
	id := "c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab"
	want := sha256.Sum256([]byte(id))
	if got := HashID(id); !bytes.Equal(got, want[:]) {
		t.Errorf("HashID = %x, want %x", got, want)
	}
}

// TestKeysBundleVectors seals and opens every bundle vector: gecko's
// onepw /account/keys response and fxa-auth-client's unbundle case.
func TestKeysBundleVectors(t *testing.T) {
	n := 0
	for _, v := range Vectors {
		if v.Bundle == "" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			krk := mustHex(t, v.KeyRequestKey)
			if v.KeyFetchToken != "" {
				krk = DeriveToken(mustHex(t, v.KeyFetchToken), KindKeyFetch).KeyRequestKey
			}
			if got := KeysBundle(krk, mustHex(t, v.KA), mustHex(t, v.WrapKb)); got != v.Bundle {
				t.Errorf("bundle = %s, want %s", got, v.Bundle)
			}
			kA, wrapKb, err := OpenKeysBundle(krk, v.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(kA) != v.KA || hex.EncodeToString(wrapKb) != v.WrapKb {
				t.Errorf("opened kA=%x wrapKb=%x, want %s %s", kA, wrapKb, v.KA, v.WrapKb)
			}
		})
	}
	if n < 2 {
		t.Fatalf("%d bundle vectors, want 2", n)
	}
}

func TestOpenKeysBundleRefuses(t *testing.T) {
	v := Vectors[0]
	krk := mustHex(t, v.KeyRequestKey)
	flipped := []byte(v.Bundle)
	flipped[10] ^= 1 // a hex digit changes, still hex
	tests := map[string]struct {
		key    []byte
		bundle string
	}{
		"tampered":  {krk, string(flipped)},
		"wrong key": {mustHex(t, Vectors[len(Vectors)-1].KeyRequestKey), v.Bundle},
		"short":     {krk, v.Bundle[:190]},
		"not hex":   {krk, "zz" + v.Bundle[2:]},
		"empty":     {krk, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := OpenKeysBundle(tc.key, tc.bundle); !errors.Is(err, ErrBundle) {
				t.Errorf("err = %v, want ErrBundle", err)
			}
		})
	}
}
