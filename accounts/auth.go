package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"syncserver/accounts/onepw"
	"syncserver/db"
	"syncserver/hawk"
)

// credential is who a request authenticated as.
type credential struct {
	account db.Account
	// hash is the session token's IDHash or the refresh token's Hash: the
	// key of the credential's device.
	hash []byte
	// session is set for Hawk(session) and Bearer fxs_; refresh for a
	// refresh token on the device routes.
	session *db.AuthToken
	refresh *db.RefreshToken
}

// hashSecret is how codes, refresh tokens and invites are found at rest:
// SHA-256 of the value as the client sends it (hex ASCII), like token ids.
func hashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	randRead(b)
	return hex.EncodeToString(b)
}

// isHex reports whether s is n bytes as lower-case hex.
func isHex(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// hawkError maps a Hawk failure to FxA's errnos: desktop re-syncs its clock
// on 111 and retries once; 110 only for dead tokens.
func hawkError(errno int, cause error) *apiError {
	msgs := map[int]string{
		errnoInvalidSignature: "Invalid request signature",
		errnoInvalidToken:     "The authentication token could not be found",
		errnoInvalidTimestamp: "Invalid timestamp in request signature",
		errnoInvalidNonce:     "Invalid nonce in request signature",
	}
	e := newError(http.StatusUnauthorized, errno, msgs[errno])
	e.cause = cause
	return e
}

// hawkAuth checks Hawk credentials of the given token kind: the token by
// the hash of its id, the MAC over the accounts origin's host and port and
// the request-target as sent, the payload hash when there is a body, and
// the timestamp (±600 s) and nonce. It returns the token and its account.
func (s *Service) hawkAuth(ctx context.Context, c *call, a hawk.Auth, kind string) (db.AuthToken, db.Account, error) {
	if !isHex(a.ID, 32) {
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidToken, errors.New("hawk id is not a token id"))
	}
	tok, err := s.store.AuthToken(ctx, onepw.HashID(a.ID))
	if errors.Is(err, db.ErrNotFound) {
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidToken, errors.New("unknown token"))
	}
	if err != nil {
		return db.AuthToken{}, db.Account{}, errServer(err)
	}
	if tok.Kind != kind {
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidToken, fmt.Errorf("a %s token where a %s token is needed", tok.Kind, kind))
	}
	if tok.Expires > 0 && tok.Expires <= c.start.UnixMilli() {
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidToken, errors.New("token expired"))
	}
	r := hawk.Request{Method: c.req.Method, Host: s.hawkHost, Port: s.hawkPort, Resource: c.req.RequestURI}
	if err := hawk.Verify(tok.HMACKey, a, r); err != nil {
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidSignature, fmt.Errorf("%w over %s %s on %s:%d", err, r.Method, c.path, r.Host, r.Port))
	}
	// Firefox's GETs sign the hash of an empty JSON body they do not
	// send: check the payload only when there is one.
	if len(c.body) > 0 {
		if err := hawk.VerifyPayload(a, c.req.Header.Get("Content-Type"), c.body); err != nil {
			return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidSignature, err)
		}
	}
	acct, err := s.liveAccount(ctx, tok.UID)
	if err != nil {
		return db.AuthToken{}, db.Account{}, err
	}
	switch err := s.nonces.Check(nonceOwner(tok.UID), a.ID, a.Nonce, a.TS, 0, c.start); {
	case err == nil:
	case errors.Is(err, hawk.ErrStaleTimestamp):
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidTimestamp, err)
	case errors.Is(err, hawk.ErrFull):
		return db.AuthToken{}, db.Account{}, errServer(err)
	default:
		return db.AuthToken{}, db.Account{}, hawkError(errnoInvalidNonce, err)
	}
	return tok, acct, nil
}

// nonceOwner partitions the nonce cache by account.
func nonceOwner(uid string) int64 {
	b, err := hex.DecodeString(uid)
	if err != nil || len(b) < 8 {
		sum := sha256.Sum256([]byte(uid))
		b = sum[:]
	}
	return int64(binary.BigEndian.Uint64(b[:8]))
}

// liveAccount loads the account of a credential; a deleted or disabled
// account makes every credential of it dead (401/110).
func (s *Service) liveAccount(ctx context.Context, uid string) (db.Account, error) {
	acct, err := s.store.AccountByUID(ctx, uid)
	if errors.Is(err, db.ErrNotFound) {
		return db.Account{}, errInvalidToken(errors.New("account deleted"))
	}
	if err != nil {
		return db.Account{}, errServer(err)
	}
	if acct.Disabled {
		return db.Account{}, errInvalidToken(errors.New("account disabled"))
	}
	return acct, nil
}

// bearer returns the Bearer credential of the request, "" when there is
// none.
func bearer(c *call) string {
	h := strings.TrimSpace(c.req.Header.Get("Authorization"))
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(rest)
}

