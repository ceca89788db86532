package accounts

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
	"syncserver/handlers"
)

const clientSaltPrefix = onepw.NS + "quickStretchV2:"

// validClientSalt reports whether s has FxA's v2 shape, which the page and
// `accounts add` both produce.
func validClientSalt(s string) bool {
	rest, ok := strings.CutPrefix(s, clientSaltPrefix)
	return ok && isHex(rest, 16)
}

// validEmail is a loose check: the address is only an account name here
// (no mail is sent), but it must look like one.
func validEmail(e string) bool {
	at := strings.LastIndexByte(e, '@')
	return at > 0 && at < len(e)-1 && len(e) <= 255 && !strings.ContainsAny(e, " \t\r\n")
}

// ErrInvalidAccount is returned by CreateAccount for an email, salt or
// authPW of the wrong shape.
var ErrInvalidAccount = errors.New("accounts: invalid account data")

// CreateAccount creates an account from what the page (or `syncserver
// accounts add`, which stretches the same way) sends: the email, the v2
// client salt and authPW. The server draws wrapKb, so kB = wrapKb ⊕
// unwrapBKey is random and never computed here (spec §4.1); it draws kA and
// the uid, and sets keysChangedAt = verifierSetAt = now. db.ErrExists when
// the email is taken.
func CreateAccount(ctx context.Context, store db.AccountsStore, email, clientSalt string, authPW []byte, now time.Time) (db.Account, error) {
	a, _, err := createAccount(ctx, store, email, clientSalt, authPW, now)
	return a, err
}

// createAccount is CreateAccount that also returns wrapKb, for the keys of
// the page's first session.
func createAccount(ctx context.Context, store db.AccountsStore, email, clientSalt string, authPW []byte, now time.Time) (db.Account, []byte, error) {
	email = db.NormaliseEmail(email)
	if !validEmail(email) {
		return db.Account{}, nil, fmt.Errorf("%w: email %q", ErrInvalidAccount, email)
	}
	if !validClientSalt(clientSalt) {
		return db.Account{}, nil, fmt.Errorf("%w: client salt", ErrInvalidAccount)
	}
	if len(authPW) != 32 {
		return db.Account{}, nil, fmt.Errorf("%w: authPW must be 32 bytes", ErrInvalidAccount)
	}
	wrapKb := make([]byte, 32)
	kA := make([]byte, 32)
	randRead(wrapKb)
	randRead(kA)
	var v onepw.Verifier
	var err error
	withScrypt(func() { v, err = kdf.newVerifier(authPW, wrapKb) })
	if err != nil {
		return db.Account{}, nil, err
	}
	ms := now.UnixMilli()
	a := db.Account{
		UID:           randomHex(16),
		Email:         email,
		ClientSalt:    clientSalt,
		AuthSalt:      v.AuthSalt,
		VerifyHash:    v.VerifyHash,
		WrapWrapKb:    v.WrapWrapKb,
		KA:            kA,
		KeysChangedAt: ms,
		VerifierSetAt: ms,
		CreatedAt:     ms,
	}
	if err := store.CreateAccount(ctx, a); err != nil {
		return db.Account{}, nil, err
	}
	return a, wrapKb, nil
}

