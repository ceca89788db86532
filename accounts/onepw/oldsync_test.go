package onepw

import (
	"encoding/hex"
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
