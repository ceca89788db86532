package db

import (
	"context"
	"errors"
	"strings"
)

// ErrQueueFull: a device already has as many pending commands as the
// caller allows; nothing was stored. The sender may try again once the
// device has fetched its commands or they expired.
var ErrQueueFull = errors.New("db: device command queue full")

// The built-in accounts service (package accounts) keeps its accounts,
// tokens, codes, devices and signing keys in the same database as the
// storage, in tables prefixed accounts_. Secrets a client presents
// (session and keyFetch token ids, codes, refresh tokens, invites) are
// stored only as hashes, computed by the caller: a stolen database must not
// let anyone impersonate a user. Times are epoch milliseconds.

// Account is one account of the built-in accounts service. It holds no
// password and no key a client could use: only the verifier of what the
// page derives from the password and the wrapped key material.
type Account struct {
	// UID is 16 random bytes as 32 lower-case hex.
	UID string
	// Email is normalised (NormaliseEmail) by the store.
	Email string
	// ClientSalt is what credentials/status serves for the page's stretch.
	ClientSalt string
	// AuthSalt, VerifyHash and WrapWrapKb are the server-side verifier.
	AuthSalt, VerifyHash, WrapWrapKb []byte
	// KA fills the keys bundle.
	KA []byte
	// KeysChangedAt (non-zero) and VerifierSetAt are what the tokenserver
	// compares; CreatedAt is informational.
	KeysChangedAt, VerifierSetAt, CreatedAt int64
	Disabled                                bool
	Locale                                  string
}

// Kinds of AuthToken.
const (
	TokenSession  = "session"
	TokenKeyFetch = "keyFetch"
)

// AuthToken is a session token or a keyFetch token, found by the hash of
// its token id.
type AuthToken struct {
	IDHash []byte
	// Kind is TokenSession or TokenKeyFetch.
	Kind    string
	UID     string
	HMACKey []byte
	// Bundle is the precomputed keys bundle of a keyFetch token.
	Bundle string
	// Expires is 0 for a token that never expires.
	CreatedAt, LastUsed, Expires int64
	UserAgent, DeviceID          string
}

// OAuthCode is an authorization code awaiting its single redemption.
type OAuthCode struct {
	Hash                                     []byte
	ClientID, UID, Scope, Challenge, KeysJWE string
	SessionIDHash                            []byte
	AuthAt, Expires                          int64
}

// RefreshToken is an OAuth refresh token, bound to its client, scope and
// device.
type RefreshToken struct {
	Hash                           []byte
	ClientID, UID, Scope, DeviceID string
	SessionIDHash                  []byte
	CreatedAt, LastUsed            int64
}

// Device is a registered device of an account. Every device belongs to one
// credential (a session token's IDHash or a refresh token's Hash), so that
// a registration repeated or raced for one credential updates one row.
type Device struct {
	// ID is 16 random bytes as 32 hex, drawn by the caller for a new
	// device; UpsertDevice keeps the existing ID of the credential's
	// device.
	ID                                       string
	UID                                      string
	CredentialHash                           []byte
	Name, Type                               string
	AvailableCommands                        map[string]string
	PushCallback, PushPublicKey, PushAuthKey string
	CreatedAt, LastAccess                    int64
}

// DeviceCommand is a command sent to a device (send tab and friends).
type DeviceCommand struct {
	// Index is assigned by PushDeviceCommand, increasing per account.
	Index                                         int64
	TargetDeviceID, UID, Command, Payload, Sender string
	Expires                                       int64
}

// Invite is a single-use sign-up link, found by the hash of its secret.
type Invite struct {
	Hash []byte
	// Email, when set, is the only address that may sign up with it.
	Email              string
	CreatedAt, Expires int64
	// UsedAt is 0 until the invite is taken.
	UsedAt int64
}

