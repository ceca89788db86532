package accounts

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
	"syncserver/handlers"
)

// Public clients (spec §3.4): Firefox desktop, Fenix and Firefox iOS. All
// use the WebChannel redirect; PKCE binds their codes.
var clients = map[string]string{
	desktopClientID:    "Firefox",
	"a2270f727f45f648": "Firefox for Android",
	"1b1a3e44c54fbb58": "Firefox for iOS",
}

// codeExpiryGrace is how long the store keeps a code past its life
// (codeTTL): it forgets a code at its Expires, and a redemption shortly
// too late should hear "expired code" (107), not "unknown code" (105).
const codeExpiryGrace = 5 * time.Minute

const desktopClientID = "5882386c6d801776"

const webChannelRedirect = "urn:ietf:wg:oauth:2.0:oob:oauth-redirect-webchannel"

var allowedScopeList = []string{onepw.ScopeProfile, onepw.ScopeOldSync, onepw.ScopeSession}

// parseScopes splits a space-separated scope and refuses any scope we do
// not grant (OAuth 400/114). Duplicates are dropped.
func parseScopes(scope string) ([]string, error) {
	var out []string
	for _, sc := range strings.Fields(scope) {
		if !slices.Contains(allowedScopeList, sc) {
			return nil, errOAuth(oauthInvalidScopes, "Requested scopes are not allowed")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, errOAuth(oauthInvalidScopes, "Requested scopes are not allowed")
	}
	return out, nil
}

func checkClient(id string) error {
	if _, ok := clients[id]; !ok {
		return errOAuth(oauthUnknownClient, "Unknown client")
	}
	return nil
}

// scopedKeyData is POST /v1/account/scoped-key-data: what the page (and
// mobile) need to derive the scoped keys, for key-bearing scopes only.
func (s *Service) scopedKeyData(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	var req struct {
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
	}
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	if err := checkClient(req.ClientID); err != nil {
		return nil, err
	}
	scopes, err := parseScopes(req.Scope)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if slices.Contains(scopes, onepw.ScopeOldSync) {
		out[onepw.ScopeOldSync] = map[string]any{
			"identifier":           onepw.ScopeOldSync,
			"keyRotationSecret":    strings.Repeat("0", 64),
			"keyRotationTimestamp": cr.account.KeysChangedAt,
		}
	}
	return s.jsonOK(c, out)
}

// authorization is POST /v1/oauth/authorization (page, session): it
// stores a single-use code with the PKCE challenge and the page's keys_jwe,
// which the server cannot read and echoes byte for byte.
func (s *Service) authorization(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	var req struct {
		ClientID            string `json:"client_id"`
		State               string `json:"state"`
		Scope               string `json:"scope"`
		ResponseType        string `json:"response_type"`
		AccessType          string `json:"access_type"`
		CodeChallenge       string `json:"code_challenge"`
		CodeChallengeMethod string `json:"code_challenge_method"`
		KeysJWE             string `json:"keys_jwe"`
	}
	if err := decode(c, &req, true); err != nil {
		return nil, err
	}
	if err := checkClient(req.ClientID); err != nil {
		return nil, err
	}
	if req.ResponseType != "" && req.ResponseType != "code" {
		return nil, errOAuth(oauthInvalidParameter, "Invalid parameter: response_type")
	}
	if req.State == "" {
		return nil, errOAuth(oauthInvalidParameter, "Missing parameter: state")
	}
	scopes, err := parseScopes(req.Scope)
	if err != nil {
		return nil, err
	}
	if req.CodeChallenge == "" || req.CodeChallengeMethod == "" {
		return nil, errOAuth(oauthPKCEMissing, "PKCE parameters missing")
	}
	if req.CodeChallengeMethod != "S256" || len(req.CodeChallenge) != 43 {
		return nil, errOAuth(oauthInvalidParameter, "Invalid parameter: code_challenge (S256 only)")
	}
	if len(req.KeysJWE) > 8192 {
		return nil, errOAuth(oauthInvalidParameter, "Invalid parameter: keys_jwe")
	}
	code := randomHex(32)
	now := c.start.UnixMilli()
	if err := s.store.PutOAuthCode(ctx, db.OAuthCode{
		Hash: hashSecret(code), ClientID: req.ClientID, UID: cr.account.UID,
		Scope: strings.Join(scopes, " "), Challenge: req.CodeChallenge, KeysJWE: req.KeysJWE,
		SessionIDHash: cr.hash, AuthAt: cr.session.CreatedAt / 1000, Expires: now + (codeTTL + codeExpiryGrace).Milliseconds(),
	}); err != nil {
		return nil, errServer(err)
	}
	return s.jsonOK(c, map[string]any{"code": code, "state": req.State, "redirect": webChannelRedirect})
}

type tokenRequest struct {
	GrantType    string      `json:"grant_type"`
	ClientID     string      `json:"client_id"`
	Code         string      `json:"code"`
	CodeVerifier string      `json:"code_verifier"`
	Scope        string      `json:"scope"`
	RefreshToken string      `json:"refresh_token"`
	AccessType   string      `json:"access_type"`
	TTL          json.Number `json:"ttl"`
}

// token is POST /v1/oauth/token (and its alias /v1/token).
func (s *Service) token(ctx context.Context, c *call) (*handlers.Response, error) {
	var req tokenRequest
	if err := decode(c, &req, true); err != nil {
		return nil, err
	}
	if err := checkClient(req.ClientID); err != nil {
		return nil, err
	}
	ttl := s.opts.AccessTokenTTL
	if req.TTL != "" {
		n, err := strconv.ParseInt(string(req.TTL), 10, 64)
		if err != nil || n <= 0 {
			return nil, errOAuth(oauthInvalidParameter, "Invalid parameter: ttl")
		}
		ttl = min(ttl, time.Duration(min(n, 1<<31))*time.Second)
	}
	switch req.GrantType {
	case "authorization_code", "":
		return s.codeGrant(ctx, c, req, ttl)
	case "fxa-credentials":
		return s.credentialsGrant(ctx, c, req, ttl)
	case "refresh_token":
		return s.refreshGrant(ctx, c, req, ttl)
	}
	return nil, errOAuth(oauthInvalidParameter, "Invalid parameter: grant_type")
}

// codeGrant redeems a code: desktop signs it with Hawk(session), mobile
// sends no auth (PKCE is the binding). The code goes on first use, even
// when the verifier is wrong, so a code cannot be guessed at.
func (s *Service) codeGrant(ctx context.Context, c *call, req tokenRequest, ttl time.Duration) (*handlers.Response, error) {
	cr, err := s.optionalSession(ctx, c)
	if err != nil {
		return nil, err
	}
	if req.Code == "" {
		return nil, errOAuth(oauthInvalidParameter, "Missing parameter: code")
	}
	if req.CodeVerifier == "" {
		return nil, errOAuth(oauthPKCEMissing, "PKCE parameters missing")
	}
	code, err := s.store.TakeOAuthCode(ctx, hashSecret(req.Code))
	if errors.Is(err, db.ErrNotFound) {
		return nil, errOAuth(oauthUnknownCode, "Unknown code")
	}
	if err != nil {
		return nil, errServer(err)
	}
	switch {
	case code.ClientID != req.ClientID:
		return nil, errOAuth(oauthMismatchedCode, "Incorrect code for this client")
	case code.Expires-codeExpiryGrace.Milliseconds() <= c.start.UnixMilli():
		return nil, errOAuth(oauthExpiredCode, "Expired code")
	case subtle.ConstantTimeCompare([]byte(onepw.PKCEChallenge(req.CodeVerifier)), []byte(code.Challenge)) != 1:
		return nil, errOAuth(oauthPKCEMismatch, "Incorrect code_challenge")
	case cr != nil && cr.account.UID != code.UID:
		return nil, errOAuth(oauthUnknownCode, "Unknown code")
	}
	acct, err := s.liveAccount(ctx, code.UID)
	if err != nil {
		return nil, err
	}
	scopes := strings.Fields(code.Scope)
	refresh := randomHex(32)
	now := c.start.UnixMilli()
	if err := s.store.PutRefreshToken(ctx, db.RefreshToken{
		Hash: hashSecret(refresh), ClientID: req.ClientID, UID: acct.UID, Scope: code.Scope,
		SessionIDHash: code.SessionIDHash, CreatedAt: now, LastUsed: now,
	}); err != nil {
		return nil, errServer(err)
	}
	// The phones keep the refresh token, and its access tokens die with
	// it. Desktop destroys the refresh token at once and may still use
	// the access token it came with: that one lives its own life.
	var grant []byte
	if req.ClientID != desktopClientID {
		grant = hashSecret(refresh)
	}
	at, exp, err := s.mint(acct, req.ClientID, scopes, ttl, c.start, grant)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"access_token":  at,
		"token_type":    "bearer",
		"scope":         code.Scope,
		"expires_in":    exp,
		"auth_at":       code.AuthAt,
		"refresh_token": refresh,
	}
	if code.KeysJWE != "" {
		out["keys_jwe"] = code.KeysJWE
	}
	if slices.Contains(scopes, onepw.ScopeSession) {
		// The mobile library gets its session token only this way.
		sess, err := s.newSession(ctx, c, acct, nil, false)
		if err != nil {
			return nil, err
		}
		out["session_token"] = sess["sessionToken"]
	}
	return s.jsonOK(c, out)
}

