package onepw

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// ErrJWE is wrapped by the errors of SealKeysJWE and OpenKeysJWE.
var ErrJWE = errors.New("onepw: keys_jwe")

// The only algorithms of keys_jwe (Firefox jwcrypto.sys.mjs accepts no
// other): direct ECDH-ES key agreement on P-256, AES-256-GCM content.
var (
	jweKeyAlgs = []jose.KeyAlgorithm{jose.ECDH_ES}
	jweEncs    = []jose.ContentEncryption{jose.A256GCM}
)

// ecJWK is the part of Firefox's keys_jwk we import: kty, crv, x, y. The
// rest ({ext, key_ops}) is WebCrypto export noise.
type ecJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseKeysJWK reads the recipient key of keys_jwe: Firefox's keys_jwk
// query parameter, b64url of a JSON P-256 public JWK (the JSON itself is
// accepted too). The point must lie on the curve.
func ParseKeysJWK(keysJWK string) (*ecdsa.PublicKey, error) {
	raw := []byte(keysJWK)
	if !strings.HasPrefix(strings.TrimSpace(keysJWK), "{") {
		var err error
		if raw, err = b64.DecodeString(keysJWK); err != nil {
			return nil, fmt.Errorf("%w: keys_jwk is not base64url: %v", ErrJWE, err)
		}
	}
	var k ecJWK
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("%w: keys_jwk is not a JSON object: %v", ErrJWE, err)
	}
	if k.Kty != "EC" || k.Crv != "P-256" {
		return nil, fmt.Errorf("%w: keys_jwk must be an EC P-256 key", ErrJWE)
	}
	x, errX := b64.DecodeString(k.X)
	y, errY := b64.DecodeString(k.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("%w: keys_jwk x and y must be 32 bytes of base64url", ErrJWE)
	}
	point := append(append([]byte{4}, x...), y...)
	// crypto/ecdh checks that the point is on the curve and not infinity.
	if _, err := ecdh.P256().NewPublicKey(point); err != nil {
		return nil, fmt.Errorf("%w: keys_jwk: %v", ErrJWE, err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("%w: keys_jwk: %v", ErrJWE, err)
	}
	return pub, nil
}

// SealKeysJWE encrypts plaintext (the scoped-keys JSON) to Firefox's
// keys_jwk, as our page does: ECDH-ES with a fresh ephemeral P-256 key,
// Concat KDF with empty PartyU/PartyV, A256GCM, compact serialisation
// "hdr..iv.ct.tag" with every segment unpadded and a header of exactly alg,
// enc and epk (Firefox throws on apu/apv). go-jose produces exactly that;
// the tests pin the format and its key derivation.
func SealKeysJWE(keysJWK string, plaintext []byte) (string, error) {
	pub, err := ParseKeysJWK(keysJWK)
	if err != nil {
		return "", err
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: pub}, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrJWE, err)
	}
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrJWE, err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrJWE, err)
	}
	return out, nil
}

// OpenKeysJWE decrypts a keys_jwe with the private key of keys_jwk and the
// checks Firefox makes (jwcrypto.sys.mjs): five segments with an empty
// encrypted key, alg ECDH-ES, enc A256GCM, an epk, no apu or apv, no
// padding. Tests and scripted clients use it in Firefox's place.
func OpenKeysJWE(priv *ecdsa.PrivateKey, jwe string) ([]byte, error) {
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 || parts[1] != "" {
		return nil, fmt.Errorf("%w: want compact ECDH-ES form hdr..iv.ct.tag", ErrJWE)
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrJWE, err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrJWE, err)
	}
	if _, ok := hdr["apu"]; ok {
		return nil, fmt.Errorf("%w: apu in header", ErrJWE)
	}
	if _, ok := hdr["apv"]; ok {
		return nil, fmt.Errorf("%w: apv in header", ErrJWE)
	}
	if _, ok := hdr["epk"]; !ok {
		return nil, fmt.Errorf("%w: no epk in header", ErrJWE)
	}
	obj, err := jose.ParseEncryptedCompact(jwe, jweKeyAlgs, jweEncs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWE, err)
	}
	pt, err := obj.Decrypt(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWE, err)
	}
	return pt, nil
}
