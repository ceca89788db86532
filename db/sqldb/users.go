package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"syncserver/db"
)

// Users returns the tokenserver user store, kept in Mozilla's services,
// nodes and users tables of the same database.
func (s *Store) Users() db.Users { return users{s} }

// users implements db.Users. The current record of an email is the first
// by created_at DESC, uid DESC (the legacy rule); earlier records keep
// their uid, their client state (never accepted again) and their storage.
type users struct{ s *Store }

// userRow is one users row with what the methods need beyond db.User.
type userRow struct {
	db.User
	service, nodeID int64
}

// EnsureNode creates the service and node rows on first start and converts
// a legacy single-node users table (see legacyusers.go). It runs in one
// write transaction, under the schema lock while a conversion may be due,
// so processes starting together do it once.
func (u users) EnsureNode(ctx context.Context, service, node string, capacity int64) error {
	s := u.s
	if err := s.ready(ctx); err != nil {
		return err
	}
	lock := s.withSchemaLock
	if !s.usersLegacy.Load() {
		// The conversion is done (it is never undone): no need to
		// queue behind other processes.
		lock = func(_ context.Context, fn func() error) error { return fn() }
	}
	err := lock(ctx, func() error {
		return s.write(ctx, func(q *querier) error {
			sid, err := s.ensureService(q, service)
			if err != nil {
				return err
			}
			nid, err := s.ensureNode(q, sid, node, capacity)
			if err != nil {
				return err
			}
			return s.convertLegacyUsers(q, service, node, nid)
		})
	})
	if err != nil {
		return err
	}
	s.usersLegacy.Store(false)
	return nil
}

// GetUser returns the current record for email with OldClientStates.
func (u users) GetUser(ctx context.Context, service, email string) (db.User, error) {
	if err := u.s.usersReady(ctx); err != nil {
		return db.User{}, err
	}
	var user db.User
	// One SELECT: no transaction needed (readOne).
	err := u.s.readOne(ctx, func(q *querier) error {
		r, err := u.s.getUser(q, service, email)
		user = r.User
		return err
	})
	return user, err
}

// AllocateUser creates the first record for email on node, unless the
// email already has one, which is then returned unchanged. Node
// db.AnyNode picks the service's node (see assignNode).
func (u users) AllocateUser(ctx context.Context, service, email string, generation, keysChangedAt int64, clientState, node string) (db.User, error) {
	s := u.s
	if err := s.usersReady(ctx); err != nil {
		return db.User{}, err
	}
	var user db.User
	err := s.write(ctx, func(q *querier) error {
		sid, err := s.ensureService(q, service)
		if err != nil {
			return err
		}
		// Two first logins of one email make one record.
		if err := s.lockService(q, sid); err != nil {
			return err
		}
		cur, err := s.getUser(q, service, email)
		if err == nil {
			user = cur.User
			return nil
		}
		if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		var nid int64
		if node == db.AnyNode {
			nid, node, err = s.assignNode(q, sid)
		} else {
			nid, err = s.ensureNode(q, sid, node, 0)
		}
		if err != nil {
			return err
		}
		user = db.User{Email: email, Generation: generation, KeysChangedAt: keysChangedAt,
			ClientState: clientState, CreatedAt: s.now().UnixMilli(), Node: node}
		if user.UID, err = s.insertUser(q, sid, nid, user); err != nil {
			return err
		}
		return s.countNodeUser(q, nid)
	})
	return user, err
}

// UpdateUser raises generation and keys_changed_at of uid's record; values
// never move backwards and 0 changes nothing. An unknown uid is no error.
func (u users) UpdateUser(ctx context.Context, uid db.UID, generation, keysChangedAt int64) error {
	if err := u.s.usersReady(ctx); err != nil {
		return err
	}
	return u.s.write(ctx, func(q *querier) error {
		_, err := q.exec(`UPDATE users SET
			generation = CASE WHEN generation < ? THEN ? ELSE generation END,
			keys_changed_at = CASE WHEN ? > COALESCE(keys_changed_at, 0) THEN ? ELSE keys_changed_at END
			WHERE uid = ?`, generation, generation, keysChangedAt, keysChangedAt, int64(uid))
		return err
	})
}

