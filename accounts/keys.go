package accounts

import (
	"context"
	"fmt"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
)

// keyReloadInterval bounds how often a token signed by an unknown key
// makes the service read the keys again.
const keyReloadInterval = 10 * time.Second

// loadSigner reads the signing keys (newest first), creating the first one
// when there is none. Two processes starting together on one database may
// both create one; the newest then signs and the other stays in the JWKS.
func loadSigner(ctx context.Context, st db.AccountsStore) (*onepw.Signer, error) {
	keys, err := st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("accounts: reading the signing keys: %w", err)
	}
	if len(keys) == 0 {
		k, err := onepw.NewSigningKey()
		if err != nil {
			return nil, fmt.Errorf("accounts: creating a signing key: %w", err)
		}
		if err := st.PutSigningKey(ctx, k); err != nil {
			return nil, fmt.Errorf("accounts: storing the signing key: %w", err)
		}
		if keys, err = st.SigningKeys(ctx); err != nil {
			return nil, fmt.Errorf("accounts: reading the signing keys: %w", err)
		}
	}
	// The current key and the one before it: JWKS publishes both, so
	// tokens signed just before a rotation still verify.
	signer, err := onepw.NewSigner(keys[:min(len(keys), 2)]...)
	if err != nil {
		return nil, fmt.Errorf("accounts: loading the signing keys: %w", err)
	}
	return signer, nil
}

// verifyJWT checks one of our access tokens. A token that does not verify
// may have been signed by a key this process has not seen: processes
// sharing the database (FastCGI starts several) may each have created one
// at the same first start, or an operator rotated the key. The keys are
// then read again, at most every keyReloadInterval, and the token checked
// once more.
func (s *Service) verifyJWT(ctx context.Context, tok string, now time.Time) (onepw.AccessClaims, error) {
	c, err := s.signer.Load().Verify(tok, now)
	if err == nil || !s.reloadKeys(ctx) {
		return c, err
	}
	return s.signer.Load().Verify(tok, now)
}

// reloadKeys reads the signing keys again and reports whether it did.
func (s *Service) reloadKeys(ctx context.Context) bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	now := s.now()
	if now.Sub(s.reloaded) < keyReloadInterval && !s.reloaded.IsZero() {
		return false
	}
	s.reloaded = now
	keys, err := s.store.SigningKeys(ctx)
	if err != nil || len(keys) == 0 {
		return false
	}
	signer, err := onepw.NewSigner(keys[:min(len(keys), 2)]...)
	if err != nil {
		s.log.Warn("accounts: reloading the signing keys", "error", err.Error())
		return false
	}
	s.signer.Store(signer)
	return true
}
