package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/internal/fxatest"
)

// TestTokenErrorRows walks every row of the legacy tokenserver's error
// table (tokenerrors.go) that applies to an OAuth-only
// tokenserver, and the validators' order (first failure wins).
func TestTokenErrorRows(t *testing.T) {
	type env struct {
		tt *tokenTest
		a  fxatest.Account
	}
	bearer := func(e env) string { return "Bearer " + e.tt.FxA.JWT(e.a.UID) }
	tests := []struct {
		name string
		// req builds the request; target defaults to tokenPath.
		target string
		hdr    func(e env) []string
		edit   func(*Options)
		want   tokenErr
		// wwwAuth is the expected WWW-Authenticate ("" for none).
		wwwAuth string
	}{
		{
			name:   "unknown application",
			target: "/token/1.0/foo/1.5",
			hdr:    func(e env) []string { return []string{"Authorization", bearer(e)} },
			want:   tokenErr{404, "error", "url", "application", "Unsupported application"},
		},
		{
			name:   "unknown application on the short route",
			target: "/1.0/foo/1.5",
			hdr:    func(e env) []string { return nil },
			want:   tokenErr{404, "error", "url", "application", "Unsupported application"},
		},
		{
			name:   "unknown version names the version",
			target: "/token/1.0/sync/1.1",
			hdr:    func(e env) []string { return []string{"Authorization", bearer(e)} },
			want:   tokenErr{404, "error", "url", "1.1", "Unsupported application version"},
		},
		{
			name:   "application checked before X-Client-State",
			target: "/1.0/foo/1.5",
			hdr:    func(e env) []string { return []string{"X-Client-State", "not valid!"} },
			want:   tokenErr{404, "error", "url", "application", "Unsupported application"},
		},
		{
			name: "X-Client-State fails the format",
			hdr:  func(e env) []string { return []string{"X-Client-State", "a b", "Authorization", bearer(e)} },
			want: errRowInvalidValue,
		},
		{
			name: "X-Client-State too long",
			hdr: func(e env) []string {
				return []string{"X-Client-State", strings.Repeat("a", 33), "Authorization", bearer(e)}
			},
			want: errRowInvalidValue,
		},
		{
			name: "X-Client-State checked before Authorization",
			hdr:  func(e env) []string { return []string{"X-Client-State", "a/b"} },
			want: errRowInvalidValue,
		},
		{
			name: "no Authorization",
			hdr:  func(e env) []string { return []string{"X-KeyID", e.a.KeyID()} },
			want: unauthorizedAs("error"),
		},
		{
			name: "empty Authorization",
			hdr:  func(e env) []string { return []string{"Authorization", ""} },
			want: unauthorizedAs("error"),
		},
		{
			name: "scheme without credential",
			hdr:  func(e env) []string { return []string{"Authorization", "Bearer"} },
			want: unauthorizedAs("error"),
		},
		{
			name:    "unsupported scheme",
			hdr:     func(e env) []string { return []string{"Authorization", "Basic dXNlcjpwYXNz"} },
			want:    tokenErr{401, "error", "body", "", "Unsupported"},
			wwwAuth: "BrowserID",
		},
		{
			name: "BrowserID is retired",
			hdr: func(e env) []string {
				return []string{"Authorization", "BrowserID eyJhbGciOiJSUzI1NiJ9.e30.c2ln~eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}
			},
			want: tokenErr{401, "error", "body", "", "Unsupported"},
		},
		{
			name: "no verifier configured",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID()} },
			edit: func(o *Options) { o.Token.Verifier = nil },
			want: tokenErr{401, "error", "body", "", "Unsupported"},
		},
		{
			name: "access token rejected",
			hdr: func(e env) []string {
				return []string{"Authorization", "Bearer 0123456789abcdef", "X-KeyID", e.a.KeyID()}
			},
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "access token expired",
			hdr: func(e env) []string {
				return []string{"Authorization", "Bearer " + e.tt.FxA.AccessToken(e.a.UID, fxatest.TokenOptions{TTL: -time.Second}), "X-KeyID", e.a.KeyID()}
			},
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "access token without the oldsync scope",
			hdr: func(e env) []string {
				return []string{"Authorization", "Bearer " + e.tt.FxA.AccessToken(e.a.UID, fxatest.TokenOptions{Scope: "profile"}), "X-KeyID", e.a.KeyID()}
			},
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "access token checked before X-KeyID",
			hdr:  func(e env) []string { return []string{"Authorization", "Bearer 0123456789abcdef", "X-KeyID", "1234-"} },
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "X-KeyID without dash",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", "1234"} },
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "X-KeyID with a non-integer timestamp",
			hdr: func(e env) []string {
				return []string{"Authorization", bearer(e), "X-KeyID", "12a4-IqQv4onc7VcVE1kTQkyyOw"}
			},
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "X-KeyID with bad base64",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", "1234-Iq!v"} },
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "empty X-KeyID",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", ""} },
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "X-KeyID hash of 0 bytes",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", "1234-"} },
			want: errRowInvalidValue,
		},
		{
			name: "X-KeyID hash of 17 bytes",
			hdr: func(e env) []string {
				return []string{"Authorization", bearer(e), "X-KeyID", "1234-AAAAAAAAAAAAAAAAAAAAAAA"}
			},
			want: errRowInvalidValue,
		},
		{
			name: "X-Client-State differs from X-KeyID",
			hdr: func(e env) []string {
				return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID(), "X-Client-State", strings.Repeat("0", 32)}
			},
			want: unauthorizedAs("invalid-client-state"),
		},
		{
			name: "X-Client-State in upper case differs from X-KeyID",
			hdr: func(e env) []string {
				return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID(), "X-Client-State", strings.ToUpper(e.a.ClientState())}
			},
			want: unauthorizedAs("invalid-client-state"),
		},
		{
			name: "X-Client-State that is not hex",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-Client-State", "not-hex"} },
			want: errRowInvalidValue,
		},
		{
			name: "fxa-generation not an integer",
			hdr: func(e env) []string {
				tok := e.tt.FxA.AccessToken(e.a.UID, fxatest.TokenOptions{Claims: map[string]any{"fxa-generation": 12.5}})
				return []string{"Authorization", "Bearer " + tok, "X-KeyID", e.a.KeyID()}
			},
			want: unauthorizedAs("invalid-generation"),
		},
		{
			name: "X-KeyID checked before fxa-generation",
			hdr: func(e env) []string {
				tok := e.tt.FxA.AccessToken(e.a.UID, fxatest.TokenOptions{Claims: map[string]any{"fxa-generation": "x"}})
				return []string{"Authorization", "Bearer " + tok, "X-KeyID", "1234"}
			},
			want: unauthorizedAs("invalid-credentials"),
		},
		{
			name: "unknown user and allow_new_users false",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID()} },
			edit: func(o *Options) { o.Token.AllowNewUsers = false },
			want: unauthorizedAs("new-users-disabled"),
		},
		{
			name: "no secret configured",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID()} },
			edit: func(o *Options) { o.Token.Secrets = nil },
			want: errRowUnavailable,
		},
		{
			name: "verifier failing in an unknown way",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID()} },
			edit: func(o *Options) { o.Token.Verifier = stubVerifier{err: errors.New("boom")} },
			want: errRowUnavailable,
		},
		{
			name: "database down",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID()} },
			edit: func(o *Options) { o.Store = failingUsersStore{Store: o.Store, err: db.ErrUnavailable} },
			want: errRowUnavailable,
		},
		{
			name: "database conflict",
			hdr:  func(e env) []string { return []string{"Authorization", bearer(e), "X-KeyID", e.a.KeyID()} },
			edit: func(o *Options) { o.Store = failingUsersStore{Store: o.Store, err: db.ErrConflict} },
			want: errRowUnavailable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var edits []func(*Options)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			tt := newTokenTest(t, nil, edits...)
			e := env{tt: tt, a: tt.account()}
			target := tc.target
			if target == "" {
				target = tokenPath
			}
			r := tt.serve(newRequest(http.MethodGet, target, "", tc.hdr(e)...))
			wantTokenError(t, r, tc.want)
			wantHeader(t, r, "WWW-Authenticate", tc.wwwAuth)
		})
	}
}

