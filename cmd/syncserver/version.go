package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// commit and modified are set at build time by make with -ldflags
// "-X main.commit=… -X main.modified=true": the go command stamps the
// commit itself only when it builds in a plain git clone (not in a git
// worktree), and the release build turns that stamp off (see the
// Makefile's static target).
var commit, modified string

// versionLine is what `syncserver version` prints: the version, the
// commit it was built from and the Go release that built it, so that a
// bug report or a checksum mismatch can be traced to one source tree and
// one toolchain. The commit comes from the build information the go
// command stamps (vcs.revision, vcs.modified), else from the one make
// passed; a tree with uncommitted changes is marked "modified", since its
// bytes match no commit.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	rev := "unknown"
	if commit != "" {
		rev = commit
		if modified == "true" {
			rev += " (modified)"
		}
	}
	goVersion := runtime.Version()
	if ok {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var stamped string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				stamped = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if stamped != "" {
			rev = stamped
			if dirty {
				rev += " (modified)"
			}
		}
	}
	return fmt.Sprintf("syncserver %s commit %s %s %s/%s", Version(), rev, goVersion, runtime.GOOS, runtime.GOARCH)
}
