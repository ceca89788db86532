package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"syncserver/fxa"
	"syncserver/handlers"
	"syncserver/internal/config"
)

// fxaVerifier adapts the fxa package's verifier to the interface the
// handlers declare, translating its errors into the handlers' sentinels.
type fxaVerifier struct{ v *fxa.Verifier }

func (a fxaVerifier) Verify(ctx context.Context, tok string) (handlers.VerifiedToken, error) {
	t, err := a.v.Verify(ctx, tok)
	switch {
	case err == nil:
		return handlers.VerifiedToken{UID: t.UID, Generation: t.Generation, Scope: t.Scope, ClientID: t.ClientID, Issuer: t.Issuer}, nil
	case errors.Is(err, fxa.ErrInvalidGeneration):
		return handlers.VerifiedToken{}, fmt.Errorf("%w: %w", handlers.ErrInvalidGeneration, err)
	case errors.Is(err, fxa.ErrRejected):
		return handlers.VerifiedToken{}, fmt.Errorf("%w: %w", handlers.ErrTokenRejected, err)
	default:
		return handlers.VerifiedToken{}, fmt.Errorf("%w: %w", handlers.ErrVerifierUnavailable, err)
	}
}

// newVerifier builds the FxA OAuth verifier from the configuration. It
// makes no network call: discovery happens on first use and is retried.
func newVerifier(cfg *config.Config, log *slog.Logger) (*fxa.Verifier, error) {
	return fxa.New(fxa.Config{
		IdentityProvider: cfg.IdentityProvider,
		OAuthURL:         cfg.OAuthVerifier,
		Issuer:           cfg.Tokenserver.DefaultIssuer,
		JWKS:             cfg.Tokenserver.JWKS,
		Timeout:          cfg.Tokenserver.OAuthTimeout,
		Scopes:           cfg.Tokenserver.OAuthScopes,
		Logger:           log,
	})
}