func TestTokenBrowserIDLogsClientTooOld(t *testing.T) {
	tt := newTokenTest(t, nil)
	r := tt.serve(newRequest(http.MethodGet, tokenPath, "", "Authorization", "BrowserID x~y", "User-Agent", "Firefox/60.0 FxSync/1.62.0"))
	wantTokenError(t, r, tokenErr{401, "error", "body", "", "Unsupported"})
	if n := hasLine(tt.Logs.String(), "too old"); n != 1 {
		t.Errorf("%d log lines say the client is too old, want 1:\n%s", n, tt.Logs.String())
	}
	if !strings.Contains(tt.Logs.String(), "Firefox/60.0") {
		t.Errorf("the log line does not name the client:\n%s", tt.Logs.String())
	}
}

func TestTokenOnlyGet(t *testing.T) {
	tt := newTokenTest(t, nil)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead} {
		r := tt.serve(newRequest(m, tokenPath, ""))
		if r.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", m, r.Status)
		}
		wantHeader(t, r, "Allow", "GET")
		wantXTimestamp(t, r)
	}
}

func TestTokenDatabaseConflictRetriesSooner(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Store = failingUsersStore{Store: o.Store, err: db.ErrConflict} })
	a := tt.account()
	r := tt.firefox(a)
	wantHeader(t, r, "Retry-After", "10")
	tt2 := newTokenTest(t, nil, func(o *Options) { o.Store = failingUsersStore{Store: o.Store, err: db.ErrUnavailable} })
	wantHeader(t, tt2.firefox(tt2.account()), "Retry-After", "60")
}

