package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionLine is what `syncserver version` prints: the version, the
// commit it was built from and the Go release that built it, so that a
// bug report or a checksum mismatch can be traced to one source tree and
// one toolchain. The commit comes from the build information the go
// command stamps into binaries built in a git checkout (vcs.revision,
// vcs.modified); a tree with uncommitted changes is marked "modified",
// since its bytes match no commit.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	commit := "unknown"
	goVersion := runtime.Version()
	if ok {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var rev string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			commit = rev
			if modified {
				commit += " (modified)"
			}
		}
	}
	return fmt.Sprintf("syncserver %s commit %s %s %s/%s", Version(), commit, goVersion, runtime.GOOS, runtime.GOARCH)
}
