package fxa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// verifyRemote asks the OAuth server about a token that is not a JWT
// (POST /v1/verify {"token": …}). A 4xx answer (errno 108 invalid token,
// 115 expired) rejects the token; anything that is not an answer about the
// token — network failure, timeout, 5xx, 429, or a body that is not the
// protocol's — makes FxA unavailable, so that an outage or a broken proxy
// never signs a user out.
func (v *Verifier) verifyRemote(ctx context.Context, ep Endpoints, tok string) (claims, error) {
	body, err := json.Marshal(map[string]string{"token": tok})
	if err != nil {
		return claims{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var out struct {
		User       string          `json:"user"`
		ClientID   string          `json:"client_id"`
		Scope      json.RawMessage `json:"scope"`
		Generation json.RawMessage `json:"generation"`
	}
	if err := v.fetch.doJSON(ctx, ep.OAuthURL+"/verify", body, &out); err != nil {
		return claims{}, unavailableUnlessRejected(err)
	}
	scope, ok := scopeList(out.Scope)
	if out.User == "" || !ok {
		return claims{}, fmt.Errorf("%w: POST %s/verify: answer lacks user or scope", ErrUnavailable, ep.OAuthURL)
	}
	return claims{uid: out.User, clientID: out.ClientID, scope: scope, generation: out.Generation}, nil
}

// verifyUnknownKid asks the OAuth server about a JWT whose kid no key we
// hold has, as PyFxA did for the legacy tokenserver: it is forged, or
// signed with a key FxA has just started using and we could not fetch
// (yet). FxA's "no" rejects it; only when FxA cannot answer at all is it
// unavailable. When FxA vouches for it, its key is fetched soon, so that
// the next tokens signed with it are checked locally.
func (v *Verifier) verifyUnknownKid(ctx context.Context, ep Endpoints, tok string, uk *unknownKidError) (claims, error) {
	c, err := v.verifyRemote(ctx, ep, tok)
	switch {
	case errors.Is(err, ErrRejected):
		return claims{}, fmt.Errorf("JWT with kid %q, which no key has: %w", uk.kid, err)
	case err != nil:
		return claims{}, fmt.Errorf("%w; and FxA cannot tell: %v", uk, err)
	}
	v.keys.refreshFor(ep, uk.kid)
	// FxA vouched for the whole token, so its exp can bound the cache.
	if pb, err := decodeSegment(strings.Split(tok, ".")[1]); err == nil {
		var jc jwtClaims
		if json.Unmarshal(pb, &jc) == nil {
			if exp, ok := numericDate(jc.Exp); ok {
				sec, frac := math.Modf(exp)
				c.expires = time.Unix(int64(sec), int64(frac*1e9))
			}
		}
	}
	return c, nil
}

// parseGeneration reads fxa-generation: absent or null is 0; anything but
// an integer literal (1.5, 1e3, "12") is ErrInvalidGeneration, as the
// legacy tokenserver accepted only a JSON integer.
func parseGeneration(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %.40s", ErrInvalidGeneration, raw)
	}
	return n, nil
}
