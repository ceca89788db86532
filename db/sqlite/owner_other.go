//go:build !unix

package sqlite

import "os"

// giveToOwnerOf does nothing where files have no unix owner.
func giveToOwnerOf(*os.File, string) error { return nil }
