package sqldb

import (
	"context"
	"fmt"

	"syncserver/db"
)

// Session and keyFetch tokens, OAuth codes and refresh tokens of the
// built-in accounts. Single-use reads (TakeAuthToken, TakeOAuthCode) read
// the row and then delete it in the same write transaction, and only the
// caller whose DELETE removed the row gets it: of two racing takes on
// MySQL or PostgreSQL, the second DELETE waits for the first to commit
// and then finds nothing. SQLite's single writer serialises them anyway.

const tokenCols = "id_hash, kind, uid, hmac_key, bundle, created_at, last_used, expires, user_agent, device_id"

func scanToken(scan func(...any) error) (db.AuthToken, error) {
	var t db.AuthToken
	err := scan(&t.IDHash, &t.Kind, &t.UID, &t.HMACKey, &t.Bundle, &t.CreatedAt, &t.LastUsed, &t.Expires,
		&t.UserAgent, &t.DeviceID)
	return t, err
}

// expired reports whether an expiry (ms, 0 = never) has passed at now.
func expired(expires, now int64) bool { return expires != 0 && expires <= now }

// PutAuthToken stores a token; db.ErrExists when its id is taken.
func (s *Store) PutAuthToken(ctx context.Context, t db.AuthToken) error {
	if len(t.IDHash) == 0 || t.UID == "" {
		return fmt.Errorf("accounts: a token needs an id hash and a uid")
	}
	return s.write(ctx, func(q *querier) error {
		return q.insertNew("token", "INSERT INTO accounts_tokens ("+tokenCols+") VALUES ("+placeholders(10)+")"+
			s.d.upsert([]string{"id_hash"}, nil),
			t.IDHash, t.Kind, t.UID, blob(t.HMACKey), t.Bundle, t.CreatedAt, t.LastUsed, t.Expires, t.UserAgent, t.DeviceID)
	})
}

// insertNew runs an INSERT whose upsert clause does nothing on a key
// collision, and fails with db.ErrExists when it inserted nothing.
func (q *querier) insertNew(what, insert string, args ...any) error {
	res, err := q.exec(insert, args...)
	if err != nil {
		return err
	}
	n, err := q.affected(res)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: %s", db.ErrExists, what)
	}
	return err
}

// AuthToken finds a token by the hash of its id; an expired one is
// db.ErrNotFound.
func (s *Store) AuthToken(ctx context.Context, idHash []byte) (db.AuthToken, error) {
	var t db.AuthToken
	err := s.read(ctx, func(q *querier) error {
		var err error
		t, err = scanToken(func(dest ...any) error {
			return q.scan("SELECT "+tokenCols+" FROM accounts_tokens WHERE id_hash = ?", []any{blob(idHash)}, dest...)
		})
		return notFound(err, "token")
	})
	if err == nil && expired(t.Expires, s.now().UnixMilli()) {
		return db.AuthToken{}, fmt.Errorf("%w: token expired", db.ErrNotFound)
	}
	return t, err
}

// TouchAuthToken records a use of the token.
func (s *Store) TouchAuthToken(ctx context.Context, idHash []byte, now int64) error {
	return s.write(ctx, func(q *querier) error {
		return q.updateOne("token", "UPDATE accounts_tokens SET last_used = ? WHERE id_hash = ?",
			"accounts_tokens WHERE id_hash = ?", now, blob(idHash))
	})
}

// TakeAuthToken reads and deletes a token in one step (single use). It
// takes nothing along: a keyFetch token has no devices or refresh tokens.
func (s *Store) TakeAuthToken(ctx context.Context, idHash []byte) (db.AuthToken, error) {
	var t db.AuthToken
	err := s.write(ctx, func(q *querier) error {
		var err error
		t, err = scanToken(func(dest ...any) error {
			return q.scan("SELECT "+tokenCols+" FROM accounts_tokens WHERE id_hash = ?", []any{blob(idHash)}, dest...)
		})
		if err != nil {
			return notFound(err, "token")
		}
		return q.deleteOne("token", "DELETE FROM accounts_tokens WHERE id_hash = ?", blob(idHash))
	})
	if err == nil && expired(t.Expires, s.now().UnixMilli()) {
		return db.AuthToken{}, fmt.Errorf("%w: token expired", db.ErrNotFound)
	}
	return t, err
}

