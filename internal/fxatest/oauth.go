package fxatest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// grant is what an access token the stand-in minted says.
type grant struct {
	uid        string
	clientID   string
	scope      []string
	generation int64
	expires    time.Time
}

// TokenOptions shape an access token. The zero value is what Firefox gets
// for Sync: scope oldsync, Firefox's client id, one hour.
type TokenOptions struct {
	Scope    string // space-separated; default OldSyncScope
	ClientID string
	TTL      time.Duration
	// Opaque mints a 64-hex token that only /v1/verify can check, instead
	// of a JWT.
	Opaque bool
	// Header and Claims are merged over the JWT's; a nil value deletes a
	// key. They let a test mint tokens FxA never would (wrong typ, …).
	Header map[string]any
	Claims map[string]any
	// Forge mints what an attacker would: a well-formed JWT signed with a
	// key FxA never had (its kid unknown unless Header sets one), which
	// /v1/verify rejects like any token it did not issue.
	Forge bool
}

// AccessToken mints an access token for the account with this UID (which
// must have been set) as FxA's /v1/oauth/token would.
func (s *Server) AccessToken(uid string, o TokenOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[uid]
	if !ok {
		panic("fxatest: no account " + uid)
	}
	return s.mintLocked(*a, o)
}

// JWT mints a Sync access token (a JWT) for the account.
func (s *Server) JWT(uid string) string { return s.AccessToken(uid, TokenOptions{}) }

// OpaqueToken mints a Sync access token that is not a JWT.
func (s *Server) OpaqueToken(uid string) string {
	return s.AccessToken(uid, TokenOptions{Opaque: true})
}

// Revoke makes /v1/verify reject tok (a JWT stays valid to anyone who
// checks it locally, as with FxA).
func (s *Server) Revoke(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tok)
}

func (s *Server) mintLocked(a Account, o TokenOptions) string {
	if o.Scope == "" {
		o.Scope = OldSyncScope
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.TTL == 0 {
		o.TTL = defaultTokenLifetime
	}
	now := s.now()
	g := grant{
		uid:        a.UID,
		clientID:   o.ClientID,
		scope:      strings.Fields(o.Scope),
		generation: a.Generation,
		expires:    now.Add(o.TTL),
	}
	var tok string
	if o.Opaque {
		tok = randomHex(32)
	} else {
		key := s.signingKeyLocked()
		if o.Forge {
			key = signingKey{kid: "forged-" + randomHex(4), priv: forgerKey()}
		}
		header := map[string]any{"alg": "RS256", "typ": "at+JWT", "kid": key.kid}
		claims := map[string]any{
			"aud":       s.URL,
			"client_id": g.clientID,
			"exp":       g.expires.Unix(),
			"iat":       now.Unix(),
			"iss":       s.URL,
			"jti":       randomHex(16),
			"scope":     strings.Join(g.scope, " "),
			"sub":       g.uid,
		}
		if a.Generation != 0 {
			claims["fxa-generation"] = a.Generation
		}
		mergeInto(header, o.Header)
		mergeInto(claims, o.Claims)
		tok = signJWT(key.priv, header, claims)
	}
	if !o.Forge {
		s.tokens[tok] = g
	}
	return tok
}

// forgerKey signs forged tokens: one key for the test binary, as
// generating one is slow.
var forgerKey = sync.OnceValue(func() *rsa.PrivateKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("fxatest: " + err.Error())
	}
	return priv
})

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

func signJWT(priv *rsa.PrivateKey, header, claims map[string]any) string {
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64(hb) + "." + b64(cb)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
	if err != nil {
		panic("fxatest: " + err.Error())
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksLocked is the published key set, as FxA's /v1/jwks answers it.
func (s *Server) jwksLocked() map[string]any {
	keys := make([]any, 0, len(s.keys))
	for _, k := range s.keys {
		keys = append(keys, map[string]any{
			"kty":           "RSA",
			"alg":           "RS256",
			"use":           "sig",
			"kid":           k.kid,
			"n":             b64(k.priv.N.Bytes()),
			"e":             b64(big.NewInt(int64(k.priv.E)).Bytes()),
			"fxa-createdAt": 1767225600,
		})
	}
	return map[string]any{"keys": keys}
}

// serveVerify is POST /v1/verify: {"token"} → what the token grants, or
// 400 errno 108 (unknown) / 115 (expired).
func (s *Server) serveVerify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || req.Token == "" {
		writeError(w, http.StatusBadRequest, 109, "invalid request parameter")
		return
	}
	s.mu.Lock()
	g, ok := s.tokens[req.Token]
	now := s.now()
	s.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, 108, "invalid token")
		return
	case !now.Before(g.expires):
		writeError(w, http.StatusBadRequest, 115, "expired token")
		return
	}
	out := map[string]any{"user": g.uid, "client_id": g.clientID, "scope": g.scope}
	if g.generation != 0 {
		out["generation"] = g.generation
	}
	writeJSON(w, http.StatusOK, out)
}

// serveOAuthToken is Firefox's POST /v1/oauth/token with grant_type
// fxa-credentials. The Hawk signature made with the session token is not
// checked (this is a stand-in); its id picks the account, and with a
// single account any request gets that one.
func (s *Server) serveOAuthToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID  string `json:"client_id"`
		GrantType string `json:"grant_type"`
		Scope     string `json:"scope"`
		TTL       int64  `json:"ttl"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, 107, "invalid JSON")
		return
	}
	if req.GrantType != "fxa-credentials" {
		writeError(w, http.StatusBadRequest, 107, "unsupported grant_type")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accountForLocked(r)
	if a == nil {
		writeError(w, http.StatusUnauthorized, 110, "invalid authentication token")
		return
	}
	ttl := time.Duration(req.TTL) * time.Second
	if ttl <= 0 {
		ttl = defaultTokenLifetime
	}
	scope := req.Scope
	if scope == "" {
		scope = OldSyncScope
	}
	tok := s.mintLocked(*a, TokenOptions{Scope: scope, ClientID: req.ClientID, TTL: ttl})
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "bearer",
		"scope":        scope,
		"expires_in":   int64(ttl / time.Second),
		"auth_at":      s.now().Unix(),
	})
}

var hawkIDRE = regexp.MustCompile(`\bid="([^"]*)"`)

// accountForLocked finds the account a Firefox request speaks for: by the
// Hawk id of its session token, by a Bearer access token, or the only
// account there is.
func (s *Server) accountForLocked(r *http.Request) *Account {
	authz := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(authz, " ")
	switch strings.ToLower(scheme) {
	case "hawk":
		if m := hawkIDRE.FindStringSubmatch(cred); m != nil {
			for _, a := range s.accounts {
				if a.SessionTokenID() == m[1] {
					return a
				}
			}
		}
	case "bearer":
		if g, ok := s.tokens[strings.TrimSpace(cred)]; ok {
			if a, ok := s.accounts[g.uid]; ok {
				return a
			}
		}
	}
	if len(s.accounts) == 1 {
		for _, a := range s.accounts {
			return a
		}
	}
	return nil
}