// credentialsGrant is grant_type=fxa-credentials: Hawk(session) required,
// which is how Firefox gets its Sync access tokens.
func (s *Service) credentialsGrant(ctx context.Context, c *call, req tokenRequest, ttl time.Duration) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	scopes, err := parseScopes(req.Scope)
	if err != nil {
		return nil, err
	}
	at, exp, err := s.mint(cr.account, req.ClientID, scopes, ttl, c.start, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"access_token": at,
		"token_type":   "bearer",
		"scope":        strings.Join(scopes, " "),
		"expires_in":   exp,
		"auth_at":      cr.session.CreatedAt / 1000,
	}
	if req.AccessType == "offline" {
		refresh := randomHex(32)
		now := c.start.UnixMilli()
		if err := s.store.PutRefreshToken(ctx, db.RefreshToken{
			Hash: hashSecret(refresh), ClientID: req.ClientID, UID: cr.account.UID,
			Scope: strings.Join(scopes, " "), SessionIDHash: cr.hash, CreatedAt: now, LastUsed: now,
		}); err != nil {
			return nil, errServer(err)
		}
		out["refresh_token"] = refresh
	}
	return s.jsonOK(c, out)
}

// refreshGrant is grant_type=refresh_token (mobile): the scope may narrow,
// never widen; a dead token is 401/110.
func (s *Service) refreshGrant(ctx context.Context, c *call, req tokenRequest, ttl time.Duration) (*handlers.Response, error) {
	if req.RefreshToken == "" {
		return nil, errOAuth(oauthInvalidParameter, "Missing parameter: refresh_token")
	}
	rt, err := s.store.RefreshToken(ctx, hashSecret(req.RefreshToken))
	if errors.Is(err, db.ErrNotFound) || err == nil && rt.ClientID != req.ClientID {
		return nil, errInvalidToken(errors.New("unknown refresh token"))
	}
	if err != nil {
		return nil, errServer(err)
	}
	acct, err := s.liveAccount(ctx, rt.UID)
	if err != nil {
		return nil, err
	}
	granted := strings.Fields(rt.Scope)
	scopes := granted
	if req.Scope != "" {
		if scopes, err = parseScopes(req.Scope); err != nil {
			return nil, err
		}
		for _, sc := range scopes {
			if !slices.Contains(granted, sc) {
				return nil, errOAuth(oauthInvalidScopes, "Requested scopes are not allowed")
			}
		}
	}
	if err := s.store.TouchRefreshToken(ctx, rt.Hash, c.start.UnixMilli()); err != nil && !errors.Is(err, db.ErrNotFound) {
		s.log.Debug("accounts: recording a refresh token's use", "error", err.Error())
	}
	at, exp, err := s.mint(acct, req.ClientID, scopes, ttl, c.start, rt.Hash)
	if err != nil {
		return nil, err
	}
	return s.jsonOK(c, map[string]any{
		"access_token": at,
		"token_type":   "bearer",
		"scope":        strings.Join(scopes, " "),
		"expires_in":   exp,
	})
}

