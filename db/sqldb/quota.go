package sqldb

import (
	"context"
	"database/sql"
	"errors"

	"syncserver/db"
)

// Per-account quota overrides live in user_quotas (migration 6), keyed by
// the account's email so that they survive key changes (a new uid).

var _ db.QuotaTx = (*tx)(nil)

// UserQuota returns the quota override of the transaction's user, found
// through its users row: ok is false when there is none.
func (t *tx) UserQuota() (int64, bool, error) {
	var bytes int64
	err := t.scan(`SELECT q.quota_bytes FROM users u JOIN user_quotas q ON q.email = u.email WHERE u.uid = ?`,
		[]any{int64(t.uid)}, &bytes)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return bytes, true, nil
}

// SetUserQuota sets the quota override of uid's account (0: no limit).
func (s *Store) SetUserQuota(ctx context.Context, uid db.UID, bytes int64) error {
	return s.write(ctx, func(q *querier) error {
		email, _, err := s.accountOf(q, uid)
		if err != nil {
			return err
		}
		_, err = q.exec("INSERT INTO user_quotas (email, quota_bytes, updated_at) VALUES (?, ?, ?)"+
			s.d.upsert([]string{"email"}, []string{s.d.set("quota_bytes"), s.d.set("updated_at")}),
			email, bytes, s.now().UnixMilli())
		return err
	})
}

// ClearUserQuota removes the quota override of uid's account.
func (s *Store) ClearUserQuota(ctx context.Context, uid db.UID) error {
	return s.write(ctx, func(q *querier) error {
		email, _, err := s.accountOf(q, uid)
		if err != nil {
			return err
		}
		_, err = q.exec("DELETE FROM user_quotas WHERE email = ?", email)
		return err
	})
}

// userQuota reads the override of an email; nil when there is none.
func (s *Store) userQuota(q *querier, email string) (*int64, error) {
	var bytes int64
	err := q.scan("SELECT quota_bytes FROM user_quotas WHERE email = ?", []any{email}, &bytes)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &bytes, nil
}