// NormaliseEmail is how the accounts store keys emails: trimmed and
// lower-case, so that "Me@Example.org " and "me@example.org" are one
// account.
func NormaliseEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// AccountsStore is what the built-in accounts service keeps in the
// database; *sqldb.Store implements it on every backend. Lookups of
// something absent (or expired, or already taken) fail with ErrNotFound;
// database failures are wrapped ErrUnavailable (or ErrConflict).
type AccountsStore interface {
	// CreateAccount stores a new account; ErrExists when the email (or
	// uid) is taken.
	CreateAccount(ctx context.Context, a Account) error
	// AccountByEmail finds an account by its normalised email.
	AccountByEmail(ctx context.Context, email string) (Account, error)
	AccountByUID(ctx context.Context, uid string) (Account, error)
	// ListAccounts lists every account, ordered by email.
	ListAccounts(ctx context.Context) ([]Account, error)
	// SetAccountDisabled disables or enables an account. It revokes
	// nothing by itself.
	SetAccountDisabled(ctx context.Context, uid string, disabled bool) error
	// UpdateAccountPassword replaces the verifier; keysChangedAt 0 leaves
	// it unchanged. It revokes nothing by itself (DeleteAuthTokens does).
	UpdateAccountPassword(ctx context.Context, uid, clientSalt string, authSalt, verifyHash, wrapWrapKb []byte, verifierSetAt, keysChangedAt int64) error
	// DeleteAccount deletes the account with its tokens, codes, refresh
	// tokens, devices and commands (not its Sync data).
	DeleteAccount(ctx context.Context, uid string) error

	PutAuthToken(ctx context.Context, t AuthToken) error
	// AuthToken finds a token; an expired one is ErrNotFound.
	AuthToken(ctx context.Context, idHash []byte) (AuthToken, error)
	TouchAuthToken(ctx context.Context, idHash []byte, now int64) error
	// DeleteAuthToken deletes one token; a session token takes its
	// devices (with their commands), and the refresh tokens and codes
	// made from it, along. ErrNotFound when absent.
	DeleteAuthToken(ctx context.Context, idHash []byte) error
	// TakeAuthToken reads and deletes a token in one step: of concurrent
	// calls exactly one gets it, the others ErrNotFound (keyFetch tokens
	// are single use). Unlike DeleteAuthToken it takes nothing along.
	TakeAuthToken(ctx context.Context, idHash []byte) (AuthToken, error)
	// DeleteAuthTokens revokes everything that lets a client act for the
	// account (spec: sign-out everywhere, disable, password change):
	// every session and keyFetch token, refresh token, unredeemed code,
	// device and pending device command of the account. The account, its
	// invites and the signing keys stay.
	DeleteAuthTokens(ctx context.Context, uid string) error
	// Sessions lists the account's unexpired session tokens (not its
	// keyFetch tokens), oldest first: the admin view.
	Sessions(ctx context.Context, uid string) ([]AuthToken, error)
	// CountSessions counts the unexpired session tokens of every account
	// at now, from the tokens' index (the metrics read it periodically).
	CountSessions(ctx context.Context, now int64) (int64, error)

	PutOAuthCode(ctx context.Context, c OAuthCode) error
	// TakeOAuthCode reads and deletes a code, single use as TakeAuthToken;
	// an expired code is ErrNotFound.
	TakeOAuthCode(ctx context.Context, hash []byte) (OAuthCode, error)

	PutRefreshToken(ctx context.Context, t RefreshToken) error
	RefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)
	TouchRefreshToken(ctx context.Context, hash []byte, now int64) error
	// DeleteRefreshToken deletes a refresh token with its device (and the
	// device's commands). ErrNotFound when absent.
	DeleteRefreshToken(ctx context.Context, hash []byte) error
	// RefreshTokens lists the account's refresh tokens, oldest first.
	RefreshTokens(ctx context.Context, uid string) ([]RefreshToken, error)

	// UpsertDevice registers or updates the device of d.CredentialHash
	// and returns it as stored. A credential has at most one device:
	// another call for it (racing ones included) updates that device,
	// keeping its ID and CreatedAt and replacing every other field with
	// d's (a caller merges a partial update into the stored device
	// first). ErrExists when the credential's device belongs to another
	// account. d.ID must be set for a new device;
	// when the credential has none but d.ID names a device of the
	// account, that device moves to the credential.
	UpsertDevice(ctx context.Context, d Device) (Device, error)
	// Devices lists the account's devices, oldest first.
	Devices(ctx context.Context, uid string) ([]Device, error)
	// DeleteDevice deletes a device and its commands; ErrNotFound when the
	// account has no such device.
	DeleteDevice(ctx context.Context, uid, id string) error

	// PushDeviceCommand stores a command and returns its index, greater
	// than every index the account's commands had before. With maxQueued
	// > 0 it stores nothing and fails with ErrQueueFull when the target
	// device already has maxQueued unexpired commands (racing senders
	// included), so that a flood cannot fill the database.
	PushDeviceCommand(ctx context.Context, c DeviceCommand, maxQueued int) (index int64, err error)
	// DeviceCommands lists the unexpired commands for a device with an
	// index greater than after, in index order, at most limit (<= 0: no
	// limit).
	DeviceCommands(ctx context.Context, uid, deviceID string, after int64, limit int) ([]DeviceCommand, error)

	PutInvite(ctx context.Context, i Invite) error
	// TakeInvite marks an invite used and returns it; ErrNotFound when it
	// is unknown, used or expired at now. Single use as TakeAuthToken.
	TakeInvite(ctx context.Context, hash []byte, now int64) (Invite, error)

	// SigningKeys returns the stored JWT signing keys, newest first.
	SigningKeys(ctx context.Context) ([][]byte, error)
	PutSigningKey(ctx context.Context, key []byte) error

	// PurgeAccounts deletes what expired before now: codes, tokens with
	// an expiry (keyFetch tokens), invites and device commands. It
	// returns how many rows went.
	PurgeAccounts(ctx context.Context, now int64) (int64, error)
}
