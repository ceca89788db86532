package accounts

import (
	"context"

	"syncserver/accounts/onepw"
	"syncserver/handlers"
)

// accountDestroy is POST /v1/account/destroy {email, authPW} (the
// settings page, Hawk session): the account goes with its sessions,
// tokens and devices, and then its Sync data. A signed-in session is not
// enough: the password is asked again, as FxA does, so that a browser left
// open cannot delete the account. The data is deleted after the account,
// so that nothing can get a new storage token while it goes.
func (s *Service) accountDestroy(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	email, authPW, err := decodeLogin(c)
	if err != nil {
		return nil, err
	}
	acct := cr.account
	if err := s.checkRate(c, "login", acct.Email); err != nil {
		return nil, err
	}
	var ok bool
	v := onepw.Verifier{AuthSalt: acct.AuthSalt, VerifyHash: acct.VerifyHash, WrapWrapKb: acct.WrapWrapKb}
	withScrypt(func() { _, ok = kdf.unwrap(v, authPW) })
	// Another account's email with this session's password is as wrong
	// as a wrong password.
	if !ok || email != acct.Email {
		return nil, errIncorrectPassword()
	}
	if err := s.store.DeleteAccount(ctx, acct.UID); err != nil {
		return nil, errServer(err)
	}
	if s.opts.RemoveSyncData != nil {
		if err := s.opts.RemoveSyncData(ctx, acct.UID); err != nil {
			return nil, errServer(err)
		}
	}
	s.log.Info("accounts: account deleted by its owner", "uid", acct.UID)
	return s.jsonOK(c, empty)
}
