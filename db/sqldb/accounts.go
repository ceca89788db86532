package sqldb

import (
	"context"
	"errors"

	"syncserver/db"
)

var _ db.AccountsStore = (*Store)(nil)

// errAccountsTODO is answered until the accounts tables land.
var errAccountsTODO = errors.New("accounts: not implemented yet")

func (s *Store) CreateAccount(ctx context.Context, a db.Account) error { return errAccountsTODO }
func (s *Store) AccountByEmail(ctx context.Context, email string) (db.Account, error) {
	return db.Account{}, errAccountsTODO
}
func (s *Store) AccountByUID(ctx context.Context, uid string) (db.Account, error) {
	return db.Account{}, errAccountsTODO
}
func (s *Store) ListAccounts(ctx context.Context) ([]db.Account, error) { return nil, errAccountsTODO }
func (s *Store) SetAccountDisabled(ctx context.Context, uid string, disabled bool) error {
	return errAccountsTODO
}
func (s *Store) UpdateAccountPassword(ctx context.Context, uid, clientSalt string, authSalt, verifyHash, wrapWrapKb []byte, verifierSetAt, keysChangedAt int64) error {
	return errAccountsTODO
}
func (s *Store) DeleteAccount(ctx context.Context, uid string) error    { return errAccountsTODO }
func (s *Store) PutAuthToken(ctx context.Context, t db.AuthToken) error { return errAccountsTODO }
func (s *Store) AuthToken(ctx context.Context, idHash []byte) (db.AuthToken, error) {
	return db.AuthToken{}, errAccountsTODO
}
func (s *Store) TouchAuthToken(ctx context.Context, idHash []byte, now int64) error {
	return errAccountsTODO
}
func (s *Store) DeleteAuthToken(ctx context.Context, idHash []byte) error { return errAccountsTODO }
func (s *Store) TakeAuthToken(ctx context.Context, idHash []byte) (db.AuthToken, error) {
	return db.AuthToken{}, errAccountsTODO
}
func (s *Store) DeleteAuthTokens(ctx context.Context, uid string) error { return errAccountsTODO }
func (s *Store) PutOAuthCode(ctx context.Context, c db.OAuthCode) error { return errAccountsTODO }
func (s *Store) TakeOAuthCode(ctx context.Context, hash []byte) (db.OAuthCode, error) {
	return db.OAuthCode{}, errAccountsTODO
}
func (s *Store) PutRefreshToken(ctx context.Context, t db.RefreshToken) error { return errAccountsTODO }
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (db.RefreshToken, error) {
	return db.RefreshToken{}, errAccountsTODO
}
func (s *Store) TouchRefreshToken(ctx context.Context, hash []byte, now int64) error {
	return errAccountsTODO
}
func (s *Store) DeleteRefreshToken(ctx context.Context, hash []byte) error { return errAccountsTODO }
func (s *Store) RefreshTokens(ctx context.Context, uid string) ([]db.RefreshToken, error) {
	return nil, errAccountsTODO
}
func (s *Store) UpsertDevice(ctx context.Context, d db.Device) (db.Device, error) {
	return db.Device{}, errAccountsTODO
}
func (s *Store) Devices(ctx context.Context, uid string) ([]db.Device, error) {
	return nil, errAccountsTODO
}
func (s *Store) DeleteDevice(ctx context.Context, uid, id string) error { return errAccountsTODO }
func (s *Store) PushDeviceCommand(ctx context.Context, c db.DeviceCommand) (int64, error) {
	return 0, errAccountsTODO
}
func (s *Store) DeviceCommands(ctx context.Context, uid, deviceID string, after int64, limit int) ([]db.DeviceCommand, error) {
	return nil, errAccountsTODO
}
func (s *Store) PutInvite(ctx context.Context, i db.Invite) error { return errAccountsTODO }
func (s *Store) TakeInvite(ctx context.Context, hash []byte, now int64) (db.Invite, error) {
	return db.Invite{}, errAccountsTODO
}
func (s *Store) SigningKeys(ctx context.Context) ([][]byte, error)   { return nil, errAccountsTODO }
func (s *Store) PutSigningKey(ctx context.Context, key []byte) error { return errAccountsTODO }
func (s *Store) PurgeAccounts(ctx context.Context, now int64) (int64, error) {
	return 0, errAccountsTODO
}
