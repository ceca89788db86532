package onepw

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The fixed-key vector of KeysJWEVector, under short names.
var (
	fixedRecipientD = KeysJWEVector.RecipientD
	fixedKeysJWK    = KeysJWEVector.KeysJWK
	fixedJWE        = KeysJWEVector.JWE
	fixedCEK        = KeysJWEVector.CEK
	fixedPlaintext  = KeysJWEVector.Plaintext
)

func fixedRecipient(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), mustHex(t, fixedRecipientD))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// firefoxKeysJWK builds keys_jwk the way Firefox puts it in the connect
// URL: b64url of the WebCrypto export, with ext and key_ops.
func firefoxKeysJWK(t *testing.T, pub *ecdsa.PublicKey) string {
	t.Helper()
	raw, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(map[string]any{"crv": "P-256", "ext": true, "key_ops": []string{},
		"kty": "EC", "x": b64.EncodeToString(raw[1:33]), "y": b64.EncodeToString(raw[33:])})
	return b64.EncodeToString(j)
}

// concatKDF is spec §4.4 step 2, written out independently of go-jose:
// one SHA-256 round over counter ‖ Z ‖ len‖"A256GCM" ‖ empty PartyU ‖
// empty PartyV ‖ 256.
func concatKDF(z []byte) []byte {
	var buf []byte
	buf = binary.BigEndian.AppendUint32(buf, 1)
	buf = append(buf, z...)
	buf = binary.BigEndian.AppendUint32(buf, 7)
	buf = append(buf, "A256GCM"...)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = binary.BigEndian.AppendUint32(buf, 256)
	sum := sha256.Sum256(buf)
	return sum[:]
}

// openByHand decrypts a keys_jwe the way Firefox's jwcrypto does, with
// crypto/ecdh, the concat KDF above and AES-GCM, so that go-jose's output
// is checked against Firefox's derivation and not against itself. It
// returns the CEK too.
func openByHand(t *testing.T, priv *ecdsa.PrivateKey, jwe string) (pt, cek []byte) {
	t.Helper()
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 {
		t.Fatalf("jwe has %d parts", len(parts))
	}
	var hdr struct {
		EPK ecJWK `json:"epk"`
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		t.Fatalf("header %q: %v", hb, err)
	}
	x, _ := b64.DecodeString(hdr.EPK.X)
	y, _ := b64.DecodeString(hdr.EPK.Y)
	epk, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("epk: %v", err)
	}
	ek, err := priv.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	z, err := ek.ECDH(epk)
	if err != nil {
		t.Fatal(err)
	}
	cek = concatKDF(z)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	iv, _ := b64.DecodeString(parts[2])
	ct, _ := b64.DecodeString(parts[3])
	tag, _ := b64.DecodeString(parts[4])
	if len(iv) != 12 || len(tag) != 16 {
		t.Fatalf("iv %d bytes, tag %d bytes; want 12 and 16", len(iv), len(tag))
	}
	pt, err = gcm.Open(nil, iv, append(ct, tag...), []byte(parts[0]))
	if err != nil {
		t.Fatalf("AES-GCM with AAD = ASCII header: %v", err)
	}
	return pt, cek
}

// TestOpenKeysJWEFixedVector decrypts a JWE built outside Go by the
// spec's derivation: OpenKeysJWE (go-jose) and the hand-written path both
// get the plaintext, and the hand path derives the published CEK.
func TestOpenKeysJWEFixedVector(t *testing.T) {
	priv := fixedRecipient(t)
	pt, err := OpenKeysJWE(priv, fixedJWE)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != fixedPlaintext {
		t.Errorf("plaintext = %s", pt)
	}
	pt, cek := openByHand(t, priv, fixedJWE)
	if string(pt) != fixedPlaintext {
		t.Errorf("hand plaintext = %s", pt)
	}
	if got := hex.EncodeToString(cek); got != fixedCEK {
		t.Errorf("CEK = %s, want %s", got, fixedCEK)
	}
	// The recipient key of the vector is the one its keys_jwk names.
	pub, err := ParseKeysJWK(fixedKeysJWK)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&priv.PublicKey) {
		t.Error("fixed keys_jwk is not the fixed recipient's public key")
	}
}

