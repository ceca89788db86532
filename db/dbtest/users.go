package dbtest

import (
	"slices"
	"testing"
	"time"

	"syncserver/db"
)

const (
	testNode  = "https://sync.example.com"
	testEmail = "0123456789abcdef@api.accounts.firefox.com"
)

// users returns the user store with the node in place.
func (e *env) users() db.Users {
	e.t.Helper()
	u := e.s.Users()
	for range 2 { // safe to repeat at every start
		if err := u.EnsureNode(e.ctx, db.Service, testNode, 100); err != nil {
			e.t.Fatalf("EnsureNode: %v", err)
		}
	}
	return u
}

func (e *env) allocate(email string, gen, kca int64, cs string) db.User {
	e.t.Helper()
	u, err := e.users().AllocateUser(e.ctx, db.Service, email, gen, kca, cs, testNode)
	if err != nil {
		e.t.Fatalf("AllocateUser: %v", err)
	}
	return u
}

func (e *env) getUser(email string) db.User {
	e.t.Helper()
	u, err := e.s.Users().GetUser(e.ctx, db.Service, email)
	if err != nil {
		e.t.Fatalf("GetUser: %v", err)
	}
	return u
}

func sameUser(a, b db.User) bool {
	return a.UID == b.UID && a.Email == b.Email && a.Generation == b.Generation &&
		a.KeysChangedAt == b.KeysChangedAt && a.ClientState == b.ClientState &&
		a.CreatedAt == b.CreatedAt && a.ReplacedAt == b.ReplacedAt && a.Node == b.Node &&
		slices.Equal(a.OldClientStates, b.OldClientStates)
}

func testUsersAllocate(t *testing.T, e *env) {
	users := e.users()
	_, err := users.GetUser(e.ctx, db.Service, testEmail)
	wantErr(t, "unknown user", err, db.ErrNotFound)

	u := e.allocate(testEmail, 10, 5, "aaaa")
	want := db.User{UID: u.UID, Email: testEmail, Generation: 10, KeysChangedAt: 5, ClientState: "aaaa",
		CreatedAt: e.clock.Now().UnixMilli(), Node: testNode}
	if u.UID <= 0 || !sameUser(u, want) {
		t.Fatalf("AllocateUser = %+v, want %+v", u, want)
	}
	if got := e.getUser(testEmail); !sameUser(got, want) {
		t.Errorf("GetUser = %+v, want %+v", got, want)
	}
	// A second allocation (a concurrent first login) returns the record.
	e.clock.Advance(time.Minute)
	if again := e.allocate(testEmail, 99, 99, "bbbb"); !sameUser(again, want) {
		t.Errorf("second AllocateUser = %+v, want %+v", again, want)
	}
	other := e.allocate("other@api.accounts.firefox.com", 0, 0, "")
	if other.UID == u.UID || other.KeysChangedAt != 0 || other.ClientState != "" {
		t.Errorf("second user = %+v", other)
	}
	// Another account server's user with the same FxA uid is another user.
	if _, err := users.GetUser(e.ctx, db.Service, "0123456789abcdef@accounts.example.org"); err == nil {
		t.Errorf("a different email domain found the user")
	}
	if _, err := users.GetUser(e.ctx, "other-1.0", testEmail); err == nil {
		t.Errorf("another service found the user")
	}
}

func testUsersUpdate(t *testing.T, e *env) {
	u := e.allocate(testEmail, 10, 0, "aaaa")
	users := e.s.Users()
	for _, c := range []struct {
		gen, kca         int64
		wantGen, wantKCA int64
	}{
		{20, 15, 20, 15},
		{5, 3, 20, 15},
		{0, 0, 20, 15},
		{30, 0, 30, 15},
		{30, 25, 30, 25},
	} {
		if err := users.UpdateUser(e.ctx, u.UID, c.gen, c.kca); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		got := e.getUser(testEmail)
		if got.Generation != c.wantGen || got.KeysChangedAt != c.wantKCA || got.UID != u.UID || got.ClientState != "aaaa" {
			t.Errorf("after UpdateUser(%d, %d): %+v, want generation %d, keys_changed_at %d", c.gen, c.kca, got, c.wantGen, c.wantKCA)
		}
	}
}

