package sqlite

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestIsFull: SQLITE_FULL, and the I/O errors SQLite reports with ENOSPC or
// EDQUOT (growing the WAL index, syncing), are what sqldb turns into
// db.ErrFull; a busy database or another I/O error is not.
func TestIsFull(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"full", sqlite3.Error{Code: sqlite3.ErrFull}, true},
		{"wrapped", fmt.Errorf("commit: %w", sqlite3.Error{Code: sqlite3.ErrFull}), true},
		{"shm ENOSPC", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrSHMSize, SystemErrno: syscall.ENOSPC}, true},
		{"quota", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite, SystemErrno: syscall.EDQUOT}, true},
		{"text", errors.New("sqlite: PRAGMA journal_mode = WAL: database or disk is full"), true},
		{"EIO", sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite, SystemErrno: syscall.EIO}, false},
		{"busy", sqlite3.Error{Code: sqlite3.ErrBusy}, false},
	} {
		if got := isFull(tc.err); got != tc.want {
			t.Errorf("%s: isFull(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
