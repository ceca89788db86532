package accounts

import (
	"crypto/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"syncserver/accounts/onepw"
)

func randRead(b []byte) { rand.Read(b) } // never fails since Go 1.24

// scryptSlots is the global semaphore around the server-side scrypt (64
// MiB and a noticeable CPU slice each): a login flood queues here instead
// of exhausting memory. Package-wide, as CreateAccount uses it too.
var scryptSlots = make(chan struct{}, 2)

// scryptRuns counts the scrypt runs, so tests can prove that an unknown
// email costs the same work as a wrong password.
var scryptRuns atomic.Int64

// kdf is the server-side password work of onepw. Only the tests under
// the race detector, where scrypt takes seconds, put a cheap stand-in here.
var kdf = struct {
	newVerifier func(authPW, wrapKb []byte) (onepw.Verifier, error)
	unwrap      func(v onepw.Verifier, authPW []byte) ([]byte, bool)
	dummyWork   func(authPW []byte)
}{onepw.NewVerifier, onepw.Verifier.Unwrap, onepw.DummyWork}

func withScrypt(f func()) {
	scryptRuns.Add(1)
	scryptSlots <- struct{}{}
	defer func() { <-scryptSlots }()
	f()
}

// limiter counts attempts per key in fixed windows. It is small and exact
// enough for its job: bounding password guesses per account and per
// client address.
type limiter struct {
	window time.Duration
	mu     sync.Mutex
	counts map[string]*bucket
	sweep  time.Time
}

type bucket struct {
	start time.Time
	n     int
}

func newLimiter(window time.Duration) *limiter {
	return &limiter{window: window, counts: make(map[string]*bucket)}
}

// allow counts one attempt for key and reports whether it is within max
// in the current window, and if not, how long until the window ends.
func (l *limiter) allow(key string, max int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > l.window {
		for k, b := range l.counts {
			if now.Sub(b.start) >= l.window {
				delete(l.counts, k)
			}
		}
		l.sweep = now
	}
	b := l.counts[key]
	if b == nil || now.Sub(b.start) >= l.window {
		b = &bucket{start: now}
		l.counts[key] = b
	}
	if b.n >= max {
		return false, b.start.Add(l.window).Sub(now)
	}
	b.n++
	return true, 0
}

// clientAddress is the address a request came from, without the port.
// Behind a proxy the adapter trusts (it then passes ForwardedProto on), the
// client is the last X-Forwarded-For entry, the one that proxy added;
// otherwise every client of the proxy would share one budget.
func clientAddress(c *call) string {
	remote := c.req.RemoteAddr
	if c.req.ForwardedProto != "" {
		if xff := c.req.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); last != "" {
				return last
			}
		}
	}
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return strings.TrimSpace(remote)
}

// checkRate counts an attempt of kind ("login" for anything that runs
// scrypt, "salt" for credentials/status, which the page calls before each
// login and so gets a budget of its own) for the client address and, when
// email is not empty, the account. It answers 429/114 with retryAfter in
// the body: only page-only routes call it, and Firefox never sees it
// (spec §3.1: no Retry-After header anywhere).
func (s *Service) checkRate(c *call, kind, email string) error {
	now := c.start
	if ok, wait := s.limits.allow(kind+" addr:"+clientAddress(c), s.opts.LoginsPerAddress, now); !ok {
		return errTooMany(wait)
	}
	if email != "" {
		if ok, wait := s.limits.allow(kind+" acct:"+email, s.opts.LoginsPerAccount, now); !ok {
			return errTooMany(wait)
		}
	}
	return nil
}

func errTooMany(wait time.Duration) *apiError {
	e := newError(http.StatusTooManyRequests, errnoTooManyRequests, "Client has sent too many requests")
	e.retryAfter = max(int((wait+time.Second-1)/time.Second), 1)
	return e
}