func testUsersReplace(t *testing.T, e *env) {
	users := e.users()
	u1 := e.allocate(testEmail, 10, 10, "aaaa")
	e.clock.Advance(time.Minute)
	u2, err := users.ReplaceUser(e.ctx, u1, 20, 20, "bbbb")
	if err != nil {
		t.Fatalf("ReplaceUser: %v", err)
	}
	want := db.User{UID: u2.UID, Email: testEmail, Generation: 20, KeysChangedAt: 20, ClientState: "bbbb",
		CreatedAt: e.clock.Now().UnixMilli(), Node: testNode, OldClientStates: []string{"aaaa"}}
	if u2.UID == u1.UID || !sameUser(u2, want) {
		t.Fatalf("ReplaceUser = %+v, want a new uid and %+v", u2, want)
	}
	if got := e.getUser(testEmail); !sameUser(got, want) {
		t.Errorf("GetUser = %+v, want %+v", got, want)
	}
	for _, cs := range []string{"aaaa", "bbbb"} {
		_, err := users.ReplaceUser(e.ctx, u2, 30, 30, cs)
		wantErr(t, "ReplaceUser with client state "+cs, err, db.ErrStaleClientState)
	}
	// A concurrent request that made the same change already.
	if got, err := users.ReplaceUser(e.ctx, u1, 20, 20, "bbbb"); err != nil || !sameUser(got, want) {
		t.Errorf("repeated ReplaceUser = %+v, %v; want %+v", got, err, want)
	}
	// Generation and keys_changed_at never go down.
	e.clock.Advance(time.Minute)
	u3, err := users.ReplaceUser(e.ctx, u2, 5, 0, "cccc")
	if err != nil || u3.Generation != 20 || u3.KeysChangedAt != 20 || !slices.Equal(u3.OldClientStates, []string{"bbbb", "aaaa"}) {
		t.Errorf("ReplaceUser with lower values = %+v, %v", u3, err)
	}
	// A clock that stepped back still makes the new record current.
	e.clock.Advance(-time.Hour)
	u4, err := users.ReplaceUser(e.ctx, u3, 40, 40, "dddd")
	if err != nil {
		t.Fatalf("ReplaceUser: %v", err)
	}
	if got := e.getUser(testEmail); got.UID != u4.UID || got.ClientState != "dddd" ||
		!slices.Equal(got.OldClientStates, []string{"cccc", "bbbb", "aaaa"}) || got.ReplacedAt != 0 {
		t.Errorf("current record after a clock step back = %+v, want uid %d", got, u4.UID)
	}
	if n, err := users.CountUsers(e.ctx, db.Service); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
}

func testUsersCount(t *testing.T, e *env) {
	users := e.users()
	if n, err := users.CountUsers(e.ctx, db.Service); err != nil || n != 0 {
		t.Errorf("CountUsers = %d, %v; want 0", n, err)
	}
	a := e.allocate("a@x", 1, 0, "aa")
	e.allocate("b@x", 1, 0, "bb")
	e.allocate("c@x", 1, 0, "cc")
	if _, err := users.ReplaceUser(e.ctx, a, 2, 0, "a2"); err != nil {
		t.Fatal(err)
	}
	if n, err := users.CountUsers(e.ctx, db.Service); err != nil || n != 3 {
		t.Errorf("CountUsers = %d, %v; want 3", n, err)
	}
	if n, err := users.CountUsers(e.ctx, "other-1.0"); err != nil || n != 0 {
		t.Errorf("CountUsers(other service) = %d, %v; want 0", n, err)
	}
}