// sessionAuth authenticates Hawk(session) or Bearer fxs_<tokenId> (spec
// §3.1: the mobile library and FxA's own client send the latter).
func (s *Service) sessionAuth(ctx context.Context, c *call) (*credential, error) {
	cr, err := s.optionalSession(ctx, c)
	if err != nil {
		return nil, err
	}
	if cr == nil {
		return nil, hawkError(errnoInvalidToken, errors.New("no session credentials"))
	}
	return cr, nil
}

// optionalSession is sessionAuth for routes where the session is optional
// (the code exchange): nil, nil without credentials.
func (s *Service) optionalSession(ctx context.Context, c *call) (*credential, error) {
	h := c.req.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	if b := bearer(c); b != "" {
		id, ok := strings.CutPrefix(b, "fxs_")
		if !ok {
			return nil, nil
		}
		return s.bearerSession(ctx, c, id)
	}
	a, err := hawk.ParseHeader(h)
	if errors.Is(err, hawk.ErrNotHawk) {
		return nil, nil
	}
	if err != nil {
		return nil, hawkError(errnoInvalidSignature, err)
	}
	tok, acct, err := s.hawkAuth(ctx, c, a, db.TokenSession)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, &tok, c)
	return &credential{account: acct, hash: tok.IDHash, session: &tok}, nil
}

// bearerSession authenticates Bearer fxs_<tokenId>.
func (s *Service) bearerSession(ctx context.Context, c *call, id string) (*credential, error) {
	if !isHex(id, 32) {
		return nil, errInvalidToken(errors.New("fxs_ bearer is not a token id"))
	}
	tok, err := s.store.AuthToken(ctx, onepw.HashID(id))
	if errors.Is(err, db.ErrNotFound) || err == nil && (tok.Kind != db.TokenSession || tok.Expires > 0 && tok.Expires <= c.start.UnixMilli()) {
		return nil, errInvalidToken(errors.New("unknown session token"))
	}
	if err != nil {
		return nil, errServer(err)
	}
	acct, err := s.liveAccount(ctx, tok.UID)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, &tok, c)
	return &credential{account: acct, hash: tok.IDHash, session: &tok}, nil
}

// touch records the use of a session, at most every few minutes, so that
// the device list shows when a device was last seen.
func (s *Service) touch(ctx context.Context, tok *db.AuthToken, c *call) {
	now := c.start.UnixMilli()
	if now-tok.LastUsed < touchInterval.Milliseconds() {
		return
	}
	if err := s.store.TouchAuthToken(ctx, tok.IDHash, now); err != nil {
		s.log.Debug("accounts: recording a session's use", "error", err.Error())
		return
	}
	tok.LastUsed = now
}

// deviceAuth is "device auth" of spec §3.3: a session (Hawk or fxs_), or
// Bearer with a refresh token (the mobile apps).
func (s *Service) deviceAuth(ctx context.Context, c *call) (*credential, error) {
	if b := bearer(c); b != "" && !strings.HasPrefix(b, "fxs_") {
		rt, err := s.store.RefreshToken(ctx, hashSecret(b))
		if errors.Is(err, db.ErrNotFound) {
			return nil, errInvalidToken(errors.New("unknown refresh token"))
		}
		if err != nil {
			return nil, errServer(err)
		}
		acct, err := s.liveAccount(ctx, rt.UID)
		if err != nil {
			return nil, err
		}
		if now := c.start.UnixMilli(); now-rt.LastUsed >= touchInterval.Milliseconds() {
			if err := s.store.TouchRefreshToken(ctx, rt.Hash, now); err == nil {
				rt.LastUsed = now
			}
		}
		return &credential{account: acct, hash: rt.Hash, refresh: &rt}, nil
	}
	return s.sessionAuth(ctx, c)
}

// keyFetchAuth authenticates Hawk(keyFetch) and uses the token up: of two
// racing requests only one gets the bundle.
func (s *Service) keyFetchAuth(ctx context.Context, c *call) (db.AuthToken, error) {
	a, err := hawk.ParseHeader(c.req.Header.Get("Authorization"))
	if err != nil {
		return db.AuthToken{}, hawkError(errnoInvalidToken, err)
	}
	tok, _, err := s.hawkAuth(ctx, c, a, db.TokenKeyFetch)
	if err != nil {
		return db.AuthToken{}, err
	}
	taken, err := s.store.TakeAuthToken(ctx, tok.IDHash)
	if errors.Is(err, db.ErrNotFound) {
		return db.AuthToken{}, errInvalidToken(errors.New("keyFetch token already used"))
	}
	if err != nil {
		return db.AuthToken{}, errServer(err)
	}
	return taken, nil
}
