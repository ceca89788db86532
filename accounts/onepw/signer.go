package onepw

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKeyBits is the size of our JWT signing key.
const signingKeyBits = 2048

// TokenType is the JOSE typ of our access tokens (RFC 9068), as FxA's.
const TokenType = "at+JWT"

// ErrToken is wrapped by every refusal of Signer.Verify.
var ErrToken = errors.New("onepw: invalid access token")

// AccessClaims are the claims of our RS256 access tokens. Times are Unix
// seconds; Generation is the account's verifierSetAt in ms, published as
// "fxa-generation" so the tokenserver refuses tokens older than a password
// change. Aud is set (to the tokenserver URL) when the scope has oldsync.
type AccessClaims struct {
	Sub        string `json:"sub"`
	Scope      string `json:"scope"`
	ClientID   string `json:"client_id"`
	Iss        string `json:"iss"`
	Aud        string `json:"aud,omitempty"`
	JTI        string `json:"jti"`
	Iat        int64  `json:"iat"`
	Exp        int64  `json:"exp"`
	Generation int64  `json:"fxa-generation,omitempty"`
	// Grant is the hex SHA-256 of the refresh token the access token was
	// minted from (or with, at the code exchange): revoking that refresh
	// token (a phone's sign-out) revokes its access tokens too. It is the
	// refresh token's lookup hash, no secret: a client holding the token
	// can compute it.
	Grant string `json:"fxa-grant,omitempty"`
}

// NewSigningKey makes a fresh RSA-2048 signing key, serialised as a
// private JWK (JSON, with its kid) for the database.
func NewSigningKey() ([]byte, error) {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: string(jose.RS256), Use: "sig"}
	if jwk.KeyID, err = keyID(&priv.PublicKey); err != nil {
		return nil, err
	}
	return jwk.MarshalJSON()
}

// keyID names a public key by its RFC 7638 SHA-256 thumbprint, so a key's
// kid follows from the key and needs no storage of its own.
func keyID(pub *rsa.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(tp), nil
}

// Signer mints and verifies our access tokens. Its first key signs; the
// others (previous keys, newest first) only verify, so tokens minted before
// a key rotation stay valid until they expire. It is safe for concurrent
// use.
type Signer struct {
	signer jose.Signer
	keys   []jose.JSONWebKey // public keys, current first
	jwks   []byte
}

// NewSigner loads signing keys as NewSigningKey serialises them: the first
// is the current key, the rest are previous ones.
func NewSigner(keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("onepw: NewSigner needs a key")
	}
	s := &Signer{}
	var priv *rsa.PrivateKey
	for i, raw := range keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("onepw: signing key %d: %v", i, err)
		}
		k, ok := jwk.Key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("onepw: signing key %d is not an RSA private key", i)
		}
		if k.N.BitLen() < signingKeyBits {
			return nil, fmt.Errorf("onepw: signing key %d has %d bits, want %d", i, k.N.BitLen(), signingKeyBits)
		}
		kid, err := keyID(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			priv = k
		}
		s.keys = append(s.keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	var err error
	s.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256,
		Key: jose.JSONWebKey{Key: priv, KeyID: s.keys[0].KeyID}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return nil, err
	}
	s.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: s.keys})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// JWKS is the public key set, {"keys":[{kty,alg,use,kid,n,e}…]}, current
// key first.
func (s *Signer) JWKS() []byte { return s.jwks }

// Mint signs c as a compact RS256 JWT with typ at+JWT and the current kid.
func (s *Signer) Mint(c AccessClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	obj, err := s.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// Verify checks tok as one of our access tokens: compact RS256 only (none
// and every other alg are refused by the parser), a kid of one of our keys,
// a valid signature, and exp after now. It returns the claims.
func (s *Signer) Verify(tok string, now time.Time) (AccessClaims, error) {
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return AccessClaims{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if len(obj.Signatures) != 1 {
		return AccessClaims{}, fmt.Errorf("%w: want one signature", ErrToken)
	}
	kid := obj.Signatures[0].Header.KeyID
	var key *jose.JSONWebKey
	for i := range s.keys {
		if s.keys[i].KeyID == kid {
			key = &s.keys[i]
		}
	}
	if key == nil {
		return AccessClaims{}, fmt.Errorf("%w: unknown kid %q", ErrToken, kid)
	}
	payload, err := obj.Verify(key.Key)
	if err != nil {
		return AccessClaims{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	var c AccessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return AccessClaims{}, fmt.Errorf("%w: claims: %v", ErrToken, err)
	}
	if c.Exp == 0 || now.Unix() >= c.Exp {
		return AccessClaims{}, fmt.Errorf("%w: expired", ErrToken)
	}
	return c, nil
}
