package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"syncserver/db"
)

// What `syncserver users` needs. An account is every users row of one
// email; the operations take any of its uids.

var _ db.Admin = (*Store)(nil)

// accountOf returns the email and service (an id, or the legacy string)
// of uid's row, db.ErrNotFound when there is none.
func (s *Store) accountOf(q *querier, uid db.UID) (string, any, error) {
	var email string
	var service any
	err := q.scan("SELECT email, service FROM users WHERE uid = ?", []any{int64(uid)}, &email, &service)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("%w: no user has uid %d", db.ErrNotFound, uid)
	}
	if b, ok := service.([]byte); ok {
		service = string(b)
	}
	return email, service, err
}

// currentUID is the uid of email's current record (the legacy rule:
// latest created_at, then highest uid).
func (s *Store) currentUID(q *querier, email string) (db.UID, error) {
	var uid int64
	err := q.scan("SELECT uid FROM users WHERE email = ? ORDER BY created_at DESC, uid DESC LIMIT 1", []any{email}, &uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: no user %s", db.ErrNotFound, email)
	}
	return db.UID(uid), err
}

// ResolveUser finds the current uid of the account named by a uid, an
// email or an FxA uid.
func (s *Store) ResolveUser(ctx context.Context, who string) (db.UID, error) {
	who = strings.TrimSpace(who)
	var uid db.UID
	err := s.read(ctx, func(q *querier) error {
		var err error
		switch {
		case who == "":
			return fmt.Errorf("%w: no user named", db.ErrNotFound)
		case isDigits(who):
			n, perr := strconv.ParseInt(who, 10, 64)
			if perr != nil {
				return fmt.Errorf("%w: uid %s", db.ErrNotFound, who)
			}
			email, _, err := s.accountOf(q, db.UID(n))
			if err != nil {
				return err
			}
			uid, err = s.currentUID(q, email)
			return err
		case strings.Contains(who, "@"):
			uid, err = s.currentUID(q, who)
			return err
		}
		// An FxA uid: the emails "<who>@…", a range on lookup_idx ('A'
		// follows '@').
		fxa := strings.ToLower(who)
		rows, err := q.query("SELECT DISTINCT email FROM users WHERE email >= ? AND email < ?", fxa+"@", fxa+"A")
		if err != nil {
			return err
		}
		var emails []string
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return q.fail(err)
			}
			emails = append(emails, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return q.fail(err)
		}
		switch len(emails) {
		case 0:
			return fmt.Errorf("%w: no user with FxA uid %s", db.ErrNotFound, who)
		case 1:
			uid, err = s.currentUID(q, emails[0])
			return err
		}
		return fmt.Errorf("%w: FxA uid %s has accounts %s; name one by email", db.ErrAmbiguous, who, strings.Join(emails, ", "))
	})
	return uid, err
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// adminRows reads users rows matching where (on u), ordered by email then
// newest first, with their node URL.
func (s *Store) adminRows(q *querier, where string, args ...any) ([]db.UserInfo, error) {
	query := `SELECT u.uid, u.email, u.generation, u.client_state, u.created_at, u.replaced_at,
		u.keys_changed_at, COALESCE(n.node, '') FROM users u LEFT JOIN nodes n ON n.id = u.nodeid`
	if where != "" {
		query += " WHERE " + where
	}
	rows, err := q.query(query+" ORDER BY u.email, u.created_at DESC, u.uid DESC", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []db.UserInfo
	for rows.Next() {
		var u db.UserInfo
		var uid int64
		var replaced, kca sql.NullInt64
		if err := rows.Scan(&uid, &u.Email, &u.Generation, &u.ClientState, &u.CreatedAt, &replaced, &kca, &u.Node); err != nil {
			return nil, q.fail(err)
		}
		u.UID, u.ReplacedAt, u.KeysChangedAt = db.UID(uid), replaced.Int64, kca.Int64
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, q.fail(err)
	}
	// The first row of each email is its current record.
	for i := range out {
		current := i == 0 || out[i-1].Email != out[i].Email
		switch {
		case out[i].Generation == db.RetiredGeneration:
			out[i].Status = db.UserRetired
		case current:
			out[i].Status = db.UserActive
		default:
			out[i].Status = db.UserReplaced
		}
	}
	return out, nil
}

// addActivity fills LastActive, Records and Bytes of users. With uids
// (the users' own) it reads only theirs, otherwise every user's.
func (s *Store) addActivity(q *querier, users []db.UserInfo, only bool) error {
	byUID := make(map[db.UID]*db.UserInfo, len(users))
	var uids []any
	for i := range users {
		byUID[users[i].UID] = &users[i]
		uids = append(uids, int64(users[i].UID))
	}
	if len(users) == 0 {
		return nil
	}
	filter := func(col string) (string, []any) {
		if !only {
			return "", nil
		}
		return " AND " + col + " IN (" + placeholders(len(uids)) + ")", uids
	}
	nowS := s.now().Unix()
	f, fargs := filter("userid")
	for _, stmt := range []struct {
		query string
		args  []any
		apply func(u *db.UserInfo, a, b int64)
	}{
		{"SELECT userid, COUNT(*), COALESCE(SUM(payload_size), 0) FROM bso WHERE ttl > ?" + f + " GROUP BY userid",
			append([]any{nowS}, fargs...), func(u *db.UserInfo, n, bytes int64) { u.Records, u.Bytes = n, bytes }},
		{"SELECT userid, MAX(last_write), 0 FROM user_meta WHERE 1 = 1" + f + " GROUP BY userid",
			fargs, func(u *db.UserInfo, ts, _ int64) { u.LastActive = max(u.LastActive, db.Timestamp(ts)) }},
		{"SELECT userid, MAX(last_modified), 0 FROM user_collections WHERE 1 = 1" + f + " GROUP BY userid",
			fargs, func(u *db.UserInfo, ts, _ int64) { u.LastActive = max(u.LastActive, db.Timestamp(ts)) }},
	} {
		if err := s.scanTriples(q, stmt.query, stmt.args, func(uid, a, b int64) {
			if u := byUID[db.UID(uid)]; u != nil {
				stmt.apply(u, a, b)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// scanTriples runs a query of three integer columns.
func (s *Store) scanTriples(q *querier, query string, args []any, fn func(a, b, c int64)) error {
	rows, err := q.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b, c int64
		if err := rows.Scan(&a, &b, &c); err != nil {
			return q.fail(err)
		}
		fn(a, b, c)
	}
	return q.fail(rows.Err())
}

// ListUsers lists current records (or every record) with their activity.
func (s *Store) ListUsers(ctx context.Context, all bool) ([]db.UserInfo, error) {
	if err := s.usersReady(ctx); err != nil {
		return nil, err
	}
	var users []db.UserInfo
	err := s.read(ctx, func(q *querier) error {
		users = nil // a retry starts again
		rows, err := s.adminRows(q, "")
		if err != nil {
			return err
		}
		for i, u := range rows {
			if all || i == 0 || rows[i-1].Email != u.Email {
				users = append(users, u)
			}
		}
		return s.addActivity(q, users, false)
	})
	return users, err
}

// UserInfo describes uid's account.
func (s *Store) UserInfo(ctx context.Context, uid db.UID) (db.AccountInfo, error) {
	if err := s.usersReady(ctx); err != nil {
		return db.AccountInfo{}, err
	}
	var acct db.AccountInfo
	err := s.read(ctx, func(q *querier) error {
		email, _, err := s.accountOf(q, uid)
		if err != nil {
			return err
		}
		acct.Email = email
		if acct.Records, err = s.adminRows(q, "u.email = ?", email); err != nil {
			return err
		}
		if err := s.addActivity(q, acct.Records, true); err != nil {
			return err
		}
		acct.Quota, err = s.userQuota(q, email)
		return err
	})
	if err != nil {
		return db.AccountInfo{}, err
	}
	if len(acct.Records) == 0 {
		return db.AccountInfo{}, fmt.Errorf("%w: uid %d", db.ErrNotFound, uid)
	}
	err = s.View(ctx, acct.Records[0].UID, func(t db.Tx) error {
		stamps, err := t.CollectionTimestamps()
		if err != nil {
			return err
		}
		usage, err := t.CollectionUsage()
		if err != nil {
			return err
		}
		for name, ts := range stamps {
			u := usage[name]
			acct.Collections = append(acct.Collections, db.CollectionInfo{Name: name, Modified: ts, Records: u.Count, Bytes: u.Bytes})
		}
		slices.SortFunc(acct.Collections, func(a, b db.CollectionInfo) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
	return acct, err
}

// DeleteUserData empties the storage of every record of uid's account.
func (s *Store) DeleteUserData(ctx context.Context, uid db.UID) (db.DeleteResult, error) {
	var res db.DeleteResult
	var uids []db.UID
	err := s.read(ctx, func(q *querier) error {
		uids = nil // a retry starts again
		email, _, err := s.accountOf(q, uid)
		if err != nil {
			return err
		}
		rows, err := q.query("SELECT uid FROM users WHERE email = ? ORDER BY created_at DESC, uid DESC", email)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u int64
			if err := rows.Scan(&u); err != nil {
				return q.fail(err)
			}
			uids = append(uids, db.UID(u))
		}
		return q.fail(rows.Err())
	})
	if err != nil {
		return res, err
	}
	var o db.PurgeOptions
	o.Chunk = db.DefaultPurgeChunk
	for i, u := range uids {
		if i > 0 {
			// An earlier record: nobody uses its uid any more.
			n, err := s.emptyStorage(ctx, o, u, db.PurgeReplacedRows)
			res.Records += n
			if err != nil {
				return res, err
			}
			res.UIDs = append(res.UIDs, u)
			continue
		}
		// The current record: delete its records in chunks, then the
		// rest through DeleteStorage, which moves the storage timestamp
		// forward so that every client notices.
		n, err := s.purgeChunks(ctx, o, db.PurgeReplacedRows, userRecords(u))
		res.Records += n
		if err != nil {
			return res, err
		}
		if err := s.Update(ctx, u, func(t db.Tx) error { return t.DeleteStorage() }); err != nil {
			return res, err
		}
		res.UIDs = append(res.UIDs, u)
	}
	return res, nil
}

// RetireUser marks every record of uid's account replaced, with the
// generation no token can reach.
func (s *Store) RetireUser(ctx context.Context, uid db.UID) error {
	return s.write(ctx, func(q *querier) error {
		email, service, err := s.accountOf(q, uid)
		if err != nil {
			return err
		}
		_, err = q.exec("UPDATE users SET generation = ?, replaced_at = COALESCE(replaced_at, ?) WHERE email = ? AND service = ?",
			db.RetiredGeneration, s.now().UnixMilli(), email, service)
		return err
	})
}

// Stats reads the server-wide totals: users from the users table, records
// from bso_ttl_idx, sizes from the dialect.
func (s *Store) Stats(ctx context.Context) (db.Stats, error) {
	var st db.Stats
	err := s.read(ctx, func(q *querier) error {
		nowS := s.now().Unix()
		if err := q.scan("SELECT COUNT(DISTINCT email) FROM users WHERE replaced_at IS NULL", nil, &st.Users); err != nil {
			return err
		}
		if err := q.scan("SELECT COUNT(*) FROM bso WHERE ttl > ?", []any{nowS}, &st.Records); err != nil {
			return err
		}
		if err := q.scan("SELECT COUNT(*) FROM bso WHERE ttl <= ?", []any{nowS}, &st.ExpiredRecords); err != nil {
			return err
		}
		var err error
		st.DatabaseBytes, st.FreeBytes, err = s.databaseSize(q)
		if err != nil || s.d.Maintenance.Synchronous == nil {
			return err
		}
		st.Synchronous, err = s.d.Maintenance.Synchronous(q.ctx, q.tx)
		return q.fail(err)
	})
	return st, err
}
