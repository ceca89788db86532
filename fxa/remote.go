package fxa

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
