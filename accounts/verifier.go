package accounts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"syncserver/accounts/onepw"
	"syncserver/handlers"
)

// Verifier returns the tokenserver's verifier of our access tokens, which
// checks them in-process (no HTTP): our signature, our issuer, the oldsync
// scope, the tokenserver audience, and a live account whose password has
// not changed since. The identity it reports is <uid>@<accounts host>.
func (s *Service) Verifier() handlers.TokenVerifier { return tokenVerifier{s} }

type tokenVerifier struct{ s *Service }

func (v tokenVerifier) Verify(ctx context.Context, tok string) (handlers.VerifiedToken, error) {
	s := v.s
	claims, err := s.checkAccessToken(ctx, tok, s.now())
	if err != nil {
		var e *apiError
		if errors.As(err, &e) && e.status >= 500 {
			return handlers.VerifiedToken{}, fmt.Errorf("%w: %w", handlers.ErrVerifierUnavailable, err)
		}
		return handlers.VerifiedToken{}, fmt.Errorf("%w: %w", handlers.ErrTokenRejected, err)
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, onepw.ScopeOldSync) {
		return handlers.VerifiedToken{}, fmt.Errorf("%w: no oldsync scope", handlers.ErrTokenRejected)
	}
	if aud := strings.TrimSuffix(s.opts.TokenServerURL, "/"); aud != "" && strings.TrimSuffix(claims.Aud, "/") != aud {
		return handlers.VerifiedToken{}, fmt.Errorf("%w: audience %q", handlers.ErrTokenRejected, claims.Aud)
	}
	return handlers.VerifiedToken{
		UID:        claims.Sub,
		Generation: claims.Generation,
		Scope:      scopes,
		ClientID:   claims.ClientID,
		Issuer:     s.issuer,
	}, nil
}

// MixedVerifier trusts our accounts and FxA's at once (mixed mode): a JWT
// whose iss claim is ourIssuer (the accounts origin, or its host) goes to
// ours, anything else to fxa (nil: refused). The two report different
// issuers, so the tokenserver's users (<uid>@<issuer>) never collide.
func MixedVerifier(ours, fxa handlers.TokenVerifier, ourIssuer string) handlers.TokenVerifier {
	return mixedVerifier{ours: ours, fxa: fxa, issuer: strings.TrimSuffix(ourIssuer, "/")}
}

type mixedVerifier struct {
	ours, fxa handlers.TokenVerifier
	issuer    string
}

func (m mixedVerifier) Verify(ctx context.Context, tok string) (handlers.VerifiedToken, error) {
	if iss := unverifiedIssuer(tok); iss != "" && (iss == m.issuer || hostOf(iss) == m.issuer) {
		return m.ours.Verify(ctx, tok)
	}
	if m.fxa == nil {
		return handlers.VerifiedToken{}, fmt.Errorf("%w: not one of our tokens", handlers.ErrTokenRejected)
	}
	return m.fxa.Verify(ctx, tok)
}

// unverifiedIssuer reads the iss claim of a compact JWT without checking
// anything: it only picks the verifier, which then checks everything.
func unverifiedIssuer(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return strings.TrimSuffix(c.Iss, "/")
}

// hostOf is the host[:port] of an origin URL, or s itself.
func hostOf(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}
