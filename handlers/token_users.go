package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"syncserver/db"
)

// tokenUser finds or creates the user record for email and applies the
// consistency rules of Mozilla's tokenserver (its views.py), in
// their order: generation and keys_changed_at (kca) only move forward, a
// new client state (a key change) needs one of them to move and gives a
// new uid with an empty storage, and a client state used before is never
// accepted again. gen and kca are FxA's milliseconds, 0 meaning "not
// given"; cs is lower-case hex or "".
func (s *Server) tokenUser(ctx context.Context, email, fxaUID string, gen, kca int64, cs string) (db.User, error) {
	st := s.token
	if st.allowed != nil && !st.allowed[strings.ToLower(fxaUID)] && !st.allowed[strings.ToLower(email)] {
		// Said at info level, with the id to add to allowed_users: FxA
		// tells the tokenserver no email address, so this is how an
		// operator learns a newcomer's id.
		s.log.Info("tokenserver: refused an account that is not in allowed_users", "fxa_uid", fxaUID, "email", email)
		return db.User{}, errNewUsersDisabled.because(fmt.Errorf("%s is not in the allowed users", email))
	}
	users := s.opts.Store.Users()
	if err := st.ensureNode(ctx, users); err != nil {
		return db.User{}, tokenDBError(err)
	}
	// A request presenting exactly what the record holds changes
	// nothing: a record read less than UserCacheTTL ago answers it (see
	// userCache). The allow-list above is checked all the same, and
	// newcomers are never cached.
	if u, ok := st.users.get(email, s.now()); ok && st.readOnlyToken(u, gen, kca, cs) {
		return u, nil
	}
	epoch, readAt := st.users.begin(), s.now()
	u, err := users.GetUser(ctx, db.Service, email)
	switch {
	case errors.Is(err, db.ErrNotFound):
		// Step 1: a newcomer.
		u, err = s.allocateTokenUser(ctx, users, email, gen, kca, cs)
		st.users.invalidate(email)
		if err != nil {
			return db.User{}, err
		}
	case err != nil:
		return db.User{}, tokenDBError(err)
	case st.readOnlyToken(u, gen, kca, cs):
		st.users.put(email, u, epoch, readAt, s.now())
		return u, nil
	}
	if u.Generation == db.RetiredGeneration {
		// `syncserver users retire`: no token, whatever FxA says, and no
		// new record through a key change.
		return db.User{}, errInvalidGeneration.because(fmt.Errorf("uid %d belongs to a retired account", u.UID))
	}
	if st.opts.MultiNode && (u.ReplacedAt != 0 || u.Node == "") {
		// Its node was downed (syncserver nodes down) or removed: a new
		// record on a live node, as Mozilla's tokenserver does. Firefox
		// finds an empty storage there and uploads its data again.
		nu, err := users.ReassignUser(ctx, u)
		st.users.invalidate(email)
		if err != nil {
			return db.User{}, tokenDBError(err)
		}
		s.log.Info("tokenserver: account moved to a live node, new uid", logUID, int64(nu.UID), "old_uid", int64(u.UID), "node", nu.Node)
		u = nu
	}

	// Steps 2 and 3: what moved forward.
	newGen, newKCA := u.Generation, u.KeysChangedAt
	if gen > u.Generation {
		newGen = gen
	}
	if kca > u.KeysChangedAt {
		if gen > 0 && gen < kca {
			return db.User{}, errInvalidKCA.because(fmt.Errorf("keys changed at %d, after generation %d", kca, gen))
		}
		if gen == 0 && kca > u.Generation {
			newGen = kca
		}
		newKCA = kca
	}
	genMoved, kcaMoved := newGen != u.Generation, newKCA != u.KeysChangedAt

	// Step 4: a change of client state is a change of sync key.
	if cs != u.ClientState {
		switch {
		case cs == "":
			return db.User{}, errUnacceptableClientState("empty string")
		case slices.Contains(u.OldClientStates, cs):
			return db.User{}, errUnacceptableClientState("stale value")
		case gen > 0 && !genMoved:
			return db.User{}, errUnacceptableClientState("new value with no generation change")
		case u.KeysChangedAt > 0 && !kcaMoved:
			return db.User{}, errUnacceptableClientState("new value with no keys_changed_at change")
		}
		// Step 5, key change: a new record, so a new uid and an empty
		// storage; the old client state is refused from now on.
		nu, err := users.ReplaceUser(ctx, u, newGen, newKCA, cs)
		st.users.invalidate(email)
		switch {
		case errors.Is(err, db.ErrStaleClientState):
			// A concurrent request recorded the same change first.
			return db.User{}, errUnacceptableClientState("stale value").because(err)
		case err != nil:
			return db.User{}, tokenDBError(err)
		}
		s.log.Info("tokenserver: key change, new uid", logUID, int64(nu.UID), "old_uid", int64(u.UID))
		u = nu
	} else if genMoved || kcaMoved {
		// Step 5, same key: raise the high-water marks in place.
		err := users.UpdateUser(ctx, u.UID, newGen, newKCA)
		st.users.invalidate(email)
		if err != nil {
			return db.User{}, tokenDBError(err)
		}
		u.Generation, u.KeysChangedAt = newGen, newKCA
	}

	// Steps 6 and 7: a token from before a password change or key reset.
	if gen > 0 && u.Generation > gen {
		return db.User{}, errInvalidGeneration.because(fmt.Errorf("generation %d is older than %d", gen, u.Generation))
	}
	if u.KeysChangedAt > 0 && u.KeysChangedAt > kca {
		return db.User{}, errInvalidKCA.because(fmt.Errorf("keys changed at %d is older than %d", kca, u.KeysChangedAt))
	}
	return u, nil
}