// deleteOne runs a DELETE and fails with db.ErrNotFound when it deleted
// nothing (the row is absent, or a racing transaction took it first).
func (q *querier) deleteOne(what, del string, args ...any) error {
	res, err := q.exec(del, args...)
	if err != nil {
		return err
	}
	n, err := q.affected(res)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: %s", db.ErrNotFound, what)
	}
	return err
}

// DeleteAuthToken deletes a token. A session token takes along what a
// client holds through it: its device (with the device's commands), the
// refresh tokens and codes made from it (SessionIDHash), and their
// devices.
func (s *Store) DeleteAuthToken(ctx context.Context, idHash []byte) error {
	return s.write(ctx, func(q *querier) error {
		var kind, uid string
		err := q.scan("SELECT kind, uid FROM accounts_tokens WHERE id_hash = ?", []any{blob(idHash)}, &kind, &uid)
		if err != nil {
			return notFound(err, "token")
		}
		if err := q.deleteOne("token", "DELETE FROM accounts_tokens WHERE id_hash = ?", blob(idHash)); err != nil {
			return err
		}
		if kind != db.TokenSession {
			return nil
		}
		if err := deleteDeviceOf(q, uid, idHash); err != nil {
			return err
		}
		var refresh [][]byte
		rows, err := q.query("SELECT hash FROM accounts_refresh WHERE session_id_hash = ?", blob(idHash))
		if err != nil {
			return err
		}
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return q.fail(err)
			}
			refresh = append(refresh, h)
		}
		rows.Close()
		if err := q.fail(rows.Err()); err != nil {
			return err
		}
		for _, h := range refresh {
			if err := deleteDeviceOf(q, uid, h); err != nil {
				return err
			}
		}
		for _, table := range []string{"accounts_refresh", "accounts_codes"} {
			if _, err := q.exec("DELETE FROM "+table+" WHERE session_id_hash = ?", blob(idHash)); err != nil {
				return err
			}
		}
		return nil
	})
}

const codeCols = "hash, client_id, uid, scope, challenge, keys_jwe, session_id_hash, auth_at, expires"

// PutOAuthCode stores a code; db.ErrExists when its hash is taken.
func (s *Store) PutOAuthCode(ctx context.Context, c db.OAuthCode) error {
	if len(c.Hash) == 0 || c.UID == "" {
		return fmt.Errorf("accounts: a code needs a hash and a uid")
	}
	return s.write(ctx, func(q *querier) error {
		return q.insertNew("code", "INSERT INTO accounts_codes ("+codeCols+") VALUES ("+placeholders(9)+")"+
			s.d.upsert([]string{"hash"}, nil),
			c.Hash, c.ClientID, c.UID, c.Scope, c.Challenge, c.KeysJWE, c.SessionIDHash, c.AuthAt, c.Expires)
	})
}

// TakeOAuthCode reads and deletes a code (single use); an expired code is
// deleted and db.ErrNotFound.
func (s *Store) TakeOAuthCode(ctx context.Context, hash []byte) (db.OAuthCode, error) {
	var c db.OAuthCode
	err := s.write(ctx, func(q *querier) error {
		err := q.scan("SELECT "+codeCols+" FROM accounts_codes WHERE hash = ?", []any{blob(hash)},
			&c.Hash, &c.ClientID, &c.UID, &c.Scope, &c.Challenge, &c.KeysJWE, &c.SessionIDHash, &c.AuthAt, &c.Expires)
		if err != nil {
			return notFound(err, "code")
		}
		return q.deleteOne("code", "DELETE FROM accounts_codes WHERE hash = ?", blob(hash))
	})
	if err == nil && expired(c.Expires, s.now().UnixMilli()) {
		return db.OAuthCode{}, fmt.Errorf("%w: code expired", db.ErrNotFound)
	}
	return c, err
}

const refreshCols = "hash, client_id, uid, scope, device_id, session_id_hash, created_at, last_used"