// TestSealKeysJWEFormat seals to a Firefox-style keys_jwk and checks every
// rule Firefox enforces, then decrypts by hand (Firefox's derivation) and
// with OpenKeysJWE.
func TestSealKeysJWEFormat(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwe, err := SealKeysJWE(firefoxKeysJWK(t, &priv.PublicKey), []byte(fixedPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(jwe, "=") {
		t.Errorf("padding in %s", jwe)
	}
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 || parts[1] != "" {
		t.Fatalf("want hdr..iv.ct.tag, got %d parts, key part %q", len(parts), parts[1])
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range hdr {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"alg", "enc", "epk"}) {
		t.Errorf("header fields %v, want exactly alg, enc, epk (no apu/apv): %s", keys, hb)
	}
	if string(hdr["alg"]) != `"ECDH-ES"` || string(hdr["enc"]) != `"A256GCM"` {
		t.Errorf("alg/enc = %s/%s", hdr["alg"], hdr["enc"])
	}
	var epk map[string]string
	if err := json.Unmarshal(hdr["epk"], &epk); err != nil {
		t.Fatal(err)
	}
	if epk["kty"] != "EC" || epk["crv"] != "P-256" || epk["x"] == "" || epk["y"] == "" || epk["d"] != "" {
		t.Errorf("epk = %v", epk)
	}
	if pt, _ := openByHand(t, priv, jwe); string(pt) != fixedPlaintext {
		t.Errorf("hand plaintext = %s", pt)
	}
	pt, err := OpenKeysJWE(priv, jwe)
	if err != nil || string(pt) != fixedPlaintext {
		t.Errorf("OpenKeysJWE = %s, %v", pt, err)
	}
	// A fresh ephemeral key and IV each time.
	again, _ := SealKeysJWE(firefoxKeysJWK(t, &priv.PublicKey), []byte(fixedPlaintext))
	if again == jwe || strings.Split(again, ".")[0] == parts[0] {
		t.Error("two seals share their ephemeral key")
	}
}

// TestSealKeysJWERawJSON accepts keys_jwk given as JSON, not b64url.
func TestSealKeysJWERawJSON(t *testing.T) {
	priv := fixedRecipient(t)
	raw, _ := b64.DecodeString(fixedKeysJWK)
	jwe, err := SealKeysJWE(string(raw), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := OpenKeysJWE(priv, jwe); err != nil || string(pt) != "x" {
		t.Errorf("OpenKeysJWE = %q, %v", pt, err)
	}
}

// reseal rebuilds the fixed vector with a changed header (the CEK stays
// the same since it depends on the keys only), so that each Firefox rule
// can be broken alone while the rest stays valid.
func reseal(t *testing.T, mutate func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(fixedJWE, ".")
	hb, _ := b64.DecodeString(parts[0])
	var hdr map[string]any
	if err := json.Unmarshal(hb, &hdr); err != nil {
		t.Fatal(err)
	}
	mutate(hdr)
	nb, _ := json.Marshal(hdr)
	h := b64.EncodeToString(nb)
	block, _ := aes.NewCipher(mustHex(t, fixedCEK))
	gcm, _ := cipher.NewGCM(block)
	iv, _ := b64.DecodeString(parts[2])
	sealed := gcm.Seal(nil, iv, []byte(fixedPlaintext), []byte(h))
	return h + ".." + parts[2] + "." + b64.EncodeToString(sealed[:len(sealed)-16]) + "." + b64.EncodeToString(sealed[len(sealed)-16:])
}

func TestOpenKeysJWERefuses(t *testing.T) {
	priv := fixedRecipient(t)
	// The resealed header without changes must open, or the cases below
	// prove nothing.
	if _, err := OpenKeysJWE(priv, reseal(t, func(map[string]any) {})); err != nil {
		t.Fatalf("unchanged reseal refused: %v", err)
	}
	parts := strings.Split(fixedJWE, ".")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tampered := []byte(fixedJWE)
	tampered[len(tampered)-30] ^= 1
	tests := map[string]struct {
		key *ecdsa.PrivateKey
		jwe string
	}{
		"apu":             {priv, reseal(t, func(h map[string]any) { h["apu"] = "QWxpY2U" })},
		"apv":             {priv, reseal(t, func(h map[string]any) { h["apv"] = "Qm9i" })},
		"no epk":          {priv, reseal(t, func(h map[string]any) { delete(h, "epk") })},
		"alg dir":         {priv, reseal(t, func(h map[string]any) { h["alg"] = "dir" })},
		"enc A128GCM":     {priv, reseal(t, func(h map[string]any) { h["enc"] = "A128GCM" })},
		"padded tag":      {priv, fixedJWE + "=="},
		"encrypted key":   {priv, parts[0] + ".AAAA." + strings.Join(parts[2:], ".")},
		"four parts":      {priv, strings.Join(parts[:4], ".")},
		"wrong recipient": {other, fixedJWE},
		"tampered":        {priv, string(tampered)},
		"header not json": {priv, b64.EncodeToString([]byte("nope")) + ".." + strings.Join(parts[2:], ".")},
		"empty":           {priv, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := OpenKeysJWE(tc.key, tc.jwe); !errors.Is(err, ErrJWE) {
				t.Errorf("err = %v, want ErrJWE", err)
			}
		})
	}
}

func TestParseKeysJWKRefuses(t *testing.T) {
	good, _ := b64.DecodeString(fixedKeysJWK)
	var base map[string]any
	if err := json.Unmarshal(good, &base); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		m[k] = v
		j, _ := json.Marshal(m)
		return b64.EncodeToString(j)
	}
	for name, in := range map[string]string{
		"not b64":    "%%%",
		"not json":   b64.EncodeToString([]byte("[1]")),
		"P-384":      with("crv", "P-384"),
		"RSA":        with("kty", "RSA"),
		"off curve":  with("y", b64.EncodeToString(make([]byte, 32))),
		"short x":    with("x", "AAAA"),
		"padded b64": fixedKeysJWK + "=",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKeysJWK(in); !errors.Is(err, ErrJWE) {
				t.Errorf("err = %v, want ErrJWE", err)
			}
			if _, err := SealKeysJWE(in, []byte("x")); err == nil {
				t.Error("SealKeysJWE accepted it")
			}
		})
	}
}
