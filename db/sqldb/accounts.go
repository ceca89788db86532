package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"syncserver/db"
)

// The built-in accounts' tables (migration 7): accounts_users and the
// tables of what hangs off an account, all keyed by its uid. Secrets are
// hashed by the caller; this file only stores and finds them. Emails are
// normalised here, on every write and lookup, so that no caller can
// create two accounts that differ only in case or spaces.

var _ db.AccountsStore = (*Store)(nil)

const accountCols = "uid, email, client_salt, auth_salt, verify_hash, wrap_wrap_kb, ka, " +
	"keys_changed_at, verifier_set_at, created_at, disabled, locale"

// blob is b for a NOT NULL binary column: database/sql sends a nil
// []byte as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// boolInt is how the SMALLINT flag columns hold a bool on every backend.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// notFound maps sql.ErrNoRows to db.ErrNotFound naming what was looked
// for; other errors pass through.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", db.ErrNotFound, what)
	}
	return err
}

// affected returns the rows a statement changed. MySQL counts only the
// rows whose values changed, so an UPDATE that writes the same values
// reports 0: use exists to tell "absent" from "unchanged".
func (q *querier) affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, q.fail(err)
	}
	return n, nil
}

// exists reports whether the query finds a row.
func (q *querier) exists(query string, args ...any) (bool, error) {
	var one int
	err := q.scan("SELECT 1 FROM "+query, args, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// updateOne runs an UPDATE of one row and fails with db.ErrNotFound
// (naming what) when the row does not exist: from is "table WHERE key =
// ?", and the key is the last of args, as in the UPDATE's WHERE.
func (q *querier) updateOne(what, update, from string, args ...any) error {
	res, err := q.exec(update, args...)
	if err != nil {
		return err
	}
	n, err := q.affected(res)
	if err != nil || n > 0 {
		return err
	}
	ok, err := q.exists(from, args[len(args)-1])
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s", db.ErrNotFound, what)
	}
	return err
}

func scanAccount(scan func(...any) error) (db.Account, error) {
	var a db.Account
	var disabled int
	err := scan(&a.UID, &a.Email, &a.ClientSalt, &a.AuthSalt, &a.VerifyHash, &a.WrapWrapKb, &a.KA,
		&a.KeysChangedAt, &a.VerifierSetAt, &a.CreatedAt, &disabled, &a.Locale)
	a.Disabled = disabled != 0
	return a, err
}

// CreateAccount stores a new account; db.ErrExists when its email or uid
// is taken.
func (s *Store) CreateAccount(ctx context.Context, a db.Account) error {
	a.Email = db.NormaliseEmail(a.Email)
	if a.UID == "" || a.Email == "" {
		return errors.New("accounts: an account needs a uid and an email")
	}
	return s.write(ctx, func(q *querier) error {
		taken, err := q.exists("accounts_users WHERE uid = ?", a.UID)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: account uid %s", db.ErrExists, a.UID)
		}
		// The upsert that does nothing makes a racing creation of the
		// same email (another server on the database) an ErrExists too,
		// not a unique-index failure.
		res, err := q.exec("INSERT INTO accounts_users ("+accountCols+") VALUES ("+placeholders(12)+")"+
			s.d.upsert([]string{"email"}, nil),
			a.UID, a.Email, a.ClientSalt, blob(a.AuthSalt), blob(a.VerifyHash), blob(a.WrapWrapKb), blob(a.KA),
			a.KeysChangedAt, a.VerifierSetAt, a.CreatedAt, boolInt(a.Disabled), a.Locale)
		if err != nil {
			return err
		}
		n, err := q.affected(res)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: account %s", db.ErrExists, a.Email)
		}
		return err
	})
}

// AccountByEmail finds an account by its email, normalised.
func (s *Store) AccountByEmail(ctx context.Context, email string) (db.Account, error) {
	return s.account(ctx, "email", db.NormaliseEmail(email))
}

