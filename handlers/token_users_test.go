package handlers

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"syncserver/internal/fxatest"
)

// Client states of the consistency tests, as hex.
var testStates = map[string]string{
	"A": strings.Repeat("aa", 16),
	"B": strings.Repeat("bb", 16),
	"C": strings.Repeat("cc", 16),
	"":  "",
}

// tokenStep is one token request of a consistency scenario: FxA says gen
// (0: no fxa-generation claim); the client sends X-KeyID "<kca>-<cs>" when
// keyID is set, else X-Client-State cs (none when cs is "").
type tokenStep struct {
	gen, kca int64
	cs       string // a key of testStates
	keyID    bool
	// want is "first", "same" (uid of the previous success) or "new" (a
	// uid never seen in the scenario) — or err is the expected error.
	want string
	err  *tokenErr
}

func (s tokenStep) headers() []string {
	cs := testStates[s.cs]
	if s.keyID {
		b, _ := hex.DecodeString(cs)
		return []string{"X-KeyID", strconv.FormatInt(s.kca, 10) + "-" + base64.RawURLEncoding.EncodeToString(b)}
	}
	if cs != "" {
		return []string{"X-Client-State", cs}
	}
	return nil
}

func errPtr(e tokenErr) *tokenErr { return &e }

// TestTokenConsistencyRules walks every branch of the user record rules of
// Mozilla's tokenserver (tokenUser), in scenarios of successive logins.
func TestTokenConsistencyRules(t *testing.T) {
	k := func(gen, kca int64, cs, want string) tokenStep {
		return tokenStep{gen: gen, kca: kca, cs: cs, keyID: true, want: want}
	}
	x := func(gen int64, cs, want string) tokenStep { return tokenStep{gen: gen, cs: cs, want: want} }
	fail := func(s tokenStep, e tokenErr) tokenStep { s.want, s.err = "", errPtr(e); return s }
	scenarios := []struct {
		name  string
		steps []tokenStep
	}{
		{"step 1: a newcomer gets a record", []tokenStep{k(100, 100, "A", "first")}},
		{"step 1: a newcomer without any key state", []tokenStep{x(0, "", "first"), x(0, "A", "new")}},
		{"step 2: a password change keeps the uid and raises the generation", []tokenStep{
			k(100, 100, "A", "first"), k(200, 100, "A", "same"),
			fail(k(150, 100, "A", ""), unauthorizedAs("invalid-generation")),
		}},
		{"step 3: keys changed after the generation", []tokenStep{
			k(100, 100, "A", "first"),
			fail(k(150, 200, "B", ""), unauthorizedAs("invalid-keysChangedAt")),
			k(200, 200, "B", "new"),
		}},
		{"step 3: keys_changed_at without a generation raises the generation", []tokenStep{
			x(0, "A", "first"), k(0, 1000, "A", "same"),
			fail(k(500, 1000, "A", ""), unauthorizedAs("invalid-generation")),
			k(1000, 1000, "A", "same"),
		}},
		{"step 3: keys_changed_at rises with the same key", []tokenStep{
			k(100, 100, "A", "first"), k(300, 200, "A", "same"),
			fail(k(300, 150, "A", ""), unauthorizedAs("invalid-keysChangedAt")),
		}},
		{"step 4: an empty client state is refused", []tokenStep{
			x(100, "A", "first"),
			fail(x(200, "", ""), badClientState("empty string")),
		}},
		{"step 4: a stale client state is refused", []tokenStep{
			k(100, 100, "A", "first"), k(200, 200, "B", "new"),
			fail(k(200, 100, "A", ""), badClientState("stale value")),
			fail(k(300, 300, "A", ""), badClientState("stale value")),
			k(300, 300, "C", "new"),
			fail(k(400, 400, "B", ""), badClientState("stale value")),
		}},
		{"step 4: a new client state needs a new generation", []tokenStep{
			x(100, "A", "first"),
			fail(x(100, "B", ""), badClientState("new value with no generation change")),
			x(200, "B", "new"),
		}},
		{"step 4: a new client state needs a new keys_changed_at", []tokenStep{
			k(0, 100, "A", "first"),
			fail(k(0, 100, "B", ""), badClientState("new value with no keys_changed_at change")),
			k(0, 200, "B", "new"),
		}},
		{"step 5: a key change gives a new uid, then it is the current one", []tokenStep{
			k(100, 100, "A", "first"), k(200, 200, "B", "new"), k(200, 200, "B", "same"), k(250, 200, "B", "same"),
		}},
		{"step 6: a token from before a password change", []tokenStep{
			k(200, 200, "A", "first"),
			fail(k(100, 200, "A", ""), unauthorizedAs("invalid-generation")),
			k(0, 200, "A", "same"), // no generation claim: not checked
		}},
		{"step 7: a key id from before a key change", []tokenStep{
			k(200, 200, "A", "first"),
			fail(k(200, 100, "A", ""), unauthorizedAs("invalid-keysChangedAt")),
			fail(x(200, "A", ""), unauthorizedAs("invalid-keysChangedAt")), // no X-KeyID: kca 0
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			tt := newTokenTest(t, nil)
			a := tt.account()
			var last int64
			seen := map[int64]bool{}
			for i, s := range sc.steps {
				a.Generation = s.gen
				tt.FxA.SetAccount(a)
				r := tt.getToken(tt.FxA.JWT(a.UID), s.headers()...)
				if s.err != nil {
					wantTokenError(t, r, *s.err)
					continue
				}
				if r.Status != http.StatusOK {
					t.Fatalf("step %d %+v: %d %s", i, s, r.Status, r.Body)
				}
				uid := wantToken(t, r).UID
				switch s.want {
				case "same":
					if uid != last {
						t.Fatalf("step %d: uid %d, want the same %d", i, uid, last)
					}
				case "new", "first":
					if seen[uid] {
						t.Fatalf("step %d: uid %d was seen before, want a new one", i, uid)
					}
				}
				last, seen[uid] = uid, true
			}
		})
	}
}

