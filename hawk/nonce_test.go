package hawk

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// wantErr fails unless got is want (nil for acceptance).
func wantErr(tb testing.TB, what string, got, want error) {
	tb.Helper()
	if (want == nil && got != nil) || !errors.Is(got, want) {
		tb.Errorf("%s: Check = %v, want %v", what, got, want)
	}
}

func TestNonceCache(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ts := now.Unix()
	c := NewNonceCache(time.Hour, 100)
	steps := []struct {
		name      string
		owner     int64
		id, nonce string
		ts        int64
		now       time.Time
		want      error
	}{
		{"first use", 1, "tok", "n1", ts, now, nil},
		{"replay", 1, "tok", "n1", ts, now, ErrReplay},
		{"replay later within the window", 1, "tok", "n1", ts, now.Add(59 * time.Minute), ErrReplay},
		{"replay with another ts", 1, "tok", "n1", ts + 5, now, ErrReplay},
		{"other nonce", 1, "tok", "n2", ts, now, nil},
		{"same nonce, other token", 1, "tok2", "n1", ts, now, nil},
		{"same nonce, other owner", 2, "tok", "n1", ts, now, nil},
		{"split differently", 1, "to", "kn1", ts, now, nil},
		{"ts at the edge of the past", 1, "tok", "n3", ts - 3600, now, nil},
		{"ts at the edge of the future", 1, "tok", "n4", ts + 3600, now, nil},
		{"ts too old", 1, "tok", "n5", ts - 3601, now, ErrStaleTimestamp},
		{"ts too new", 1, "tok", "n6", ts + 3601, now, ErrStaleTimestamp},
		{"stale nonce was not recorded", 1, "tok", "n5", ts, now, nil},
		{"ts zero", 1, "tok", "n7", 0, now, ErrStaleTimestamp},
		{"ts huge", 1, "tok", "n8", 1<<63 - 1, now, ErrStaleTimestamp},
		// After the window the first request's replay is stale, not a replay.
		{"replay after the window", 1, "tok", "n1", ts, now.Add(time.Hour + time.Second), ErrStaleTimestamp},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			wantErr(t, fmt.Sprintf("Check(%d, %q, %q, %d)", s.owner, s.id, s.nonce, s.ts), c.Check(s.owner, s.id, s.nonce, s.ts, 0, s.now), s.want)
		})
	}
}

// TestNonceCacheCredentialsExpiry checks that a nonce is kept only while
// its credentials are accepted: a replay after that fails anyway.
func TestNonceCacheCredentialsExpiry(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(365*24*time.Hour, 100)
	until := now.Unix() + 600
	wantErr(t, "first use", c.Check(1, "tok", "n1", now.Unix(), until, now), nil)
	wantErr(t, "replay before expiry", c.Check(1, "tok", "n1", now.Unix(), until, now.Add(10*time.Minute)), ErrReplay)
	wantErr(t, "expired credentials", c.Check(1, "tok", "n2", now.Unix(), until, now.Add(11*time.Minute)), ErrStaleTimestamp)
	later := now.Add(11 * time.Minute)
	wantErr(t, "another user, later", c.Check(2, "tok2", "n1", later.Unix(), later.Unix()+600, later), nil)
	if got, want := c.Len(), 1; got != want {
		t.Errorf("Len = %d, want %d: the nonce of expired credentials is dropped although ts+window is a year away", got, want)
	}
	if got, want := c.Owners(), 1; got != want {
		t.Errorf("Owners = %d, want %d", got, want)
	}
}

func TestNonceCacheExpiry(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(time.Minute, 100)
	for i := range 10 {
		wantErr(t, "Check", c.Check(int64(i%3), "tok", fmt.Sprint(i), now.Unix(), 0, now), nil)
	}
	if got, want := c.Len(), 10; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	// The periodic sweep drops the nonces of owners who went quiet.
	later := now.Add(2 * time.Minute)
	wantErr(t, "Check", c.Check(7, "tok", "new", later.Unix(), 0, later), nil)
	if got, want := c.Len(), 1; got != want {
		t.Errorf("Len after the window = %d, want %d (expired entries dropped)", got, want)
	}
	if got, want := c.Owners(), 1; got != want {
		t.Errorf("Owners after the window = %d, want %d (empty partitions dropped)", got, want)
	}
}

