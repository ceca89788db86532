package handlers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/hawk"
)

// captured is a request an eavesdropper recorded: replay sends it again,
// byte for byte.
type captured struct{ r Request }

func capture(r *Request) captured { return captured{*r} }

func (c captured) replay() *Request {
	r := c.r
	r.Header = c.r.Header.Clone()
	r.Body = strings.NewReader("")
	return &r
}

// flood sends n requests signed by u with fresh nonces and a ts tsOffset
// from the test clock, as fast as the server answers; it returns how many
// were accepted.
func flood(ts *testServer, u *testUser, n int, tsOffset time.Duration) int {
	ok := 0
	target := u.path("/info/configuration")
	at := ts.Clock.Now().Add(tsOffset).Unix()
	for range n {
		r := newRequest(http.MethodGet, target, "")
		ts.signHawk(r, u.creds, testPublicURL.Prefix+target, "", hawkAuth{TS: at})
		if ts.serve(r).Status == http.StatusOK {
			ok++
		}
	}
	return ok
}

// TestReplayAfterAnotherUsersFlood is the attack of issue #11: user B,
// with a valid token, floods the nonce cache with more fresh nonces than
// it holds, dated far in the future (the window accepts them); user A's
// captured request must still be refused.
func TestReplayAfterAnotherUsersFlood(t *testing.T) {
	ts := newTestServer(t, quiet)
	victim, attacker := ts.user(1), ts.user(2)
	r := ts.hawkRequest(victim.creds, http.MethodGet, victim.path("/info/collections"), "")
	c := capture(r)
	wantResponse(t, ts.serve(r), http.StatusOK, "{}")

	if n := flood(ts, attacker, DefaultNonceEntries+1000, DefaultHawkWindow-time.Hour); n == 0 {
		t.Fatal("the attacker's requests were all refused: the test proves nothing")
	}
	ts.Clock.Advance(time.Minute)
	want401(t, ts.serve(c.replay()))
	// The victim itself is not refused.
	victim.mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
}

// TestReplayAfterOwnFlood: a user flooding their own partition cannot make
// their own captured request replayable either.
func TestReplayAfterOwnFlood(t *testing.T) {
	for _, offset := range []time.Duration{0, DefaultHawkWindow - time.Hour, -DefaultHawkWindow + time.Hour} {
		t.Run(offset.String(), func(t *testing.T) {
			ts := newTestServer(t, quiet, func(o *Options) {
				o.Storage.Nonces = hawk.NewNonceCache(DefaultHawkWindow, 1000)
			})
			u := ts.user(1)
			r := ts.hawkRequest(u.creds, http.MethodGet, u.path("/info/collections"), "")
			c := capture(r)
			wantResponse(t, ts.serve(r), http.StatusOK, "{}")
			// The same user, with another token as well as with the same.
			flood(ts, ts.user(1), 1500, offset)
			flood(ts, u, 1500, offset)
			want401(t, ts.serve(c.replay()))
		})
	}
}

// TestNonceCacheFullIs503 checks the last resort: when the cache holds as
// many users as its bound, a new user gets 503 with Retry-After (come back
// later), never a 401 that would sign Firefox out, and nobody's request
// becomes replayable.
func TestNonceCacheFullIs503(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.Storage.Nonces = hawk.NewNonceCache(DefaultHawkWindow, 13)
	})
	// 13 units: a user costs 4, a nonce 1, so the third user pushes out
	// the first two users' nonces (their floors keep them refused) and
	// the fourth finds nothing it may push out.
	var replays []captured
	for i := range 4 {
		u := ts.user(db.UID(1 + i))
		r := ts.hawkRequest(u.creds, http.MethodGet, u.path("/info/collections"), "")
		replays = append(replays, capture(r))
		resp := ts.serve(r)
		if i < 3 {
			wantResponse(t, resp, http.StatusOK, "{}")
			continue
		}
		wantResponse(t, resp, http.StatusServiceUnavailable, "0")
		wantHeader(t, resp, "Retry-After", "60")
	}
	for i, c := range replays[:3] {
		if r := ts.serve(c.replay()); r.Status != http.StatusUnauthorized {
			t.Errorf("replay of user %d's request: %d, want 401", i+1, r.Status)
		}
	}
	if !strings.Contains(ts.Logs.String(), "nonce cache full") {
		t.Errorf("503 not explained in the log: %s", ts.Logs)
	}
}

// TestReplayWithinExpiredTokenGrace: GET info/collections still
// authenticates with a token that expired less than two hours ago, so its
// nonce is kept that long, not only until the token's expiry.
func TestReplayWithinExpiredTokenGrace(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(1)
	r := ts.hawkRequest(u.creds, http.MethodGet, u.path("/info/collections"), "")
	c := capture(r)
	wantResponse(t, ts.serve(r), http.StatusOK, "{}")
	ts.Clock.Advance(90 * time.Minute) // the token expired 30 minutes ago
	// Another user's request makes the cache sweep what expired.
	ts.Clock.Advance(time.Minute)
	ts.user(2).mustDo(http.StatusOK, http.MethodGet, "/info/collections", "")
	want401(t, ts.serve(c.replay()))
	if !strings.Contains(ts.Logs.String(), "nonce already used") {
		t.Errorf("the replay was not refused as one: %s", ts.Logs)
	}
}