func TestTokenServerErrorsAreLogged(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Store = failingUsersStore{Store: o.Store, err: db.ErrUnavailable} })
	a := tt.account()
	tok := tt.FxA.JWT(a.UID)
	tt.getToken(tok, "X-KeyID", a.KeyID())
	logs := tt.Logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "db: unavailable") {
		t.Errorf("the database failure is not logged as an error:\n%s", logs)
	}
	if strings.Contains(logs, tok) {
		t.Errorf("the access token is in the log")
	}
}

// failingUsersStore is a store whose tokenserver user store fails.
type failingUsersStore struct {
	db.Store
	err error
}

func (f failingUsersStore) Users() db.Users { return failingUsers{f.err} }

type failingUsers struct{ err error }

func (f failingUsers) EnsureNode(context.Context, string, string, int64) error { return f.err }
func (f failingUsers) GetUser(context.Context, string, string) (db.User, error) {
	return db.User{}, f.err
}
func (f failingUsers) AllocateUser(context.Context, string, string, int64, int64, string, string) (db.User, error) {
	return db.User{}, f.err
}
func (f failingUsers) UpdateUser(context.Context, db.UID, int64, int64) error { return f.err }
func (f failingUsers) ReplaceUser(context.Context, db.User, int64, int64, string) (db.User, error) {
	return db.User{}, f.err
}
func (f failingUsers) CountUsers(context.Context, string) (int64, error) { return 0, f.err }
func (f failingUsers) ReassignUser(context.Context, db.User) (db.User, error) {
	return db.User{}, f.err
}
func (f failingUsers) NodeStatus(context.Context, string, string) (db.Node, error) {
	return db.Node{}, f.err
}
func (f failingUsers) Replaced(context.Context, db.UID) (bool, error) { return false, f.err }