// allocateTokenUser creates the first record of a newcomer, unless new
// users are not allowed or the server is full (MaxUsers). Newcomers are
// counted and allocated under a lock so this process never goes past the
// cap; processes sharing a database may each let one more in.
func (s *Server) allocateTokenUser(ctx context.Context, users db.Users, email string, gen, kca int64, cs string) (db.User, error) {
	st := s.token
	if !st.opts.AllowNewUsers {
		return db.User{}, errNewUsersDisabled.because(errors.New("allow_new_users is false"))
	}
	if st.opts.MaxUsers > 0 {
		st.newUserMu.Lock()
		defer st.newUserMu.Unlock()
		n, err := users.CountUsers(ctx, db.Service)
		if err != nil {
			return db.User{}, tokenDBError(err)
		}
		if n >= int64(st.opts.MaxUsers) {
			s.log.Warn("tokenserver: refused a new user: the server has reached its maximum number of users",
				"users", n, "max_users", st.opts.MaxUsers)
			return db.User{}, errNewUsersDisabled.because(fmt.Errorf("%d users, max_users %d", n, st.opts.MaxUsers))
		}
	}
	node := st.node
	if st.opts.MultiNode {
		node = db.AnyNode // the store picks among the nodes table
	}
	u, err := users.AllocateUser(ctx, db.Service, email, gen, kca, cs, node)
	if err != nil {
		return db.User{}, tokenDBError(err)
	}
	return u, nil
}

// ensureNode makes sure the service and our node exist in the database
// before the first user is looked up (it also converts a legacy
// single-node users table). It runs once per process, on the first token
// request, so that a database that is down at start-up does not stop the
// server; a failure is retried by the next request. cmd/syncserver may
// call Users().EnsureNode at start as well: it is idempotent.
func (st *tokenState) ensureNode(ctx context.Context, users db.Users) error {
	st.nodeMu.Lock()
	defer st.nodeMu.Unlock()
	if st.nodeReady {
		return nil
	}
	if err := users.EnsureNode(ctx, db.Service, st.node, nodeCapacity); err != nil {
		return fmt.Errorf("ensuring node %s: %w", st.node, err)
	}
	st.nodeReady = true
	return nil
}
