package accounts

import (
	"bytes"
	"context"
	"sort"
	"sync"

	"syncserver/db"
)

// memStore is an in-memory db.AccountsStore with the contract's semantics,
// so that the service's tests do not depend on a backend. The backends
// run the same contract in db/dbtest.
type memStore struct {
	mu       sync.Mutex
	accounts map[string]db.Account // by uid
	tokens   map[string]db.AuthToken
	codes    map[string]db.OAuthCode
	refresh  map[string]db.RefreshToken
	devices  map[string]db.Device // by id
	commands []db.DeviceCommand
	invites  map[string]db.Invite
	keys     [][]byte
	nextCmd  int64
	// fail, when set, is returned by every call (database down).
	fail error
}

func newMemStore() *memStore {
	return &memStore{accounts: map[string]db.Account{}, tokens: map[string]db.AuthToken{},
		codes: map[string]db.OAuthCode{}, refresh: map[string]db.RefreshToken{},
		devices: map[string]db.Device{}, invites: map[string]db.Invite{}}
}

var _ db.AccountsStore = (*memStore)(nil)

func (m *memStore) lock() func() { m.mu.Lock(); return m.mu.Unlock }

func (m *memStore) CreateAccount(_ context.Context, a db.Account) error {
	defer m.lock()()
	if m.fail != nil {
		return m.fail
	}
	a.Email = db.NormaliseEmail(a.Email)
	for _, o := range m.accounts {
		if o.Email == a.Email || o.UID == a.UID {
			return db.ErrExists
		}
	}
	m.accounts[a.UID] = a
	return nil
}

func (m *memStore) AccountByEmail(_ context.Context, email string) (db.Account, error) {
	defer m.lock()()
	if m.fail != nil {
		return db.Account{}, m.fail
	}
	for _, a := range m.accounts {
		if a.Email == db.NormaliseEmail(email) {
			return a, nil
		}
	}
	return db.Account{}, db.ErrNotFound
}

func (m *memStore) AccountByUID(_ context.Context, uid string) (db.Account, error) {
	defer m.lock()()
	if m.fail != nil {
		return db.Account{}, m.fail
	}
	a, ok := m.accounts[uid]
	if !ok {
		return db.Account{}, db.ErrNotFound
	}
	return a, nil
}