// TestNonceCacheOtherOwnersFloodKeepsReplaysRefused is the attack of issue
// #11: another user floods the cache with fresh nonces whose ts is far in
// the future; the victim's captured request must still be refused.
func TestNonceCacheOtherOwnersFloodKeepsReplaysRefused(t *testing.T) {
	const limit = 1 << 16
	window := 365 * 24 * time.Hour
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(window, limit)
	wantErr(t, "victim's request", c.Check(1, "victim", "captured", now.Unix(), 0, now), nil)
	future := now.Add(window - time.Hour).Unix()
	for i := range limit + 1000 {
		err := c.Check(2, "attacker", fmt.Sprint(i), future, 0, now)
		if err != nil && !errors.Is(err, ErrForgotten) {
			t.Fatalf("attacker's request #%d: %v", i, err)
		}
	}
	for _, at := range []time.Duration{0, time.Hour, window - time.Second} {
		wantErr(t, fmt.Sprintf("replay %v later", at), c.Check(1, "victim", "captured", now.Unix(), 0, now.Add(at)), ErrReplay)
	}
	if got := c.Len() + ownerUnits*c.Owners(); got > limit {
		t.Errorf("the cache holds %d units, more than its bound %d", got, limit)
	}
}

// TestNonceCacheOwnFloodKeepsReplaysRefused: a user flooding their own
// partition cannot make their own captured request replayable either.
func TestNonceCacheOwnFloodKeepsReplaysRefused(t *testing.T) {
	const limit = 1000
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name      string
		floodTS   int64
		sameToken bool
	}{
		{"same token, same ts", now.Unix(), true},
		{"same token, future ts", now.Unix() + 3000, true},
		{"other token, past ts", now.Unix() - 3000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewNonceCache(time.Hour, limit)
			wantErr(t, "captured request", c.Check(1, "tok", "captured", now.Unix(), 0, now), nil)
			id := "tok"
			if !tc.sameToken {
				id = "tok2"
			}
			for i := range 3 * limit {
				err := c.Check(1, id, fmt.Sprint(i), tc.floodTS, 0, now)
				if err != nil && !errors.Is(err, ErrForgotten) {
					t.Fatalf("flood #%d: %v", i, err)
				}
			}
			err := c.Check(1, "tok", "captured", now.Unix(), 0, now.Add(time.Minute))
			if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrForgotten) {
				t.Errorf("replay after the user's own flood: Check = %v, want ErrReplay or ErrForgotten", err)
			}
		})
	}
}

// TestNonceCacheFloodCostsTheFlooder checks who pays when the cache is
// full: the owner with the most nonces, not a light user.
func TestNonceCacheFloodCostsTheFlooder(t *testing.T) {
	const limit = 100
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(time.Hour, limit)
	for i := range 10 {
		wantErr(t, "light user", c.Check(1, "light", fmt.Sprint(i), now.Unix(), 0, now), nil)
	}
	for i := range 1000 {
		c.Check(2, "heavy", fmt.Sprint(i), now.Unix()+int64(i), 0, now)
	}
	// The light user keeps all its nonces and is not refused.
	for i := range 10 {
		wantErr(t, "light user's replay", c.Check(1, "light", fmt.Sprint(i), now.Unix(), 0, now), ErrReplay)
	}
	wantErr(t, "light user's next request", c.Check(1, "light", "next", now.Unix()+1, 0, now), nil)
	// The heavy user forgot its oldest nonces, so their ts are refused:
	// a replay of a forgotten request as well as a new one that old.
	wantErr(t, "heavy user's forgotten request", c.Check(2, "heavy", "0", now.Unix(), 0, now), ErrForgotten)
	wantErr(t, "heavy user's old ts", c.Check(2, "heavy", "new", now.Unix()+5, 0, now), ErrForgotten)
	// Its newest ts are still accepted.
	wantErr(t, "heavy user's new ts", c.Check(2, "heavy", "newer", now.Unix()+1000, 0, now), nil)
	// Once every forgotten nonce would be stale, the floor goes.
	later := now.Add(time.Hour + 1000*time.Second + time.Second)
	wantErr(t, "heavy user, much later", c.Check(2, "heavy", "late", later.Unix(), 0, later), nil)
}

