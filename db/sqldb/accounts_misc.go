package sqldb

import (
	"context"
	"errors"
	"fmt"

	"syncserver/db"
)

// Invites, signing keys and the purge of the built-in accounts.

// PutInvite stores an invite (its email normalised); db.ErrExists when
// its hash is taken.
func (s *Store) PutInvite(ctx context.Context, i db.Invite) error {
	if len(i.Hash) == 0 {
		return errors.New("accounts: an invite needs a hash")
	}
	return s.write(ctx, func(q *querier) error {
		return q.insertNew("invite", "INSERT INTO accounts_invites (hash, email, created_at, expires, used_at) VALUES (?, ?, ?, ?, ?)"+
			s.d.upsert([]string{"hash"}, nil),
			i.Hash, db.NormaliseEmail(i.Email), i.CreatedAt, i.Expires, i.UsedAt)
	})
}

// TakeInvite marks an unused, unexpired invite used at now and returns
// it. The UPDATE's condition on used_at is what makes it single use: of
// racing takes, only one changes the row.
func (s *Store) TakeInvite(ctx context.Context, hash []byte, now int64) (db.Invite, error) {
	usedAt := max(now, 1) // 0 means unused
	var i db.Invite
	err := s.write(ctx, func(q *querier) error {
		res, err := q.exec("UPDATE accounts_invites SET used_at = ? WHERE hash = ? AND used_at = 0 AND expires > ?",
			usedAt, blob(hash), now)
		if err != nil {
			return err
		}
		if n, err := q.affected(res); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: invite unknown, used or expired", db.ErrNotFound)
		}
		return q.scan("SELECT hash, email, created_at, expires, used_at FROM accounts_invites WHERE hash = ?",
			[]any{blob(hash)}, &i.Hash, &i.Email, &i.CreatedAt, &i.Expires, &i.UsedAt)
	})
	return i, err
}

// SigningKeys returns the stored signing keys, newest first.
func (s *Store) SigningKeys(ctx context.Context) ([][]byte, error) {
	var keys [][]byte
	err := s.read(ctx, func(q *querier) error {
		keys = nil // a retry starts again
		rows, err := q.query("SELECT jwk FROM accounts_keys ORDER BY id DESC")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				return q.fail(err)
			}
			keys = append(keys, k)
		}
		return q.fail(rows.Err())
	})
	return keys, err
}

// PutSigningKey stores a new signing key, which becomes the newest.
func (s *Store) PutSigningKey(ctx context.Context, key []byte) error {
	if len(key) == 0 {
		return errors.New("accounts: empty signing key")
	}
	return s.write(ctx, func(q *querier) error {
		_, err := q.exec("INSERT INTO accounts_keys (jwk, created_at) VALUES (?, ?)", key, s.now().UnixMilli())
		return err
	})
}

// accountsPurge lists what PurgeAccounts deletes: rows whose expiry (ms)
// has passed. Tokens and commands with expiry 0 never expire; used
// invites stay until they expire, so that a second use is told "used".
var accountsPurge = []struct{ table, where string }{
	{"accounts_codes", "expires <= ?"},
	{"accounts_tokens", "expires <> 0 AND expires <= ?"},
	{"accounts_invites", "expires <= ?"},
	{"accounts_commands", "expires <> 0 AND expires <= ?"},
}

// PurgeAccounts deletes what expired at now, one short transaction per
// table, and returns how many rows went. Purge calls it too, so the
// server's periodic purge and `syncserver purge` do this work.
func (s *Store) PurgeAccounts(ctx context.Context, now int64) (int64, error) {
	var total int64
	for _, a := range accountsPurge {
		err := s.write(ctx, func(q *querier) error {
			res, err := q.exec("DELETE FROM "+a.table+" WHERE "+a.where, now)
			if err != nil {
				return err
			}
			n, err := q.affected(res)
			total += n
			return err
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
