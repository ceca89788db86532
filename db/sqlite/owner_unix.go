//go:build unix

package sqlite

import (
	"fmt"
	"os"
	"syscall"
)

// giveToOwnerOf hands a file syncserver just created to the owner (user
// and group) of like, when syncserver runs as root. An administrator who
// runs `syncserver users list` as root before the first start must not
// leave a database that the service's user can no longer open: the file
// goes to whoever owns its directory (or, for a copy, the database). SQLite
// itself does the same for the -wal and -shm files it creates as root: it
// gives them the database file's owner.
//
// It changes the open file (fchown), never a name: the directory's owner
// could swap the name for a link to another file between the create and
// the chown.
func giveToOwnerOf(f *os.File, like string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(like)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 && st.Gid == 0 {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("sqlite: giving %s to the owner of %s: %w", f.Name(), like, err)
	}
	return nil
}
