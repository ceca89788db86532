// Package accounts is the built-in accounts service that an unmodified
// Firefox signs in to. This file holds what both the service and the
// administration commands do: create an account and invite someone.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/db"
)

// CreateAccount creates an account from what the page sends at sign-up
// (and what `syncserver accounts add` computes the same way): the email,
// the client salt the password was stretched with, and authPW. The
// server draws wrapKb, so kB = wrapKb ⊕ unwrapBKey is random and never
// known here; it keeps only the verifier of authPW with wrapKb wrapped in
// it, and a random kA. db.ErrExists when the email is taken.
func CreateAccount(ctx context.Context, store db.AccountsStore, email, clientSalt string, authPW []byte, now time.Time) (db.Account, error) {
	if len(authPW) != 32 {
		return db.Account{}, onepw.ErrAuthPW
	}
	wrapKb, kA, uid := make([]byte, 32), make([]byte, 32), make([]byte, 16)
	for _, b := range [][]byte{wrapKb, kA, uid} {
		if _, err := rand.Read(b); err != nil {
			return db.Account{}, err
		}
	}
	v, err := onepw.NewVerifier(authPW, wrapKb)
	if err != nil {
		return db.Account{}, err
	}
	// Keys and verifier date from now: the tokenserver needs a non-zero
	// keysChangedAt no later than verifierSetAt.
	ms := now.UnixMilli()
	a := db.Account{
		UID: hex.EncodeToString(uid), Email: db.NormaliseEmail(email), ClientSalt: clientSalt,
		AuthSalt: v.AuthSalt, VerifyHash: v.VerifyHash, WrapWrapKb: v.WrapWrapKb, KA: kA,
		KeysChangedAt: ms, VerifierSetAt: ms, CreatedAt: ms,
	}
	if err := store.CreateAccount(ctx, a); err != nil {
		return db.Account{}, err
	}
	return a, nil
}

// InviteParam is the query parameter of the page that carries an
// invitation: <origin>/?invite=<secret>.
const InviteParam = "invite"

// InviteHash is what the database keeps of an invitation's secret (as it
// appears in the link), so that a stolen database holds no usable link.
func InviteHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// NewInvite stores a single-use invitation that expires after ttl and
// returns its link on origin (scheme://host[:port]). When email is set,
// only that address may sign up with it.
func NewInvite(ctx context.Context, store db.AccountsStore, origin, email string, ttl time.Duration, now time.Time) (link string, inv db.Invite, err error) {
	if ttl <= 0 {
		return "", db.Invite{}, errors.New("accounts: an invitation needs a positive lifetime")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", db.Invite{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	inv = db.Invite{Hash: InviteHash(secret), CreatedAt: now.UnixMilli(), Expires: now.Add(ttl).UnixMilli()}
	if email != "" {
		inv.Email = db.NormaliseEmail(email)
	}
	if err := store.PutInvite(ctx, inv); err != nil {
		return "", db.Invite{}, err
	}
	return fmt.Sprintf("%s/?%s=%s", origin, InviteParam, secret), inv, nil
}
