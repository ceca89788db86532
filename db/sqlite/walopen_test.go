package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"syncserver/db/sqlite"
)

// TestConcurrentOpensOfANewFile: servers that open one new database file at
// the same moment (mod_fcgid starts several at once) all start. Each
// switches the file to WAL; two switches that meet are a deadlock SQLite
// answers with "database is locked" at once, without waiting
// busy_timeout, so the switch is tried again.
func TestConcurrentOpensOfANewFile(t *testing.T) {
	ctx := context.Background()
	for round := range 10 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("new%d.db", round))
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for range 6 {
			wg.Go(func() {
				s, err := sqlite.Open(ctx, path, sqlite.Options{})
				if err != nil {
					errs <- err
					return
				}
				s.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
	}
}