func (m *memStore) ListAccounts(context.Context) ([]db.Account, error) {
	defer m.lock()()
	var out []db.Account
	for _, a := range m.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

func (m *memStore) SetAccountDisabled(_ context.Context, uid string, disabled bool) error {
	defer m.lock()()
	a, ok := m.accounts[uid]
	if !ok {
		return db.ErrNotFound
	}
	a.Disabled = disabled
	m.accounts[uid] = a
	return nil
}

func (m *memStore) UpdateAccountPassword(_ context.Context, uid, clientSalt string, authSalt, verifyHash, wrapWrapKb []byte, verifierSetAt, keysChangedAt int64) error {
	defer m.lock()()
	a, ok := m.accounts[uid]
	if !ok {
		return db.ErrNotFound
	}
	a.ClientSalt, a.AuthSalt, a.VerifyHash, a.WrapWrapKb, a.VerifierSetAt = clientSalt, authSalt, verifyHash, wrapWrapKb, verifierSetAt
	if keysChangedAt != 0 {
		a.KeysChangedAt = keysChangedAt
	}
	m.accounts[uid] = a
	return nil
}

func (m *memStore) DeleteAccount(ctx context.Context, uid string) error {
	m.DeleteAuthTokens(ctx, uid)
	defer m.lock()()
	delete(m.accounts, uid)
	return nil
}

func (m *memStore) PutAuthToken(_ context.Context, t db.AuthToken) error {
	defer m.lock()()
	if m.fail != nil {
		return m.fail
	}
	m.tokens[string(t.IDHash)] = t
	return nil
}

func (m *memStore) AuthToken(_ context.Context, h []byte) (db.AuthToken, error) {
	defer m.lock()()
	if m.fail != nil {
		return db.AuthToken{}, m.fail
	}
	t, ok := m.tokens[string(h)]
	if !ok {
		return db.AuthToken{}, db.ErrNotFound
	}
	return t, nil
}

func (m *memStore) TouchAuthToken(_ context.Context, h []byte, now int64) error {
	defer m.lock()()
	t, ok := m.tokens[string(h)]
	if !ok {
		return db.ErrNotFound
	}
	t.LastUsed = now
	m.tokens[string(h)] = t
	return nil
}

// dropCredential deletes what hangs off a credential: its devices (and
// their commands), and for a session its refresh tokens and codes.
func (m *memStore) dropCredential(h []byte) {
	for id, d := range m.devices {
		if bytes.Equal(d.CredentialHash, h) {
			delete(m.devices, id)
		}
	}
	for k, r := range m.refresh {
		if bytes.Equal(r.SessionIDHash, h) {
			delete(m.refresh, k)
			m.dropCredential(r.Hash)
		}
	}
	for k, c := range m.codes {
		if bytes.Equal(c.SessionIDHash, h) {
			delete(m.codes, k)
		}
	}
}

func (m *memStore) DeleteAuthToken(_ context.Context, h []byte) error {
	defer m.lock()()
	if _, ok := m.tokens[string(h)]; !ok {
		return db.ErrNotFound
	}
	delete(m.tokens, string(h))
	m.dropCredential(h)
	return nil
}

func (m *memStore) TakeAuthToken(_ context.Context, h []byte) (db.AuthToken, error) {
	defer m.lock()()
	t, ok := m.tokens[string(h)]
	if !ok {
		return db.AuthToken{}, db.ErrNotFound
	}
	delete(m.tokens, string(h))
	return t, nil
}

func (m *memStore) DeleteAuthTokens(_ context.Context, uid string) error {
	defer m.lock()()
	for k, t := range m.tokens {
		if t.UID == uid {
			delete(m.tokens, k)
		}
	}
	for k, r := range m.refresh {
		if r.UID == uid {
			delete(m.refresh, k)
		}
	}
	for k, c := range m.codes {
		if c.UID == uid {
			delete(m.codes, k)
		}
	}
	for k, d := range m.devices {
		if d.UID == uid {
			delete(m.devices, k)
		}
	}
	return nil
}

func (m *memStore) PutOAuthCode(_ context.Context, c db.OAuthCode) error {
	defer m.lock()()
	m.codes[string(c.Hash)] = c
	return nil
}

func (m *memStore) TakeOAuthCode(_ context.Context, h []byte) (db.OAuthCode, error) {
	defer m.lock()()
	c, ok := m.codes[string(h)]
	if !ok {
		return db.OAuthCode{}, db.ErrNotFound
	}
	delete(m.codes, string(h))
	return c, nil
}

func (m *memStore) PutRefreshToken(_ context.Context, t db.RefreshToken) error {
	defer m.lock()()
	m.refresh[string(t.Hash)] = t
	return nil
}

func (m *memStore) RefreshToken(_ context.Context, h []byte) (db.RefreshToken, error) {
	defer m.lock()()
	t, ok := m.refresh[string(h)]
	if !ok {
		return db.RefreshToken{}, db.ErrNotFound
	}
	return t, nil
}

func (m *memStore) TouchRefreshToken(_ context.Context, h []byte, now int64) error {
	defer m.lock()()
	t, ok := m.refresh[string(h)]
	if !ok {
		return db.ErrNotFound
	}
	t.LastUsed = now
	m.refresh[string(h)] = t
	return nil
}

func (m *memStore) DeleteRefreshToken(_ context.Context, h []byte) error {
	defer m.lock()()
	if _, ok := m.refresh[string(h)]; !ok {
		return db.ErrNotFound
	}
	delete(m.refresh, string(h))
	m.dropCredential(h)
	return nil
}

func (m *memStore) RefreshTokens(_ context.Context, uid string) ([]db.RefreshToken, error) {
	defer m.lock()()
	var out []db.RefreshToken
	for _, r := range m.refresh {
		if r.UID == uid {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt < out[j].CreatedAt })
	return out, nil
}

func (m *memStore) UpsertDevice(_ context.Context, d db.Device) (db.Device, error) {
	defer m.lock()()
	for id, o := range m.devices {
		if bytes.Equal(o.CredentialHash, d.CredentialHash) {
			d.ID, d.CreatedAt = o.ID, o.CreatedAt
			m.devices[id] = d
			return d, nil
		}
	}
	m.devices[d.ID] = d
	return d, nil
}

func (m *memStore) Devices(_ context.Context, uid string) ([]db.Device, error) {
	defer m.lock()()
	var out []db.Device
	for _, d := range m.devices {
		if d.UID == uid {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt < out[j].CreatedAt || out[i].CreatedAt == out[j].CreatedAt && out[i].ID < out[j].ID
	})
	return out, nil
}

func (m *memStore) DeleteDevice(_ context.Context, uid, id string) error {
	defer m.lock()()
	d, ok := m.devices[id]
	if !ok || d.UID != uid {
		return db.ErrNotFound
	}
	delete(m.devices, id)
	return nil
}

// PushDeviceCommand bounds the queue as sqldb does, but without a clock
// it counts expired commands too.
func (m *memStore) PushDeviceCommand(_ context.Context, c db.DeviceCommand, maxQueued int) (int64, error) {
	defer m.lock()()
	queued := 0
	for _, q := range m.commands {
		if q.UID == c.UID && q.TargetDeviceID == c.TargetDeviceID {
			queued++
		}
	}
	if maxQueued > 0 && queued >= maxQueued {
		return 0, db.ErrQueueFull
	}
	m.nextCmd++
	c.Index = m.nextCmd
	m.commands = append(m.commands, c)
	return c.Index, nil
}

func (m *memStore) DeviceCommands(_ context.Context, uid, deviceID string, after int64, limit int) ([]db.DeviceCommand, error) {
	defer m.lock()()
	var out []db.DeviceCommand
	for _, c := range m.commands {
		if c.UID == uid && c.TargetDeviceID == deviceID && c.Index > after {
			out = append(out, c)
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (m *memStore) PutInvite(_ context.Context, i db.Invite) error {
	defer m.lock()()
	m.invites[string(i.Hash)] = i
	return nil
}

func (m *memStore) TakeInvite(_ context.Context, h []byte, now int64) (db.Invite, error) {
	defer m.lock()()
	i, ok := m.invites[string(h)]
	if !ok || i.UsedAt != 0 || i.Expires <= now {
		return db.Invite{}, db.ErrNotFound
	}
	i.UsedAt = now
	m.invites[string(h)] = i
	return i, nil
}

func (m *memStore) SigningKeys(context.Context) ([][]byte, error) {
	defer m.lock()()
	return append([][]byte(nil), m.keys...), nil
}

func (m *memStore) PutSigningKey(_ context.Context, k []byte) error {
	defer m.lock()()
	m.keys = append([][]byte{k}, m.keys...)
	return nil
}

func (m *memStore) PurgeAccounts(context.Context, int64) (int64, error) { return 0, nil }

func (m *memStore) Sessions(_ context.Context, uid string) ([]db.AuthToken, error) {
	defer m.lock()()
	var out []db.AuthToken
	for _, t := range m.tokens {
		if t.UID == uid && t.Kind == db.TokenSession {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt < out[j].CreatedAt })
	return out, nil
}

func (m *memStore) CountSessions(context.Context, int64) (int64, error) {
	defer m.lock()()
	var n int64
	for _, t := range m.tokens {
		if t.Kind == db.TokenSession {
			n++
		}
	}
	return n, nil
}
