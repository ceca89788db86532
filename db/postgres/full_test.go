package postgres

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestIsFull: disk_full is what sqldb turns into db.ErrFull (503 with
// Retry-After); other errors are not.
func TestIsFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "53100", Message: `could not extend file "base/16384/16401": No space left on device`}, true},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100"}), true},
		{&pgconn.PgError{Code: "53200", Message: "out of memory"}, false},
		{&pgconn.PgError{Code: "40001"}, false},
	} {
		if got := isFull(tc.err); got != tc.want {
			t.Errorf("isFull(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