// mint signs an access token; aud is the tokenserver for oldsync, and
// fxa-generation is verifierSetAt, so a password change retires older
// tokens at the tokenserver. grant is the hash of the refresh token the
// token belongs to, nil for none: it dies with that refresh token.
func (s *Service) mint(acct db.Account, clientID string, scopes []string, ttl time.Duration, now time.Time, grant []byte) (string, int64, error) {
	secs := int64(ttl / time.Second)
	c := onepw.AccessClaims{
		Sub:        acct.UID,
		Scope:      strings.Join(scopes, " "),
		ClientID:   clientID,
		Iss:        s.origin,
		JTI:        randomHex(16),
		Iat:        now.Unix(),
		Exp:        now.Unix() + secs,
		Generation: acct.VerifierSetAt,
	}
	if grant != nil {
		c.Grant = hex.EncodeToString(grant)
	}
	if slices.Contains(scopes, onepw.ScopeOldSync) {
		c.Aud = s.opts.TokenServerURL
	}
	tok, err := s.signer.Load().Mint(c)
	if err != nil {
		return "", 0, errServer(err)
	}
	return tok, secs, nil
}

// destroy is POST /v1/oauth/destroy and /v1/destroy: always 200 {} — a
// failure here aborts Firefox's sign-in after the account shows verified
// (spec §7). A refresh token is deleted with its device; access tokens are
// stateless JWTs that expire by themselves.
func (s *Service) destroy(ctx context.Context, c *call) (*handlers.Response, error) {
	var req struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refresh_token"`
		AccessToken  string `json:"access_token"`
	}
	if err := decode(c, &req, true); err != nil {
		return s.jsonOK(c, empty)
	}
	for _, t := range []string{req.Token, req.RefreshToken} {
		if t == "" || strings.Count(t, ".") == 2 {
			continue
		}
		err := s.store.DeleteRefreshToken(ctx, hashSecret(t))
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			s.log.Warn("accounts: destroying a refresh token", "error", err.Error())
		}
	}
	return s.jsonOK(c, empty)
}

