package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The token scenario (S7) asks the tokenserver for storage tokens as
// Firefox does: GET /token/1.0/sync/1.5 with an FxA OAuth access token (a
// JWT) and X-KeyID. The server verifies the JWTs locally against a static
// key set ([oauth] jwks) holding the public half of -jwt-key, so no FxA
// server is involved. Each user presents one JWT for the whole run, as
// Firefox presents the same access token for every storage token of its
// lifetime; the first request of each user (in the set-up) creates it.

// jwtKID is the kid of the load tool's signing key.
const jwtKID = "syncload"

// loadJWTKey reads an RSA private key in PEM (PKCS #1 or #8) from path,
// or creates one there when the file does not exist.
func loadJWTKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der := x509.MarshalPKCS1PrivateKey(k)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})
		return k, os.WriteFile(path, pemBytes, 0o600)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", path)
	}
	return rk, nil
}

// jwksOf is the JSON key set holding k's public half, for the server's
// [oauth] jwks.
func jwksOf(k *rsa.PrivateKey) string {
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": jwtKID,
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}}}
	out, _ := json.Marshal(set)
	return string(out)
}

// signJWT mints an FxA-like access token for fxaUID with the oldsync
// scope, valid for a day.
func signJWT(k *rsa.PrivateKey, fxaUID string) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "at+JWT", "kid": jwtKID})
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"sub": fxaUID, "client_id": "5882386c6d801776", "scope": "https://identity.mozilla.com/apps/oldsync",
		"iat": now, "exp": now + 24*3600, "fxa-generation": 1000,
	})
	input := b64(hdr) + "." + b64(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// tokenUser is what one synthetic Firefox presents to the tokenserver.
type tokenUser struct {
	authz, keyID string
}

// setupTokenUsers mints each user's JWT; the FxA uid is derived from the
// synthetic uid, so that runs against one database find the same users.
func (l *loader) setupTokenUsers() error {
	k, err := loadJWTKey(l.o.jwtKey)
	if err != nil {
		return err
	}
	// keys_changed_at 1000 (the generation) and a fixed client state.
	keyID := "1000-" + base64.RawURLEncoding.EncodeToString([]byte("syncload-keys-16"))
	for _, u := range l.users {
		sum := sha256.Sum256([]byte("syncload " + strconv.FormatInt(u.uid, 10)))
		jwt, err := signJWT(k, hex.EncodeToString(sum[:16]))
		if err != nil {
			return err
		}
		u.token = &tokenUser{authz: "Bearer " + jwt, keyID: keyID}
	}
	for _, u := range l.users {
		if st, err := l.getToken(u); err != nil || st != 200 {
			return fmt.Errorf("first token request: status %d, %v (is the server's [oauth] jwks the one of -jwt-key? syncload -jwt-key FILE -print-jwks prints it)", st, err)
		}
	}
	return nil
}

// getToken sends u's token request and returns its status.
func (l *loader) getToken(u *user) (int, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(l.base.String() + "/token/1.0/sync/1.5")
	req.Header.Set("Authorization", u.token.authz)
	req.Header.Set("X-KeyID", u.token.keyID)
	if err := l.client.Do(req, resp); err != nil {
		return 0, err
	}
	return resp.StatusCode(), nil
}