// keyChanged is account a after a password reset: new keys, a newer
// generation and keys-changed time.
func keyChanged(a fxatest.Account) fxatest.Account {
	a.KB = []byte(strings.Repeat("k", 32))
	a.Generation += 1000
	a.KeysChangedAt += 1000
	return a
}

func TestTokenKeyChangeRecordsOldState(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	first := wantToken(t, tt.firefox(a))
	b := keyChanged(a)
	tt.FxA.SetAccount(b)
	second := wantToken(t, tt.firefox(b))
	if second.UID == first.UID {
		t.Fatal("a key change kept the uid")
	}
	u, err := tt.Store.Users().GetUser(context.Background(), "sync-1.5", a.UID+"@"+tt.FxA.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	if u.ClientState != b.ClientState() || len(u.OldClientStates) != 1 || u.OldClientStates[0] != a.ClientState() ||
		u.Generation != b.Generation || u.KeysChangedAt != b.KeysChangedAt {
		t.Errorf("stored %+v", u)
	}
}

func TestTokenAllowNewUsersFalseKeepsExistingUsers(t *testing.T) {
	tt := newTokenTest(t, nil)
	a := tt.account()
	first := wantToken(t, tt.firefox(a))
	tt.token.opts.AllowNewUsers = false // as after a restart with the setting changed

	wantToken(t, tt.firefox(a))
	// A key change of an existing user is not a new user.
	a.KB = []byte(strings.Repeat("n", 32))
	a.Generation += 10
	a.KeysChangedAt += 10
	tt.FxA.SetAccount(a)
	if got := wantToken(t, tt.firefox(a)); got.UID == first.UID {
		t.Error("key change kept the uid")
	}
	wantTokenError(t, tt.firefox(tt.account()), unauthorizedAs("new-users-disabled"))
}

func TestTokenAllowedUsers(t *testing.T) {
	tests := []struct {
		name  string
		entry func(tt *tokenTest, a fxatest.Account) string
	}{
		{"FxA uid", func(tt *tokenTest, a fxatest.Account) string { return a.UID }},
		{"FxA uid in upper case", func(tt *tokenTest, a fxatest.Account) string { return strings.ToUpper(a.UID) }},
		{"tokenserver email", func(tt *tokenTest, a fxatest.Account) string { return a.UID + "@" + tt.FxA.Issuer() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := newTokenTest(t, nil)
			listed := tt.account()
			other := tt.account()
			// other got in before the list was configured.
			wantToken(t, tt.firefox(other))
			tt.token.allowed = map[string]bool{strings.ToLower(tc.entry(tt, listed)): true}
			wantToken(t, tt.firefox(listed))
			wantTokenError(t, tt.firefox(other), unauthorizedAs("new-users-disabled"))
			wantTokenError(t, tt.firefox(tt.account()), unauthorizedAs("new-users-disabled"))
		})
	}
}

func TestTokenAllowedUsersOption(t *testing.T) {
	var listed fxatest.Account
	tt := newTokenTest(t, nil, func(o *Options) {
		listed = fxatest.NewAccount("x@example.com")
		o.Token.AllowedUsers = []string{" " + listed.UID + " ", "", "someone@example.com"}
	})
	tt.FxA.SetAccount(listed)
	wantToken(t, tt.firefox(listed))
	wantTokenError(t, tt.firefox(tt.account()), unauthorizedAs("new-users-disabled"))
	if !strings.Contains(tt.Logs.String(), "someone@example.com looks like an email address") {
		t.Errorf("no warning about an email address in the allowed users:\n%s", tt.Logs.String())
	}
}

func TestTokenMaxUsers(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Token.MaxUsers = 2 })
	a, b, c := tt.account(), tt.account(), tt.account()
	wantToken(t, tt.firefox(a))
	wantToken(t, tt.firefox(b))
	wantTokenError(t, tt.firefox(c), unauthorizedAs("new-users-disabled"))
	if !strings.Contains(tt.Logs.String(), "maximum number of users") {
		t.Errorf("refusal not logged:\n%s", tt.Logs.String())
	}
	// Existing users are never locked out, key changes included.
	wantToken(t, tt.firefox(a))
	a.KB = []byte(strings.Repeat("z", 32))
	a.Generation += 5
	a.KeysChangedAt += 5
	tt.FxA.SetAccount(a)
	wantToken(t, tt.firefox(a))
	wantToken(t, tt.firefox(b))
	wantTokenError(t, tt.firefox(c), unauthorizedAs("new-users-disabled"))
}

func TestTokenMaxUsersConcurrentNewcomers(t *testing.T) {
	tt := newTokenTest(t, nil, func(o *Options) { o.Token.MaxUsers = 3 })
	accounts := make([]fxatest.Account, 8)
	for i := range accounts {
		accounts[i] = tt.account()
	}
	status := make([]int, len(accounts))
	done := make(chan struct{})
	for i := range accounts {
		go func() {
			defer func() { done <- struct{}{} }()
			status[i] = tt.firefox(accounts[i]).Status
		}()
	}
	for range accounts {
		<-done
	}
	ok := 0
	for _, s := range status {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("%d newcomers let in, want 3 (statuses %v)", ok, status)
	}
}