// TestNonceCacheForgetsTheOldest: when the cache is full, the nonce
// forgotten is a user's oldest, so that the floor it leaves stays below the
// ts of the user's next requests. Polls (info/collections) are accepted a
// while past their token's expiry, so their nonces outlive a write's of
// the same token: forgetting the first to expire forgot the newest write,
// and refused the user's every other request of that second.
func TestNonceCacheForgetsTheOldest(t *testing.T) {
	const limit = ownerUnits + 20
	now := time.Unix(1700000000, 0)
	expires := now.Unix() + 3600
	grace := int64(300)
	c := NewNonceCache(365*24*time.Hour, limit)
	for i := range 10 {
		wantErr(t, "earlier poll", c.Check(1, "tok", fmt.Sprint("poll", i), now.Unix()-600, expires+grace, now), nil)
	}
	wantErr(t, "write", c.Check(1, "tok", "write", now.Unix(), expires, now), nil)
	// Room for 19 more, once the earlier polls are forgotten.
	for i := range limit - ownerUnits - 1 {
		wantErr(t, fmt.Sprintf("poll #%d of the same second", i), c.Check(1, "tok", fmt.Sprint("now", i), now.Unix(), expires+grace, now), nil)
	}
	// The earlier polls were forgotten: their ts is refused.
	wantErr(t, "replay of an earlier poll", c.Check(1, "tok", "poll0", now.Unix()-600, expires+grace, now), ErrForgotten)
}

// TestNonceCacheExpiredNonceNeedsNoFloor: a nonce that expired behind an
// older one still valid is forgotten without raising the floor, since its
// replay is refused anyway.
func TestNonceCacheExpiredNonceNeedsNoFloor(t *testing.T) {
	const limit = 2*ownerUnits + 5
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(365*24*time.Hour, limit)
	long, short := now.Unix()+10000, now.Unix()+10
	wantErr(t, "owner 2, oldest", c.Check(2, "tok", "r", now.Unix()-100, long, now), nil)
	wantErr(t, "owner 2, short-lived", c.Check(2, "tok", "b", now.Unix()-90, short, now), nil)
	wantErr(t, "owner 2", c.Check(2, "tok", "c", now.Unix()-80, long, now), nil)
	wantErr(t, "owner 2", c.Check(2, "tok", "d", now.Unix()-70, long, now), nil)
	wantErr(t, "owner 1", c.Check(1, "tok", "z", now.Unix(), long, now), nil)
	// Full. Owner 2 is the largest: its oldest nonce goes (floor -100),
	// then the one that expired behind it.
	later := now.Add(20 * time.Second)
	wantErr(t, "owner 1, later", c.Check(1, "tok", "n1", later.Unix(), long, later), nil)
	wantErr(t, "owner 1, later", c.Check(1, "tok", "n2", later.Unix(), long, later), nil)
	// A ts after -100 is not refused: the expired nonce left no floor.
	wantErr(t, "owner 2, ts between", c.Check(2, "tok", "x", now.Unix()-95, long, later), nil)
	wantErr(t, "owner 2, ts of the first forgotten", c.Check(2, "tok", "y", now.Unix()-100, long, later), ErrForgotten)
}

// TestNonceCacheFull checks the last resort: with as many owners as the
// bound allows, each protected only by its floor, a new owner gets ErrFull
// until the floors expire.
func TestNonceCacheFull(t *testing.T) {
	const limit = 10
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(time.Minute, limit)
	for owner := range int64(limit) {
		err := c.Check(owner, "tok", "n", now.Unix(), 0, now)
		if err != nil && !errors.Is(err, ErrFull) {
			t.Fatalf("owner %d: %v", owner, err)
		}
	}
	wantErr(t, "new owner", c.Check(100, "tok", "n", now.Unix(), 0, now), ErrFull)
	if got := c.Len() + ownerUnits*c.Owners(); got > limit {
		t.Errorf("%d units, bound %d", got, limit)
	}
	// Every first nonce forgotten is still refused.
	for owner := range int64(limit) {
		err := c.Check(owner, "tok", "n", now.Unix(), 0, now)
		if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrForgotten) && !errors.Is(err, ErrFull) {
			t.Errorf("owner %d's replay: %v", owner, err)
		}
	}
	later := now.Add(2 * time.Minute)
	wantErr(t, "new owner later", c.Check(100, "tok", "n", later.Unix(), 0, later), nil)
}

// TestNonceCacheBound checks the memory bound under a mix of owners,
// floods and time passing: units (nonces + owners) never exceed it, and
// every request accepted earlier whose replay could still authenticate
// is refused.
func TestNonceCacheBound(t *testing.T) {
	const limit = 500
	window := 10 * time.Minute
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(window, limit)
	rng := rand.New(rand.NewPCG(1, 2))
	type use struct {
		owner      int64
		id, nonce  string
		ts, until  int64
		acceptedAt time.Time
	}
	var accepted []use
	for i := range 20000 {
		if i%500 == 0 {
			now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
		}
		owner := int64(rng.IntN(50))
		if rng.IntN(2) == 0 {
			owner = 1000 // a flooder
		}
		u := use{
			owner: owner,
			id:    fmt.Sprint("tok", owner),
			nonce: fmt.Sprint(i),
			ts:    now.Unix() + int64(rng.IntN(1200)) - 600,
			until: now.Unix() + int64(rng.IntN(900)),
		}
		if c.Check(u.owner, u.id, u.nonce, u.ts, u.until, now) == nil {
			u.acceptedAt = now
			accepted = append(accepted, u)
		}
		if got := c.Len() + ownerUnits*c.Owners(); got > limit {
			t.Fatalf("after %d requests the cache holds %d units, bound %d", i+1, got, limit)
		}
		if i%997 == 0 {
			for _, a := range accepted {
				if err := c.Check(a.owner, a.id, a.nonce, a.ts, a.until, now); err == nil {
					t.Fatalf("request %d: replay of %+v accepted at %v", i, a, now)
				}
			}
		}
	}
	if len(accepted) < 1000 {
		t.Errorf("only %d of 20000 requests accepted", len(accepted))
	}
}

