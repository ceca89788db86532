package sqldb

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retries of a transaction the database rolled back by itself
// (Dialect.Retry): at most retryAttempts runs in all, the n-th retry
// after a pause drawn at random between half and all of retryPause << n,
// so that the transactions that collided do not collide again in step.
// Galera's certification conflicts clear within a round trip; a member
// that went away is replaced by the next one at once. Three retries stay
// far inside a client's patience, and past them the request gets 503 with
// Retry-After (db.ErrConflict or db.ErrUnavailable), never a wrong answer.
const (
	retryAttempts = 4
	retryPause    = 5 * time.Millisecond
)

// Log attribute keys of retries.
const (
	logKeyAttempt = "attempt"
	logKeyOp      = "op"
)

// retrying runs once, and again while it fails with an error the dialect
// calls retryable, up to retryAttempts runs. once reports, besides its
// error, whether the commit itself failed: a commit that lost its
// connection may have been written, so only an error the server answered
// (a certification conflict is one) lets a failed commit run again.
func (s *Store) retrying(ctx context.Context, op string, once func() (err error, atCommit bool)) error {
	for attempt := 1; ; attempt++ {
		err, atCommit := once()
		if err == nil || attempt >= retryAttempts || s.d.Retry == nil || !s.d.Retry(err) ||
			(atCommit && s.d.isConnection(err)) {
			return err
		}
		s.retries.Add(1)
		s.log.Info("database transaction rolled back by the server; running it again",
			logKeyOp, op, logKeyAttempt, attempt+1, logKeyError, err.Error())
		pause := retryPause << attempt
		pause = pause/2 + rand.N(pause/2+1)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Retries is how many times a transaction was run again after the
// database rolled it back (Dialect.Retry), since the Store opened.
func (s *Store) Retries() int64 { return s.retries.Load() }
