package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"

	"syncserver/accounts/onepw"
	"syncserver/db"
	"syncserver/handlers"
)

// sessionStatus is GET /v1/session/status.
func (s *Service) sessionStatus(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.jsonOK(c, map[string]any{"state": "verified", "uid": cr.account.UID})
}

// sessionDestroy is POST /v1/session/destroy: sign-out. The store deletes
// the session's device, codes and refresh tokens along with it.
func (s *Service) sessionDestroy(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteAuthToken(ctx, cr.hash); err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, errServer(err)
	}
	return s.jsonOK(c, empty)
}

// sessionDuplicate is POST /v1/session/duplicate (mobile): a fresh session
// of the same account.
func (s *Service) sessionDuplicate(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	out, err := s.newSession(ctx, c, cr.account, nil, false)
	if err != nil {
		return nil, err
	}
	return s.jsonOK(c, map[string]any{"uid": out["uid"], "sessionToken": out["sessionToken"], "verified": true, "authAt": out["authAt"]})
}

// accountStatus is GET /v1/account/status?uid= (no auth, no email form,
// which would enumerate accounts).
func (s *Service) accountStatus(ctx context.Context, c *call) (*handlers.Response, error) {
	uid := c.query.Get("uid")
	if uid == "" {
		return nil, newError(http.StatusBadRequest, errnoMissingParameter, "Missing parameter in request query: uid")
	}
	if !isHex(uid, 16) {
		return nil, newError(http.StatusBadRequest, errnoInvalidParameter, "Invalid parameter in request query: uid")
	}
	_, err := s.store.AccountByUID(ctx, uid)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, errServer(err)
	}
	return s.jsonOK(c, map[string]any{"exists": err == nil})
}

// recoveryEmailStatus is GET /v1/recovery_email/status: our accounts are
// verified by their creation (the operator or an invitation).
func (s *Service) recoveryEmailStatus(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.jsonOK(c, map[string]any{"email": cr.account.Email, "verified": true, "sessionVerified": true, "emailVerified": true})
}

// profile is GET /profile/v1/profile, Bearer with the profile scope. The
// avatar is a non-null URL serving an image (mobile requires it). It sends
// an ETag and answers If-None-Match with 304.
func (s *Service) profile(ctx context.Context, c *call) (*handlers.Response, error) {
	tok := bearer(c)
	if tok == "" {
		return nil, errInvalidToken(errors.New("no bearer token"))
	}
	claims, err := s.checkAccessToken(ctx, tok, c.start)
	if err != nil {
		return nil, err
	}
	ok := slices.ContainsFunc(strings.Fields(claims.Scope), func(sc string) bool {
		return sc == onepw.ScopeProfile || strings.HasPrefix(sc, onepw.ScopeProfile+":")
	})
	if !ok {
		return nil, newError(http.StatusForbidden, 100, "Requested scopes are not allowed")
	}
	acct, err := s.liveAccount(ctx, claims.Sub)
	if err != nil {
		return nil, err
	}
	locale := acct.Locale
	if locale == "" {
		locale = "en-US"
	}
	resp, err := s.jsonOK(c, map[string]any{
		"uid": acct.UID, "email": acct.Email, "locale": locale, "displayName": nil,
		"avatar": s.origin + "/avatar/default.png", "avatarDefault": true,
		"amrValues": []string{"pwd"}, "twoFactorAuthentication": false,
		"subscriptions": []string{},
	})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(resp.Body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	resp.Header.Set("ETag", etag)
	if inm := c.req.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		resp.Status = http.StatusNotModified
		resp.Body = nil
		resp.Header.Del("Content-Type")
	}
	return resp, nil
}

// etagMatches compares If-None-Match with our ETag. The mobile library
// keeps the ETag header as it came, quotes included, and sends it back
// wrapped in quotes once more (`""abc""`): quotes are ignored on both
// sides, or the phone would never see a 304.
func etagMatches(header, etag string) bool {
	bare := strings.Trim(etag, `"`)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || strings.Trim(t, `"`) == bare {
			return true
		}
	}
	return false
}
