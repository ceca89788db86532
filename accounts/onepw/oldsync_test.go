package onepw

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// mustHex decodes a hex constant of a test vector.
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestOldSyncKeyVectors checks the oldsync scoped key and kid against every
// vector that has a kB (the gecko one from test_keys.js among them).
func TestOldSyncKeyVectors(t *testing.T) {
	n := 0
	for _, v := range Vectors {
		if v.KB == "" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			k, kid := OldSyncKey(mustHex(t, v.KB), v.KeysChangedAt)
			if k != v.K {
				t.Errorf("k = %s, want %s", k, v.K)
			}
			if kid != v.KID {
				t.Errorf("kid = %s, want %s", kid, v.KID)
			}
		})
	}
	if n == 0 {
		t.Fatal("no oldsync vectors")
	}
}

// TestOldSyncKeyGecko pins gecko's services/fxaccounts test_keys.js vector
// independently of the shared table, so an edit of the table cannot hide a
// regression.
func TestOldSyncKeyGecko(t *testing.T) {
	kB := mustHex(t, "eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9")
	k, kid := OldSyncKey(kB, 1510726317123)
	if want := "1510726317123-IqQv4onc7VcVE1kTQkyyOw"; kid != want {
		t.Errorf("kid = %s, want %s", kid, want)
	}
	if want := "DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang"; k != want {
		t.Errorf("k = %s, want %s", k, want)
	}
	if len(k) != 86 {
		t.Errorf("len(k) = %d, want 86", len(k))
	}
}

// TestVectorsTable keeps the exported table usable by other tests: every
// case names its source, hex fields are 32 bytes of lowercase hex (the
// bundle 96), and the table marshals to JSON for JavaScript.
func TestVectorsTable(t *testing.T) {
	for _, v := range Vectors {
		if v.Name == "" || v.Source == "" {
			t.Errorf("vector %+v has no name or source", v)
		}
		for name, h := range map[string]string{"quickStretchedPW": v.QuickStretchedPW, "authPW": v.AuthPW,
			"unwrapBKey": v.UnwrapBKey, "keyFetchToken": v.KeyFetchToken, "keyRequestKey": v.KeyRequestKey,
			"kA": v.KA, "wrapKb": v.WrapKb, "kB": v.KB} {
			if h != "" && (len(mustHex(t, h)) != 32 || strings.ToLower(h) != h) {
				t.Errorf("%s: %s is not 32 bytes of lowercase hex", v.Name, name)
			}
		}
		if v.Bundle != "" && len(mustHex(t, v.Bundle)) != 96 {
			t.Errorf("%s: bundle is not 96 bytes", v.Name)
		}
	}
	b, err := json.Marshal(struct {
		V []Vector
		T []TokenVector
		J JWEVector
	}{Vectors, TokenVectors, KeysJWEVector})
	if err != nil || !strings.Contains(string(b), `"unwrapBKey":"616616`) {
		t.Errorf("JSON form: %v %.200s", err, b)
	}
}
