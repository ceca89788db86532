package fxa

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwtType is the JOSE typ of FxA access tokens (RFC 9068), normalised.
const jwtType = "application/at+jwt"

// looksLikeJWT reports whether tok has the shape of a JWS compact
// serialisation whose header is a JSON object. Anything else — FxA's
// opaque tokens are 64 hex digits — goes to /v1/verify.
func looksLikeJWT(tok string) bool {
	if strings.Count(tok, ".") != 2 {
		return false
	}
	h, _, _ := strings.Cut(tok, ".")
	var hdr map[string]json.RawMessage
	b, err := decodeSegment(h)
	return err == nil && json.Unmarshal(b, &hdr) == nil && hdr != nil
}

// decodeSegment decodes unpadded base64url, tolerating padding.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// normalizeType applies RFC 8725's media type rule to a JOSE typ: case is
// irrelevant and "application/" is implied when there is no "/".
func normalizeType(typ string) string {
	typ = strings.ToLower(typ)
	if !strings.Contains(typ, "/") {
		typ = "application/" + typ
	}
	return typ
}

// jwtClaims is the payload of an FxA access token. Numbers stay raw so that
// their JSON type can be checked.
type jwtClaims struct {
	Sub        string          `json:"sub"`
	ClientID   string          `json:"client_id"`
	Scope      json.RawMessage `json:"scope"`
	Exp        json.RawMessage `json:"exp"`
	Nbf        json.RawMessage `json:"nbf"`
	Generation json.RawMessage `json:"fxa-generation"`
}

// verifyJWT checks an access token locally: RS256 only (HS256 and none are
// refused before any key is looked at), typ at+JWT, a signature by a key of
// the OAuth server, exp (required) and nbf (if present) against the clock.
// aud and iss are not checked, as neither upstream tokenserver does: the
// key already proves FxA issued it. Parsing and signature checks are
// go-jose's; the policy (which alg, typ and crit, which keys, the claims)
// is ours.
func (v *Verifier) verifyJWT(ctx context.Context, ep Endpoints, tok string, now time.Time) (claims, error) {
	// Only RS256 parses: HS256 (keyed with the public key), none and
	// every other alg are refused here, before any key is looked at.
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return claims{}, fmt.Errorf("%w: JWT: %v", ErrRejected, err)
	}
	if len(obj.Signatures) != 1 {
		return claims{}, fmt.Errorf("%w: JWT with %d signatures", ErrRejected, len(obj.Signatures))
	}
	hdr := obj.Signatures[0].Protected
	// crit lists extensions the verifier must understand (RFC 7515
	// §4.1.11); FxA uses none and this verifier knows none.
	if crit, ok := hdr.ExtraHeaders["crit"]; ok && crit != nil {
		return claims{}, fmt.Errorf("%w: JWT with critical extensions %.60v", ErrRejected, crit)
	}
	typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string)
	if normalizeType(typ) != jwtType {
		return claims{}, fmt.Errorf("%w: JWT typ %q is not at+JWT", ErrRejected, typ)
	}
	keys, err := v.keys.lookup(ctx, ep, hdr.KeyID)
	if err != nil {
		return claims{}, err
	}
	var pb []byte
	verified := false
	for _, k := range keys {
		if pb, err = obj.Verify(k); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return claims{}, fmt.Errorf("%w: bad JWT signature (kid %q)", ErrRejected, hdr.KeyID)
	}
	var c jwtClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return claims{}, fmt.Errorf("%w: JWT payload: %v", ErrRejected, err)
	}
	exp, ok := numericDate(c.Exp)
	if !ok {
		return claims{}, fmt.Errorf("%w: JWT without a numeric exp", ErrRejected)
	}
	nowSec := float64(now.UnixNano()) / 1e9
	if exp < nowSec {
		return claims{}, fmt.Errorf("%w: JWT expired", ErrRejected)
	}
	if len(c.Nbf) > 0 && string(c.Nbf) != "null" {
		nbf, ok := numericDate(c.Nbf)
		if !ok {
			return claims{}, fmt.Errorf("%w: JWT nbf is not a number", ErrRejected)
		}
		if nbf > nowSec {
			return claims{}, fmt.Errorf("%w: JWT not valid yet", ErrRejected)
		}
	}
	if c.Sub == "" {
		return claims{}, fmt.Errorf("%w: JWT without sub", ErrRejected)
	}
	scope, ok := scopeList(c.Scope)
	if !ok {
		return claims{}, fmt.Errorf("%w: JWT without scope", ErrRejected)
	}
	sec, frac := math.Modf(exp)
	return claims{
		uid:        c.Sub,
		clientID:   c.ClientID,
		scope:      scope,
		generation: c.Generation,
		expires:    time.Unix(int64(sec), int64(frac*1e9)),
	}, nil
}

// numericDate reads a JWT NumericDate: a JSON number of seconds.
func numericDate(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || raw[0] == '"' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e15 || f < -1e15 {
		return 0, false
	}
	return f, true
}
