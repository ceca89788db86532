package main

import (
	"context"
	"path/filepath"
	"testing"

	"syncserver/fxa"
)

// The token scenario's JWTs verify against the key set it prints, as the
// server verifies them with [oauth] jwks.
func TestTokenScenarioJWTVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.pem")
	k, err := loadJWTKey(path) // created
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadJWTKey(path) // read back
	if err != nil || !again.Equal(k) {
		t.Fatalf("key read back differs: %v", err)
	}
	v, err := fxa.New(fxa.Config{JWKS: jwksOf(k), OAuthURL: "http://fxa.invalid", Issuer: fxa.DefaultIssuer})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := signJWT(k, "0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Verify(context.Background(), jwt)
	if err != nil {
		t.Fatal(err)
	}
	if tok.UID != "0123456789abcdef0123456789abcdef" || tok.Generation != 1000 {
		t.Errorf("verified %+v", tok)
	}
}