// decodeAuthPW reads a 32-byte hex authPW parameter.
func decodeAuthPW(name, v string) ([]byte, error) {
	if v == "" {
		return nil, errMissingParam(name)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != 32 {
		return nil, errInvalidParam(name)
	}
	return b, nil
}

type loginRequest struct {
	Email          string `json:"email"`
	AuthPW         string `json:"authPW"`
	AuthPWVersion2 string `json:"authPWVersion2"`
	ClientSalt     string `json:"clientSalt"`
	Invite         string `json:"invite"`
}

// authPW decodes the password proof login and create both take:
// authPWVersion2 when the page sent one, else authPW; either is named
// "authPW" in an error.
func (r loginRequest) authPW() ([]byte, error) {
	pw := r.AuthPW
	if r.AuthPWVersion2 != "" {
		pw = r.AuthPWVersion2
	}
	return decodeAuthPW("authPW", pw)
}

// decodeLogin decodes the body of a request that proves the password
// (login, account deletion): the normalised email and the password proof.
func decodeLogin(c *call) (email string, authPW []byte, err error) {
	var req loginRequest
	if err := decode(c, &req, false); err != nil {
		return "", nil, err
	}
	email = db.NormaliseEmail(req.Email)
	if email == "" {
		return "", nil, errMissingParam("email")
	}
	authPW, err = req.authPW()
	if err != nil {
		return "", nil, err
	}
	return email, authPW, nil
}

// login is POST /v1/account/login: a wrong password and an unknown email
// are the same 400/103 after the same scrypt (FxA would say 102 for the
// latter; we do not let the page enumerate accounts).
func (s *Service) login(ctx context.Context, c *call) (*handlers.Response, error) {
	email, authPW, err := decodeLogin(c)
	if err != nil {
		return nil, err
	}
	if err := s.checkRate(c, "login", email); err != nil {
		s.opts.Metrics.SignIn(false)
		return nil, err
	}
	acct, err := s.store.AccountByEmail(ctx, email)
	switch {
	case errors.Is(err, db.ErrNotFound):
		withScrypt(func() { kdf.dummyWork(authPW) })
		s.opts.Metrics.SignIn(false)
		return nil, errIncorrectPassword()
	case err != nil:
		return nil, errServer(err)
	}
	var wrapKb []byte
	var ok bool
	v := onepw.Verifier{AuthSalt: acct.AuthSalt, VerifyHash: acct.VerifyHash, WrapWrapKb: acct.WrapWrapKb}
	withScrypt(func() { wrapKb, ok = kdf.unwrap(v, authPW) })
	if !ok {
		s.opts.Metrics.SignIn(false)
		return nil, errIncorrectPassword()
	}
	if acct.Disabled {
		// Said only to whoever knows the password.
		s.opts.Metrics.SignIn(false)
		return nil, errDisabled()
	}
	out, err := s.newSession(ctx, c, acct, wrapKb, c.query.Get("keys") == "true")
	if err != nil {
		return nil, err
	}
	s.opts.Metrics.SignIn(true)
	return s.jsonOK(c, out)
}

func errDisabled() *apiError {
	return newError(http.StatusBadRequest, errnoRequestBlocked, "This account is disabled")
}

// newSession makes a session token and, with keys, a keyFetchToken whose
// bundle is computed now (wrapKb is only known while authPW is), and
// returns the login answer.
func (s *Service) newSession(ctx context.Context, c *call, acct db.Account, wrapKb []byte, keys bool) (map[string]any, error) {
	now := c.start.UnixMilli()
	raw := make([]byte, 32)
	randRead(raw)
	st := onepw.DeriveToken(raw, onepw.KindSession)
	ua := c.req.Header.Get("User-Agent")
	if len(ua) > 255 {
		ua = ua[:255]
	}
	if err := s.store.PutAuthToken(ctx, db.AuthToken{
		IDHash: onepw.HashID(st.ID), Kind: db.TokenSession, UID: acct.UID, HMACKey: st.HMACKey,
		CreatedAt: now, LastUsed: now, UserAgent: ua,
	}); err != nil {
		return nil, errServer(err)
	}
	out := map[string]any{
		"uid":             acct.UID,
		"sessionToken":    hex.EncodeToString(raw),
		"verified":        true,
		"sessionVerified": true,
		"emailVerified":   true,
		"authAt":          c.start.Unix(),
	}
	if keys && wrapKb != nil {
		kraw := make([]byte, 32)
		randRead(kraw)
		kt := onepw.DeriveToken(kraw, onepw.KindKeyFetch)
		if err := s.store.PutAuthToken(ctx, db.AuthToken{
			IDHash: onepw.HashID(kt.ID), Kind: db.TokenKeyFetch, UID: acct.UID, HMACKey: kt.HMACKey,
			Bundle:    onepw.KeysBundle(kt.KeyRequestKey, acct.KA, wrapKb),
			CreatedAt: now, LastUsed: now, Expires: now + keyFetchTTL.Milliseconds(),
		}); err != nil {
			return nil, errServer(err)
		}
		out["keyFetchToken"] = hex.EncodeToString(kraw)
	}
	return out, nil
}

// create is POST /v1/account/create (page only): with an invitation from
// the admin CLI, or freely when open_signup is on.
func (s *Service) create(ctx context.Context, c *call) (*handlers.Response, error) {
	var req loginRequest
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	email := db.NormaliseEmail(req.Email)
	switch {
	case email == "":
		return nil, errMissingParam("email")
	case !validEmail(email):
		return nil, errInvalidParam("email")
	case req.ClientSalt == "":
		return nil, errMissingParam("clientSalt")
	case !validClientSalt(req.ClientSalt):
		return nil, errInvalidParam("clientSalt")
	}
	authPW, err := req.authPW()
	if err != nil {
		return nil, err
	}
	if err := s.checkRate(c, "login", email); err != nil {
		return nil, err
	}
	if _, err := s.store.AccountByEmail(ctx, email); err == nil {
		return nil, newError(http.StatusBadRequest, errnoAccountExists, "Account already exists")
	} else if !errors.Is(err, db.ErrNotFound) {
		return nil, errServer(err)
	}
	if !s.opts.OpenSignup || req.Invite != "" {
		if err := s.takeInvite(ctx, c, req.Invite, email); err != nil {
			return nil, err
		}
	}
	acct, wrapKb, err := createAccount(ctx, s.store, email, req.ClientSalt, authPW, c.start)
	if errors.Is(err, db.ErrExists) {
		return nil, newError(http.StatusBadRequest, errnoAccountExists, "Account already exists")
	}
	if err != nil {
		return nil, errServer(err)
	}
	out, err := s.newSession(ctx, c, acct, wrapKb, c.query.Get("keys") == "true")
	if err != nil {
		return nil, err
	}
	return s.jsonOK(c, out)
}

// errBadInvite is the answer to a missing, used, expired or mismatched
// invitation.
func errBadInvite() *apiError {
	return newError(http.StatusBadRequest, errnoInvalidParameter, "Invalid parameter in request body: invite (unknown, used or expired)")
}

// takeInvite uses up the invitation code for email. An invitation made for
// one address is refused for another, and is then used up too: the store
// has no way to peek, and the page fills the address in from the link.
func (s *Service) takeInvite(ctx context.Context, c *call, code, email string) error {
	if code == "" {
		return errBadInvite()
	}
	inv, err := s.store.TakeInvite(ctx, hashSecret(code), c.start.UnixMilli())
	if errors.Is(err, db.ErrNotFound) {
		return errBadInvite()
	}
	if err != nil {
		return errServer(err)
	}
	if inv.Email != "" && db.NormaliseEmail(inv.Email) != email {
		return errBadInvite()
	}
	return nil
}

// CreateInvite stores a single-use invitation, for email or for anyone
// when email is "", valid for ttl, and returns the sign-up link: the page
// at origin with the code in the query. Only the code's hash is stored.
func CreateInvite(ctx context.Context, store db.AccountsStore, origin, email string, ttl time.Duration, now time.Time) (string, error) {
	code := randomHex(32)
	email = db.NormaliseEmail(email)
	if email != "" && !validEmail(email) {
		return "", fmt.Errorf("%w: email %q", ErrInvalidAccount, email)
	}
	err := store.PutInvite(ctx, db.Invite{Hash: hashSecret(code), Email: email,
		CreatedAt: now.UnixMilli(), Expires: now.Add(ttl).UnixMilli()})
	if err != nil {
		return "", err
	}
	link := strings.TrimSuffix(origin, "/") + "/?invite=" + code
	if email != "" {
		link += "&email=" + url.QueryEscape(email)
	}
	return link, nil
}

// NewInvite is CreateInvite on the service's store and origin.
func (s *Service) NewInvite(ctx context.Context, email string, ttl time.Duration) (string, error) {
	return CreateInvite(ctx, s.store, s.origin, email, ttl, s.now())
}

// credentialsStatus is POST /v1/account/credentials/status (page only):
// the account's client salt, or for an unknown email a deterministic fake
// one of the same shape, status and cost, never errno 102.
func (s *Service) credentialsStatus(ctx context.Context, c *call) (*handlers.Response, error) {
	var req struct {
		Email string `json:"email"`
	}
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	email := db.NormaliseEmail(req.Email)
	if email == "" {
		return nil, errMissingParam("email")
	}
	if err := s.checkRate(c, "salt", ""); err != nil {
		return nil, err
	}
	salt := onepw.FakeClientSalt(s.opts.Secret, email)
	acct, err := s.store.AccountByEmail(ctx, email)
	switch {
	case err == nil:
		salt = acct.ClientSalt
	case !errors.Is(err, db.ErrNotFound):
		return nil, errServer(err)
	}
	return s.jsonOK(c, map[string]any{"currentVersion": "v2", "upgradeNeeded": false, "clientSalt": salt})
}

// keys is GET /v1/account/keys: the bundle made at login, once.
func (s *Service) keys(ctx context.Context, c *call) (*handlers.Response, error) {
	tok, err := s.keyFetchAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	if tok.Bundle == "" {
		return nil, errInvalidToken(errors.New("keyFetch token without a bundle"))
	}
	return s.jsonOK(c, map[string]string{"bundle": tok.Bundle})
}

// passwordChange is POST /v1/password/change (page only, Hawk session):
// the old authPW proves the password, the new verifier wraps the wrapKb
// the page computed (kB ⊕ new unwrapBKey), so kB and the Sync data stay.
// It revokes every session, device and refresh token and bumps
// verifierSetAt, which makes the tokenserver refuse older access tokens.
func (s *Service) passwordChange(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	var req struct {
		OldAuthPW  string `json:"oldAuthPW"`
		AuthPW     string `json:"authPW"`
		ClientSalt string `json:"clientSalt"`
		WrapKb     string `json:"wrapKb"`
	}
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	oldPW, err := decodeAuthPW("oldAuthPW", req.OldAuthPW)
	if err != nil {
		return nil, err
	}
	newPW, err := decodeAuthPW("authPW", req.AuthPW)
	if err != nil {
		return nil, err
	}
	wrapKb, err := decodeAuthPW("wrapKb", req.WrapKb)
	if err != nil {
		return nil, err
	}
	if !validClientSalt(req.ClientSalt) {
		return nil, errInvalidParam("clientSalt")
	}
	if err := s.checkRate(c, "login", cr.account.Email); err != nil {
		return nil, err
	}
	acct := cr.account
	old := onepw.Verifier{AuthSalt: acct.AuthSalt, VerifyHash: acct.VerifyHash, WrapWrapKb: acct.WrapWrapKb}
	var ok bool
	withScrypt(func() { _, ok = kdf.unwrap(old, oldPW) })
	if !ok {
		return nil, errIncorrectPassword()
	}
	var v onepw.Verifier
	withScrypt(func() { v, err = kdf.newVerifier(newPW, wrapKb) })
	if err != nil {
		return nil, errServer(err)
	}
	now := c.start.UnixMilli()
	// verifierSetAt must grow strictly: the tokenserver compares it.
	setAt := max(now, acct.VerifierSetAt+1)
	if err := s.store.UpdateAccountPassword(ctx, acct.UID, req.ClientSalt, v.AuthSalt, v.VerifyHash, v.WrapWrapKb, setAt, 0); err != nil {
		return nil, errServer(err)
	}
	if err := s.store.DeleteAuthTokens(ctx, acct.UID); err != nil {
		return nil, errServer(err)
	}
	acct.VerifierSetAt = setAt
	out, err := s.newSession(ctx, c, acct, nil, false)
	if err != nil {
		return nil, err
	}
	return s.jsonOK(c, map[string]any{"uid": out["uid"], "sessionToken": out["sessionToken"], "verified": true, "authAt": out["authAt"]})
}

// ResetPassword is the operator's answer to a forgotten password (`syncserver
// accounts reset-password`): the account gets the new password's verifier
// (clientSalt and authPW computed as the page computes them) and thereby
// new keys. The server never knows kB, so it cannot re-wrap the old one
// under the new password: it draws a fresh wrapKb, which makes a new kB, a
// new Sync key and a new key id. keysChangedAt and verifierSetAt move to
// now (at least one past the old values, which the tokenserver compares),
// so the tokenserver starts a new storage user for the account; and every
// session, refresh token, code and device is revoked. The old Sync data
// can no longer be read by anyone: the caller deletes it. db.ErrNotFound
// when there is no account uid.
func ResetPassword(ctx context.Context, store db.AccountsStore, uid, clientSalt string, authPW []byte, now time.Time) (db.Account, error) {
	if !validClientSalt(clientSalt) {
		return db.Account{}, fmt.Errorf("%w: client salt", ErrInvalidAccount)
	}
	if len(authPW) != 32 {
		return db.Account{}, fmt.Errorf("%w: authPW must be 32 bytes", ErrInvalidAccount)
	}
	acct, err := store.AccountByUID(ctx, uid)
	if err != nil {
		return db.Account{}, err
	}
	wrapKb := make([]byte, 32)
	randRead(wrapKb)
	var v onepw.Verifier
	withScrypt(func() { v, err = kdf.newVerifier(authPW, wrapKb) })
	clear(wrapKb)
	if err != nil {
		return db.Account{}, err
	}
	setAt := max(now.UnixMilli(), acct.VerifierSetAt+1, acct.KeysChangedAt+1)
	// Revoked first: no session of the old password can fetch keys or
	// tokens while the new verifier is being stored.
	if err := store.DeleteAuthTokens(ctx, uid); err != nil {
		return db.Account{}, err
	}
	if err := store.UpdateAccountPassword(ctx, uid, clientSalt, v.AuthSalt, v.VerifyHash, v.WrapWrapKb, setAt, setAt); err != nil {
		return db.Account{}, err
	}
	// A session that raced in between the two steps goes too.
	if err := store.DeleteAuthTokens(ctx, uid); err != nil {
		return db.Account{}, err
	}
	acct.ClientSalt, acct.AuthSalt, acct.VerifyHash, acct.WrapWrapKb = clientSalt, v.AuthSalt, v.VerifyHash, v.WrapWrapKb
	acct.VerifierSetAt, acct.KeysChangedAt = setAt, setAt
	return acct, nil
}