// AccountByUID finds an account by its uid.
func (s *Store) AccountByUID(ctx context.Context, uid string) (db.Account, error) {
	return s.account(ctx, "uid", uid)
}

func (s *Store) account(ctx context.Context, col, value string) (db.Account, error) {
	var a db.Account
	err := s.read(ctx, func(q *querier) error {
		var err error
		a, err = scanAccount(func(dest ...any) error {
			return q.scan("SELECT "+accountCols+" FROM accounts_users WHERE "+col+" = ?", []any{value}, dest...)
		})
		return notFound(err, "account")
	})
	return a, err
}

// ListAccounts lists every account by email.
func (s *Store) ListAccounts(ctx context.Context) ([]db.Account, error) {
	var out []db.Account
	err := s.read(ctx, func(q *querier) error {
		out = nil // a retry starts again
		rows, err := q.query("SELECT " + accountCols + " FROM accounts_users ORDER BY email")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows.Scan)
			if err != nil {
				return q.fail(err)
			}
			out = append(out, a)
		}
		return q.fail(rows.Err())
	})
	return out, err
}

// SetAccountDisabled sets the account's disabled flag.
func (s *Store) SetAccountDisabled(ctx context.Context, uid string, disabled bool) error {
	return s.write(ctx, func(q *querier) error {
		return q.updateOne("account", "UPDATE accounts_users SET disabled = ? WHERE uid = ?",
			"accounts_users WHERE uid = ?", boolInt(disabled), uid)
	})
}

// UpdateAccountPassword replaces the account's verifier (and, unless
// keysChangedAt is 0, its keys-changed time).
func (s *Store) UpdateAccountPassword(ctx context.Context, uid, clientSalt string, authSalt, verifyHash, wrapWrapKb []byte, verifierSetAt, keysChangedAt int64) error {
	return s.write(ctx, func(q *querier) error {
		set := "client_salt = ?, auth_salt = ?, verify_hash = ?, wrap_wrap_kb = ?, verifier_set_at = ?"
		args := []any{clientSalt, blob(authSalt), blob(verifyHash), blob(wrapWrapKb), verifierSetAt}
		if keysChangedAt != 0 {
			set += ", keys_changed_at = ?"
			args = append(args, keysChangedAt)
		}
		return q.updateOne("account", "UPDATE accounts_users SET "+set+" WHERE uid = ?",
			"accounts_users WHERE uid = ?", append(args, uid)...)
	})
}

// DeleteAccount deletes the account and everything that hangs off it;
// db.ErrNotFound when there is no such account (what hung off an unknown
// uid is deleted all the same).
func (s *Store) DeleteAccount(ctx context.Context, uid string) error {
	return s.write(ctx, func(q *querier) error {
		if err := revokeAll(q, uid); err != nil {
			return err
		}
		res, err := q.exec("DELETE FROM accounts_users WHERE uid = ?", uid)
		if err != nil {
			return err
		}
		n, err := q.affected(res)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: account", db.ErrNotFound)
		}
		return err
	})
}

// DeleteAuthTokens revokes every credential of the account: session and
// keyFetch tokens, unredeemed codes, refresh tokens, devices and their
// pending commands. db.ErrNotFound when there is no such account.
func (s *Store) DeleteAuthTokens(ctx context.Context, uid string) error {
	return s.write(ctx, func(q *querier) error {
		ok, err := q.exists("accounts_users WHERE uid = ?", uid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: account", db.ErrNotFound)
		}
		return revokeAll(q, uid)
	})
}

// revokeAll deletes every row of the account but its accounts_users row.
func revokeAll(q *querier, uid string) error {
	for _, table := range []string{"accounts_commands", "accounts_devices", "accounts_refresh", "accounts_codes", "accounts_tokens"} {
		if _, err := q.exec("DELETE FROM "+table+" WHERE uid = ?", uid); err != nil {
			return err
		}
	}
	return nil
}