// TestNonceCacheGivesMemoryBack checks that a partition that was flooded
// reallocates once its nonces expire.
func TestNonceCacheGivesMemoryBack(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(time.Minute, 100000)
	for i := range 10000 {
		wantErr(t, "flood", c.Check(1, "tok", fmt.Sprint(i), now.Unix(), 0, now), nil)
	}
	later := now.Add(30 * time.Second)
	wantErr(t, "late", c.Check(1, "tok", "late", later.Unix()+40, 0, later), nil)
	end := now.Add(90 * time.Second)
	wantErr(t, "after expiry", c.Check(1, "tok", "end", end.Unix(), 0, end), nil)
	p := c.owners[1]
	if got := cap(p.byAge); got > 100 {
		t.Errorf("heap capacity %d after the flood expired, want it reallocated", got)
	}
}

func TestNonceCacheMinimumSize(t *testing.T) {
	c := NewNonceCache(time.Hour, 0)
	now := time.Unix(1700000000, 0)
	wantErr(t, "first", c.Check(1, "tok", "a", now.Unix(), 0, now), nil)
	wantErr(t, "second forgets the first", c.Check(1, "tok", "b", now.Unix()+1, 0, now), nil)
	wantErr(t, "first again", c.Check(1, "tok", "a", now.Unix(), 0, now), ErrForgotten)
	if got, want := c.Len(), 1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func TestNonceCacheConcurrent(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(time.Hour, 10000)
	const goroutines, perG = 8, 500
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
	)
	for g := range goroutines {
		wg.Go(func() {
			ok := 0
			for i := range perG {
				// Every goroutine tries the same nonces: each must be accepted once.
				err := c.Check(int64(i%7), "tok", fmt.Sprint(i), now.Unix(), 0, now.Add(time.Duration(g)*time.Second))
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrReplay):
					t.Errorf("Check: %v", err)
				}
			}
			mu.Lock()
			accepted += ok
			mu.Unlock()
		})
	}
	wg.Wait()
	if got, want := accepted, perG; got != want {
		t.Errorf("accepted %d nonces, want %d (each exactly once)", got, want)
	}
}

func BenchmarkNonceCacheCheck(b *testing.B) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(365*24*time.Hour, 100000)
	i := 0
	for b.Loop() {
		i++
		// 1000 users, each sending one request a second: once the cache is
		// full, each forgets its oldest nonce at every request.
		if err := c.Check(int64(i%1000), vecToken, fmt.Sprint(i), now.Unix()+int64(i/1000), 0, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAgeHeapOrder: entries come out of a partition's heap oldest (by ts)
// first, ties first to expire first, however they went in.
func TestAgeHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h ageHeap
	var want []nonceEntry
	for i := range 500 {
		e := nonceEntry{expires: int64(r.IntN(50)), ts: int64(r.IntN(50)), key: nonceKey(i)}
		h.push(e)
		want = append(want, e)
		if i%7 == 0 { // interleave pops with pushes
			sortEntries(want)
			if got := h.pop(); got.expires != want[0].expires || got.ts != want[0].ts {
				t.Fatalf("pop = %+v, want %+v", got, want[0])
			}
			want = want[1:]
		}
	}
	sortEntries(want)
	for _, w := range want {
		if got := h.pop(); got.expires != w.expires || got.ts != w.ts {
			t.Fatalf("pop = %+v, want %+v", got, w)
		}
	}
	if len(h) != 0 {
		t.Errorf("%d entries left", len(h))
	}
}

func sortEntries(es []nonceEntry) {
	slices.SortStableFunc(es, func(a, b nonceEntry) int {
		if a.ts != b.ts {
			return cmp.Compare(a.ts, b.ts)
		}
		return cmp.Compare(a.expires, b.expires)
	})
}
