package dbtest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"syncserver/db"
)

// Races of the built-in accounts' store: single-use takes, device
// registrations and command indexes under concurrent callers, as several
// servers sharing one database (or one busy server) make them.

// racers is how many goroutines each race runs.
const racers = 8

// race runs fn in racers goroutines started together and returns their
// errors. A db.ErrConflict (a lock timeout or deadlock the caller would
// retry) is retried, as the accounts service's callers would answer 503
// and the client try again.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range racers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			for range 5 {
				errs[i] = fn(i)
				if !errors.Is(errs[i], db.ErrConflict) {
					return
				}
			}
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// oneWinner checks that exactly one racer succeeded and every other one
// got db.ErrNotFound.
func oneWinner(t *testing.T, what string, errs []error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, db.ErrNotFound):
			t.Fatalf("%s: unexpected error %v", what, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%s: %d of %d concurrent takes won, want exactly 1", what, wins, racers)
	}
}

func testAccountsConcurrentTakes(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	for round := range 3 {
		name := fmt.Sprint(round)
		tok := db.AuthToken{IDHash: secretHash("kf " + name), Kind: db.TokenKeyFetch, UID: me.UID, Expires: e.ms() + 60_000}
		code := db.OAuthCode{Hash: secretHash("code " + name), UID: me.UID, Expires: e.ms() + 60_000}
		inv := db.Invite{Hash: secretHash("invite " + name), Expires: e.ms() + 60_000}
		if err := errors.Join(s.PutAuthToken(e.ctx, tok), s.PutOAuthCode(e.ctx, code), s.PutInvite(e.ctx, inv)); err != nil {
			t.Fatal(err)
		}
		oneWinner(t, "TakeAuthToken", race(func(int) error { _, err := s.TakeAuthToken(e.ctx, tok.IDHash); return err }))
		oneWinner(t, "TakeOAuthCode", race(func(int) error { _, err := s.TakeOAuthCode(e.ctx, code.Hash); return err }))
		oneWinner(t, "TakeInvite", race(func(int) error { _, err := s.TakeInvite(e.ctx, inv.Hash, e.ms()); return err }))
	}
}

func testAccountsConcurrentDevices(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	for round := range 3 {
		cred := secretHash(fmt.Sprint("session ", round))
		got := make([]db.Device, racers)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.UpsertDevice(e.ctx, db.Device{ID: uidOf(fmt.Sprint("device ", round, i)), UID: me.UID,
				CredentialHash: cred, Name: fmt.Sprint("racer ", i), Type: "desktop", CreatedAt: e.ms(), LastAccess: e.ms()})
			return err
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: racing UpsertDevice: %v", round, err)
		}
		for i := range got {
			if got[i].ID != got[0].ID {
				t.Fatalf("round %d: racers got devices %s and %s for one credential", round, got[0].ID, got[i].ID)
			}
		}
		if ids := e.deviceIDs(me.UID); len(ids) != round+1 {
			t.Fatalf("round %d: %d devices after racing registrations, want %d", round, len(ids), round+1)
		}
	}
}

func testAccountsConcurrentCommands(t *testing.T, e *env) {
	s := e.accounts()
	me := e.newAccount("me", "me@example.org")
	got := make([]int64, racers)
	errs := race(func(i int) error {
		var err error
		got[i], err = s.PushDeviceCommand(e.ctx, db.DeviceCommand{UID: me.UID, TargetDeviceID: "d", Payload: fmt.Sprint(i), Expires: e.ms() + 60_000}, 0)
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("racing PushDeviceCommand: %v", err)
	}
	slices.Sort(got)
	if len(slices.Compact(slices.Clone(got))) != racers {
		t.Fatalf("racing pushes got indexes %v: not all distinct", got)
	}
	cmds, err := s.DeviceCommands(e.ctx, me.UID, "d", 0, 0)
	if err != nil || len(cmds) != racers {
		t.Fatalf("DeviceCommands = %d commands, %v; want %d", len(cmds), err, racers)
	}
	for i, c := range cmds {
		if c.Index != got[i] {
			t.Fatalf("listed indexes differ from the pushed ones %v: %+v", got, cmds)
		}
	}
}