// ReplaceUser records a key change: a new record (new uid, empty storage)
// with the new client state on the same node (or, when that node row is
// gone, on the node assignNode picks), generation and
// keys_changed_at never lower than the old record's, and every older
// record marked replaced. A client state used before is refused with
// db.ErrStaleClientState, except when a concurrent request has just made
// exactly this change: its record is returned.
func (u users) ReplaceUser(ctx context.Context, old db.User, generation, keysChangedAt int64, clientState string) (db.User, error) {
	s := u.s
	if err := s.usersReady(ctx); err != nil {
		return db.User{}, err
	}
	var user db.User
	err := s.write(ctx, func(q *querier) error {
		sid, email, err := accountOf(q, old.UID)
		if err != nil {
			return err
		}
		rows, err := s.userRows(q, email, sid)
		if err != nil {
			return err
		}
		cur := withOldStates(rows) // there is at least old's row
		if cur.ClientState == clientState && cur.UID != old.UID {
			user = cur.User
			return nil
		}
		var states []string
		for _, r := range rows {
			if r.ClientState == clientState {
				return fmt.Errorf("%w: %q", db.ErrStaleClientState, clientState)
			}
			states = appendNew(states, r.ClientState)
		}
		// A clock that stepped back must not make the new record older
		// than the current one: equal created_at falls back to uid order.
		now := max(s.now().UnixMilli(), cur.CreatedAt)
		user = db.User{Email: email, Generation: max(cur.Generation, generation),
			KeysChangedAt: max(cur.KeysChangedAt, keysChangedAt), ClientState: clientState,
			CreatedAt: now, Node: cur.Node, OldClientStates: states}
		nid := cur.nodeID
		if cur.Node == "" || cur.NodeDowned {
			// The node is gone (removed, or never set) or downed: the
			// new record, an empty storage anyway, goes to a live node,
			// or stays where it was when there is none to go to.
			id, url, err := s.assignNode(q, sid)
			switch {
			case err == nil:
				nid, user.Node = id, url
				if err := s.countNodeUser(q, nid); err != nil {
					return err
				}
			case !errors.Is(err, errNoNode):
				return err
			}
		}
		if user.UID, err = s.insertUser(q, sid, nid, user); err != nil {
			return err
		}
		return replaceOthers(q, sid, email, user.UID, now)
	})
	return user, err
}

// ReassignUser moves an account whose current record is replaced or has
// lost its node to a live node: a new record (new uid) with the same
// generation, keys_changed_at and client state, as Mozilla's get_user
// allocates one. The older records are marked replaced.
func (u users) ReassignUser(ctx context.Context, old db.User) (db.User, error) {
	s := u.s
	if err := s.usersReady(ctx); err != nil {
		return db.User{}, err
	}
	var user db.User
	err := s.write(ctx, func(q *querier) error {
		sid, email, err := accountOf(q, old.UID)
		if err != nil {
			return err
		}
		// With AllocateUser: two requests of one account make one new record.
		if err := s.lockService(q, sid); err != nil {
			return err
		}
		rows, err := s.userRows(q, email, sid)
		if err != nil {
			return err
		}
		cur := withOldStates(rows)
		if cur.UID != old.UID && cur.ReplacedAt == 0 && cur.Node != "" {
			user = cur.User // a concurrent request did it
			return nil
		}
		nid, node, err := s.assignNode(q, sid)
		if err != nil {
			return err
		}
		now := max(s.now().UnixMilli(), cur.CreatedAt)
		user = db.User{Email: email, Generation: cur.Generation, KeysChangedAt: cur.KeysChangedAt,
			ClientState: cur.ClientState, CreatedAt: now, Node: node, OldClientStates: cur.OldClientStates}
		if user.UID, err = s.insertUser(q, sid, nid, user); err != nil {
			return err
		}
		if err := s.countNodeUser(q, nid); err != nil {
			return err
		}
		return replaceOthers(q, sid, email, user.UID, now)
	})
	return user, err
}