func scanRefresh(scan func(...any) error) (db.RefreshToken, error) {
	var t db.RefreshToken
	err := scan(&t.Hash, &t.ClientID, &t.UID, &t.Scope, &t.DeviceID, &t.SessionIDHash, &t.CreatedAt, &t.LastUsed)
	return t, err
}

// PutRefreshToken stores a refresh token; db.ErrExists when its hash is
// taken.
func (s *Store) PutRefreshToken(ctx context.Context, t db.RefreshToken) error {
	if len(t.Hash) == 0 || t.UID == "" {
		return fmt.Errorf("accounts: a refresh token needs a hash and a uid")
	}
	return s.write(ctx, func(q *querier) error {
		return q.insertNew("refresh token", "INSERT INTO accounts_refresh ("+refreshCols+") VALUES ("+placeholders(8)+")"+
			s.d.upsert([]string{"hash"}, nil),
			t.Hash, t.ClientID, t.UID, t.Scope, t.DeviceID, t.SessionIDHash, t.CreatedAt, t.LastUsed)
	})
}

// RefreshToken finds a refresh token by its hash.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (db.RefreshToken, error) {
	var t db.RefreshToken
	err := s.read(ctx, func(q *querier) error {
		var err error
		t, err = scanRefresh(func(dest ...any) error {
			return q.scan("SELECT "+refreshCols+" FROM accounts_refresh WHERE hash = ?", []any{blob(hash)}, dest...)
		})
		return notFound(err, "refresh token")
	})
	return t, err
}

// TouchRefreshToken records a use of the refresh token.
func (s *Store) TouchRefreshToken(ctx context.Context, hash []byte, now int64) error {
	return s.write(ctx, func(q *querier) error {
		return q.updateOne("refresh token", "UPDATE accounts_refresh SET last_used = ? WHERE hash = ?",
			"accounts_refresh WHERE hash = ?", now, blob(hash))
	})
}

// DeleteRefreshToken deletes a refresh token with its device.
func (s *Store) DeleteRefreshToken(ctx context.Context, hash []byte) error {
	return s.write(ctx, func(q *querier) error {
		var uid string
		if err := q.scan("SELECT uid FROM accounts_refresh WHERE hash = ?", []any{blob(hash)}, &uid); err != nil {
			return notFound(err, "refresh token")
		}
		if err := q.deleteOne("refresh token", "DELETE FROM accounts_refresh WHERE hash = ?", blob(hash)); err != nil {
			return err
		}
		return deleteDeviceOf(q, uid, hash)
	})
}

// RefreshTokens lists the account's refresh tokens, oldest first.
func (s *Store) RefreshTokens(ctx context.Context, uid string) ([]db.RefreshToken, error) {
	var out []db.RefreshToken
	err := s.read(ctx, func(q *querier) error {
		out = nil // a retry starts again
		rows, err := q.query("SELECT "+refreshCols+" FROM accounts_refresh WHERE uid = ? ORDER BY created_at, hash", uid)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanRefresh(rows.Scan)
			if err != nil {
				return q.fail(err)
			}
			out = append(out, t)
		}
		return q.fail(rows.Err())
	})
	return out, err
}

// Sessions lists the account's unexpired session tokens, oldest first.
func (s *Store) Sessions(ctx context.Context, uid string) ([]db.AuthToken, error) {
	var out []db.AuthToken
	now := s.now().UnixMilli()
	err := s.read(ctx, func(q *querier) error {
		rows, err := q.query("SELECT "+tokenCols+" FROM accounts_tokens WHERE uid = ? AND kind = ? ORDER BY created_at, id_hash",
			uid, db.TokenSession)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows.Scan)
			if err != nil {
				return q.fail(err)
			}
			if !expired(t.Expires, now) {
				out = append(out, t)
			}
		}
		return q.fail(rows.Err())
	})
	return out, err
}

// CountSessions counts the unexpired session tokens at now.
func (s *Store) CountSessions(ctx context.Context, now int64) (int64, error) {
	var n int64
	err := s.read(ctx, func(q *querier) error {
		return q.scan("SELECT COUNT(*) FROM accounts_tokens WHERE kind = ? AND (expires = 0 OR expires > ?)",
			[]any{db.TokenSession, now}, &n)
	})
	return n, err
}