// introspect is POST /v1/introspect (mobile checks its refresh token).
func (s *Service) introspect(ctx context.Context, c *call) (*handlers.Response, error) {
	var req struct {
		Token         string `json:"token"`
		TokenTypeHint string `json:"token_type_hint"`
	}
	if err := decode(c, &req, true); err != nil {
		return nil, err
	}
	if req.Token == "" {
		return nil, errOAuth(oauthInvalidParameter, "Missing parameter: token")
	}
	if strings.Count(req.Token, ".") == 2 {
		claims, err := s.checkAccessToken(ctx, req.Token, c.start)
		if e := asAPIError(err); err != nil && e.status >= 500 {
			return nil, err
		}
		if err == nil {
			return s.jsonOK(c, map[string]any{"active": true, "scope": claims.Scope, "client_id": claims.ClientID,
				"sub": claims.Sub, "exp": claims.Exp, "iat": claims.Iat, "token_type": "access_token"})
		}
		return s.jsonOK(c, map[string]any{"active": false})
	}
	rt, err := s.store.RefreshToken(ctx, hashSecret(req.Token))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, errServer(err)
	}
	if err == nil {
		if _, err := s.liveAccount(ctx, rt.UID); err == nil {
			return s.jsonOK(c, map[string]any{"active": true, "scope": rt.Scope, "client_id": rt.ClientID,
				"sub": rt.UID, "iat": rt.CreatedAt / 1000, "token_type": "refresh_token"})
		}
	}
	return s.jsonOK(c, map[string]any{"active": false})
}

// jwks is GET /v1/jwks: the current and previous public keys.
func (s *Service) jwks(_ context.Context, c *call) (*handlers.Response, error) {
	r := &handlers.Response{Status: http.StatusOK, Header: make(http.Header), Body: s.signer.Load().JWKS()}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	s.commonHeaders(r.Header, c.start)
	return r, nil
}

// verify is POST /v1/verify: FxA's OAuth verification answer for our
// tokens; a bad token is 400/108.
func (s *Service) verify(ctx context.Context, c *call) (*handlers.Response, error) {
	var req struct {
		Token string `json:"token"`
	}
	if err := decode(c, &req, true); err != nil {
		return nil, err
	}
	claims, err := s.checkAccessToken(ctx, req.Token, c.start)
	if err != nil {
		var e *apiError
		if errors.As(err, &e) && e.status >= 500 {
			return nil, err
		}
		return nil, errOAuth(oauthInvalidToken, "Invalid token")
	}
	return s.jsonOK(c, map[string]any{"user": claims.Sub, "client_id": claims.ClientID,
		"scope": strings.Fields(claims.Scope), "generation": claims.Generation})
}

// checkAccessToken verifies one of our access tokens and that its account
// is alive and its generation current.
func (s *Service) checkAccessToken(ctx context.Context, tok string, now time.Time) (onepw.AccessClaims, error) {
	claims, err := s.verifyJWT(ctx, tok, now)
	if err != nil {
		return onepw.AccessClaims{}, errInvalidToken(err)
	}
	if claims.Iss != s.origin {
		return onepw.AccessClaims{}, errInvalidToken(errors.New("issuer " + claims.Iss))
	}
	acct, err := s.liveAccount(ctx, claims.Sub)
	if err != nil {
		return onepw.AccessClaims{}, err
	}
	if claims.Generation < acct.VerifierSetAt {
		return onepw.AccessClaims{}, errInvalidToken(errors.New("token older than the password"))
	}
	if claims.Grant != "" {
		// A token of a refresh token lives only as long as it.
		h, err := hex.DecodeString(claims.Grant)
		if err != nil {
			return onepw.AccessClaims{}, errInvalidToken(errors.New("bad fxa-grant"))
		}
		rt, err := s.store.RefreshToken(ctx, h)
		if errors.Is(err, db.ErrNotFound) || err == nil && rt.UID != claims.Sub {
			return onepw.AccessClaims{}, errInvalidToken(errors.New("its refresh token is revoked"))
		}
		if err != nil {
			return onepw.AccessClaims{}, errServer(err)
		}
	}
	return claims, nil
}

// ClientName is how the admin view names an OAuth client id: Firefox,
// Firefox for Android or Firefox for iOS, else the id itself.
func ClientName(id string) string {
	if n, ok := clients[id]; ok {
		return n
	}
	return id
}