// lockService serialises the writes that allocate records of service sid
// (one row lock, where the dialect has one: SQLite's single writer
// serialises them already).
func (s *Store) lockService(q *querier, sid int64) error {
	if s.d.LockUser == "" {
		return nil
	}
	var id int64
	return q.scan("SELECT id FROM services WHERE id = ?"+s.d.LockUser, []any{sid}, &id)
}

// accountOf returns the service and email of the record uid, the account
// a new record of it belongs to; db.ErrNotFound when there is none.
func accountOf(q *querier, uid db.UID) (sid int64, email string, err error) {
	err = q.scan("SELECT service, email FROM users WHERE uid = ?", []any{int64(uid)}, &sid, &email)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("%w: user %d", db.ErrNotFound, uid)
	}
	return sid, email, err
}

// replaceOthers marks every other current record of the account replaced
// at now, once its new record keep has been inserted.
func replaceOthers(q *querier, sid int64, email string, keep db.UID, now int64) error {
	_, err := q.exec("UPDATE users SET replaced_at = ? WHERE email = ? AND service = ? AND replaced_at IS NULL AND uid <> ?",
		now, email, sid, int64(keep))
	return err
}

// CountUsers counts distinct emails with a current record.
func (u users) CountUsers(ctx context.Context, service string) (int64, error) {
	if err := u.s.usersReady(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := u.s.read(ctx, func(q *querier) error {
		return q.scan(`SELECT COUNT(DISTINCT u.email) FROM users u JOIN services s ON s.id = u.service
			WHERE s.service = ? AND u.replaced_at IS NULL`, []any{service}, &n)
	})
	return n, err
}

// getUser returns email's current record, db.ErrNotFound if none.
func (s *Store) getUser(q *querier, service, email string) (userRow, error) {
	sid, err := s.serviceID(q, service)
	if err != nil {
		return userRow{}, err
	}
	rows, err := s.userRows(q, email, sid)
	if err != nil {
		return userRow{}, err
	}
	return withOldStates(rows), nil
}

// serviceID returns the services row id of name, db.ErrNotFound when the
// row does not exist yet. Found ids are remembered: a services row is
// never renumbered or removed.
func (s *Store) serviceID(q *querier, name string) (int64, error) {
	if id, ok := s.serviceIDs.Load(name); ok {
		return id.(int64), nil
	}
	var id int64
	err := q.scan("SELECT id FROM services WHERE service = ?", []any{name}, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: service %q", db.ErrNotFound, name)
	}
	if err != nil {
		return 0, err
	}
	s.serviceIDs.Store(name, id)
	return id, nil
}

// withOldStates returns the current record of rows with the client states
// of the earlier ones, newest first.
func withOldStates(rows []userRow) userRow {
	cur := rows[0]
	for _, r := range rows[1:] {
		if r.ClientState != cur.ClientState {
			cur.OldClientStates = appendNew(cur.OldClientStates, r.ClientState)
		}
	}
	return cur
}

// userRows lists the records of email under service sid, current first;
// db.ErrNotFound when there are none. An email has a handful of records,
// so they are ordered here rather than by the statement: with an ORDER BY
// or a join, SQLite plans the statement again at every execution (the
// planner looks at the bound values and the driver rebinds them all),
// which was most of a token request's database time.
func (s *Store) userRows(q *querier, email string, sid int64) ([]userRow, error) {
	rows, err := q.query(`SELECT u.uid, u.email, u.generation, u.client_state, u.created_at, u.replaced_at,
		u.keys_changed_at, u.service, u.nodeid,
		COALESCE((SELECT n.node FROM nodes n WHERE n.id = u.nodeid), ''),
		COALESCE((SELECT n.downed FROM nodes n WHERE n.id = u.nodeid), 0)
		FROM users u WHERE u.email = ? AND u.service = ?`, email, sid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []userRow
	for rows.Next() {
		var r userRow
		var uid int64
		var replaced, kca sql.NullInt64
		var downed int64
		if err := rows.Scan(&uid, &r.Email, &r.Generation, &r.ClientState, &r.CreatedAt, &replaced,
			&kca, &r.service, &r.nodeID, &r.Node, &downed); err != nil {
			return nil, q.fail(err)
		}
		r.NodeDowned = downed != 0
		// keys_changed_at NULL and 0 both mean "none" (legacy rows).
		r.UID, r.ReplacedAt, r.KeysChangedAt = db.UID(uid), replaced.Int64, kca.Int64
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, q.fail(err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: user", db.ErrNotFound)
	}
	// The legacy order: created_at DESC, uid DESC.
	slices.SortFunc(out, func(a, b userRow) int {
		if c := cmp.Compare(b.CreatedAt, a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.UID, a.UID)
	})
	return out, nil
}

// insertUser adds a record and returns its new uid. keys_changed_at 0 is
// stored as NULL, "none", as the legacy tokenserver did.
func (s *Store) insertUser(q *querier, sid, nid int64, u db.User) (db.UID, error) {
	var kca any
	if u.KeysChangedAt > 0 {
		kca = u.KeysChangedAt
	}
	query := `INSERT INTO users (service, email, generation, client_state, created_at, replaced_at, nodeid, keys_changed_at)
		VALUES (?, ?, ?, ?, ?, NULL, ?, ?)`
	args := []any{sid, u.Email, u.Generation, u.ClientState, u.CreatedAt, nid, kca}
	var uid int64
	if s.d.Returning {
		err := q.scan(query+" RETURNING uid", args, &uid)
		return db.UID(uid), q.fail(err)
	}
	res, err := q.exec(query, args...)
	if err != nil {
		return 0, err
	}
	uid, err = res.LastInsertId()
	return db.UID(uid), q.fail(err)
}

// ensureService returns the services row id of name, creating the row
// with the legacy bundle's endpoint pattern.
func (s *Store) ensureService(q *querier, name string) (int64, error) {
	return s.ensureID(q, "SELECT id FROM services WHERE service = ?", []any{name},
		"INSERT INTO services (service, pattern) VALUES (?, ?)"+s.d.upsert([]string{"service"}, nil),
		[]any{name, "{node}/storage/1.5/{uid}"})
}

// ensureNode returns the nodes row id of the node URL under the service,
// creating it with the given capacity.
func (s *Store) ensureNode(q *querier, sid int64, node string, capacity int64) (int64, error) {
	return s.ensureID(q, "SELECT id FROM nodes WHERE service = ? AND node = ?", []any{sid, node},
		"INSERT INTO nodes (service, node, available, current_load, capacity, downed, backoff) VALUES (?, ?, ?, 0, ?, 0, 0)"+
			s.d.upsert([]string{"service", "node"}, nil),
		[]any{sid, node, capacity, capacity})
}

// ensureID reads an id, inserting the row first when it is missing.
func (s *Store) ensureID(q *querier, sel string, selArgs []any, ins string, insArgs []any) (int64, error) {
	var id int64
	err := q.scan(sel, selArgs, &id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	if _, err := q.exec(ins, insArgs...); err != nil {
		return 0, err
	}
	err = q.scan(sel, selArgs, &id)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w: row missing after insert", db.ErrUnavailable)
	}
	return id, err
}

// usersReady refuses to work on a users table that still has the legacy
// single-node layout: its rows must first be converted by EnsureNode,
// which knows the node to assign them to.
func (s *Store) usersReady(ctx context.Context) error {
	if !s.usersLegacy.Load() {
		return nil
	}
	// Another process may have converted it since.
	if err := s.checkUsersLayout(ctx); err != nil {
		return err
	}
	if s.usersLegacy.Load() {
		return fmt.Errorf("%w: the users table still has the legacy single-node layout; Users().EnsureNode converts it", db.ErrUnavailable)
	}
	return nil
}

// checkUsersLayout notes whether the users table has the legacy layout,
// or a conversion was cut short (MySQL). It runs while the Store
// initialises, so it does not wait for that.
func (s *Store) checkUsersLayout(ctx context.Context) error {
	return s.readNow(ctx, func(q *querier) error {
		cols, err := s.d.TableColumns(q.ctx, q.tx, "users")
		if err != nil {
			return q.fail(err)
		}
		aside, err := s.d.TableColumns(q.ctx, q.tx, legacyUsersAside)
		if err != nil {
			return q.fail(err)
		}
		s.usersLegacy.Store(isLegacyUsers(cols) || aside != nil)
		return nil
	})
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
