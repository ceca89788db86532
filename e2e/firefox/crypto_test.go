package firefox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"syncserver/internal/fxatest"
)

// The server only sees encrypted payloads. Knowing the account's kB, the
// test decrypts what Firefox stored, to check on the server what a record
// says (a tombstone, a changed password), not only that it exists.

// keyBundle is a Sync key pair: AES-256 key, then HMAC-SHA256 key.
type keyBundle struct{ enc, mac []byte }

// decrypt opens a Sync encrypted payload {"ciphertext","IV","hmac"}: the
// HMAC is over the base64 ciphertext, then AES-256-CBC with PKCS#7.
func (k keyBundle) decrypt(payload string, out any) error {
	var p struct {
		Ciphertext string `json:"ciphertext"`
		IV         string `json:"IV"`
		HMAC       string `json:"hmac"`
	}
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return fmt.Errorf("payload is not an encrypted record: %w", err)
	}
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(p.Ciphertext))
	want, err := hex.DecodeString(p.HMAC)
	if err != nil || !hmac.Equal(m.Sum(nil), want) {
		return errors.New("HMAC mismatch: not encrypted with this key")
	}
	ct, err1 := base64.StdEncoding.DecodeString(p.Ciphertext)
	iv, err2 := base64.StdEncoding.DecodeString(p.IV)
	if err1 != nil || err2 != nil || len(iv) != aes.BlockSize || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return errors.New("bad ciphertext or IV")
	}
	block, err := aes.NewCipher(k.enc)
	if err != nil {
		return err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return errors.New("bad padding")
	}
	return json.Unmarshal(plain[:len(plain)-pad], out)
}

// payload is a BSO's payload as the server stores it.
func (d *serverDB) payload(t *testing.T, uid int64, collection, id string) (string, bool) {
	t.Helper()
	cid, ok := d.collectionID(t, collection)
	if !ok {
		return "", false
	}
	var p string
	err := d.db.QueryRow(`SELECT payload FROM bso WHERE userid = ? AND collection = ? AND id = ?`, uid, cid, id).Scan(&p)
	if err == sql.ErrNoRows {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, true
}

// record decrypts a BSO of uid with the keys of acct: its crypto/keys
// record opened with the account's sync key, then the collection's key.
// It fails the test if the record is missing or does not decrypt.
func (e *e2e) record(t *testing.T, acct fxatest.Account, uid int64, collection, id string) map[string]any {
	t.Helper()
	sk := acct.SyncKey()
	root := keyBundle{enc: sk[:32], mac: sk[32:]}
	raw, ok := e.db.payload(t, uid, "crypto", "keys")
	if !ok {
		t.Fatalf("server: uid %d has no crypto/keys", uid)
	}
	var keys struct {
		Default     []string            `json:"default"`
		Collections map[string][]string `json:"collections"`
	}
	if err := root.decrypt(raw, &keys); err != nil {
		t.Fatalf("server: crypto/keys of uid %d: %v", uid, err)
	}
	pair := keys.Default
	if c, ok := keys.Collections[collection]; ok {
		pair = c
	}
	if len(pair) != 2 {
		t.Fatalf("server: crypto/keys of uid %d has no key for %s", uid, collection)
	}
	enc, err1 := base64.StdEncoding.DecodeString(pair[0])
	mac, err2 := base64.StdEncoding.DecodeString(pair[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("server: crypto/keys of uid %d: bad key", uid)
	}
	raw, ok = e.db.payload(t, uid, collection, id)
	if !ok {
		t.Fatalf("server: uid %d has no %s/%s", uid, collection, id)
	}
	var rec map[string]any
	if err := (keyBundle{enc: enc, mac: mac}).decrypt(raw, &rec); err != nil {
		t.Fatalf("server: %s/%s of uid %d: %v", collection, id, uid, err)
	}
	if rec["id"] != id {
		t.Errorf("server: %s/%s of uid %d decrypts to the record of %v", collection, id, uid, rec["id"])
	}
	return rec
}

// expectRecord checks fields of a decrypted record (nil: absent or null).
func (e *e2e) expectRecord(t *testing.T, uid int64, collection, id string, want map[string]any) {
	t.Helper()
	rec := e.record(t, e.s.account, uid, collection, id)
	for k, v := range want {
		if got := rec[k]; !matches(got, v) {
			t.Errorf("server: %s/%s of uid %d: %s = %v, want %v", collection, id, uid, k, got, v)
		}
	}
}

// anyOf, as a wanted value, accepts any of its values.
type anyOf []any

// matches compares a decoded JSON value with a wanted one by their
// printed forms (17 matches 17.0; nil matches an absent key or null).
func matches(got, want any) bool {
	if alts, ok := want.(anyOf); ok {
		for _, w := range alts {
			if matches(got, w) {
				return true
			}
		}
		return false
	}
	return fmt.Sprint(got) == fmt.Sprint(want)
}
