package hawk

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestNonceCache(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ts := now.Unix()
	c := NewNonceCache(time.Hour, 100)
	steps := []struct {
		name      string
		id, nonce string
		ts        int64
		now       time.Time
		want      error
	}{
		{"first use", "tok", "n1", ts, now, nil},
		{"replay", "tok", "n1", ts, now, ErrReplay},
		{"replay later within the window", "tok", "n1", ts, now.Add(59 * time.Minute), ErrReplay},
		{"replay with another ts", "tok", "n1", ts + 5, now, ErrReplay},
		{"other nonce", "tok", "n2", ts, now, nil},
		{"same nonce, other token", "tok2", "n1", ts, now, nil},
		{"split differently", "to", "kn1", ts, now, nil},
		{"ts at the edge of the past", "tok", "n3", ts - 3600, now, nil},
		{"ts at the edge of the future", "tok", "n4", ts + 3600, now, nil},
		{"ts too old", "tok", "n5", ts - 3601, now, ErrStaleTimestamp},
		{"ts too new", "tok", "n6", ts + 3601, now, ErrStaleTimestamp},
		{"stale nonce was not recorded", "tok", "n5", ts, now, nil},
		{"ts zero", "tok", "n7", 0, now, ErrStaleTimestamp},
		{"ts huge", "tok", "n8", 1<<63 - 1, now, ErrStaleTimestamp},
		// After the window the first request's replay is stale, not a replay.
		{"replay after the window", "tok", "n1", ts, now.Add(time.Hour + time.Second), ErrStaleTimestamp},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := c.Check(s.id, s.nonce, s.ts, s.now); !errors.Is(got, s.want) || (s.want == nil && got != nil) {
				t.Errorf("Check(%q, %q, %d) = %v, want %v", s.id, s.nonce, s.ts, got, s.want)
			}
		})
	}
}

func TestNonceCacheExpiry(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(time.Minute, 100)
	for i := range 10 {
		if err := c.Check("tok", fmt.Sprint(i), now.Unix(), now); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if got, want := c.Len(), 10; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	later := now.Add(2 * time.Minute)
	if err := c.Check("tok", "new", later.Unix(), later); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got, want := c.Len(), 1; got != want {
		t.Errorf("Len after the window = %d, want %d (expired entries dropped)", got, want)
	}
}

func TestNonceCacheNoWindow(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(0, 3)
	for _, s := range []struct {
		name  string
		nonce string
		ts    int64
		want  error
	}{
		{"ancient ts accepted", "a", 0, nil},
		{"future ts accepted", "b", 1 << 62, nil},
		{"replay still rejected", "a", 5, ErrReplay},
		{"third", "c", 1, nil},
		{"fourth evicts the oldest", "d", 1, nil},
		{"evicted nonce is forgotten", "a", 1, nil},
		{"newer nonce is remembered", "c", 1, ErrReplay},
	} {
		t.Run(s.name, func(t *testing.T) {
			if got := c.Check("tok", s.nonce, s.ts, now); !errors.Is(got, s.want) || (s.want == nil && got != nil) {
				t.Errorf("Check(%q) = %v, want %v", s.nonce, got, s.want)
			}
		})
	}
}

func TestNonceCacheBound(t *testing.T) {
	const limit = 50
	now := time.Unix(1700000000, 0)
	c := NewNonceCache(24*time.Hour, limit)
	for i := range 10 * limit {
		// Timestamps rise, so the earliest-expiring entry is also the oldest.
		if err := c.Check("tok", fmt.Sprint(i), now.Unix()+int64(i), now); err != nil {
			t.Fatalf("Check #%d: %v", i, err)
		}
		if got := c.Len(); got > limit {
			t.Fatalf("after %d inserts Len = %d, want at most %d", i+1, got, limit)
		}
	}
	if got := len(c.byAge); got != limit {
		t.Errorf("heap holds %d entries, want %d", got, limit)
	}
	newest := fmt.Sprint(10*limit - 1)
	if err := c.Check("tok", newest, now.Unix(), now); !errors.Is(err, ErrReplay) {
		t.Errorf("newest nonce: Check = %v, want ErrReplay", err)
	}
	if err := c.Check("tok", "0", now.Unix(), now); err != nil {
		t.Errorf("evicted oldest nonce: Check = %v, want nil", err)
	}
}

func TestNonceCacheMinimumSize(t *testing.T) {
	c := NewNonceCache(time.Hour, 0)
	now := time.Unix(1700000000, 0)
	for _, n := range []string{"a", "b"} {
		if err := c.Check("tok", n, now.Unix(), now); err != nil {
			t.Fatalf("Check(%q): %v", n, err)
		}
	}
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
				err := c.Check("tok", fmt.Sprint(i), now.Unix(), now.Add(time.Duration(g)*time.Second))
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
	c := NewNonceCache(time.Hour, 100000)
	i := 0
	for b.Loop() {
		i++
		if err := c.Check(vecToken, fmt.Sprint(i), now.Unix(), now); err != nil {
			b.Fatal(err)
		}
	}
}
