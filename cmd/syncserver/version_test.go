package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	oldVersion, oldCommit, oldModified := version, commit, modified
	version, commit, modified = "v9.8.7", "", ""
	t.Cleanup(func() { version, commit, modified = oldVersion, oldCommit, oldModified })
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"clean", &debug.BuildInfo{GoVersion: "go1.26.1", Settings: settings("vcs", "git", "vcs.revision", rev, "vcs.modified", "false")}, true,
			"syncserver v9.8.7 commit " + rev + " go1.26.1 " + platform},
		{"modified", &debug.BuildInfo{GoVersion: "go1.26.1", Settings: settings("vcs.modified", "true", "vcs.revision", rev)}, true,
			"syncserver v9.8.7 commit " + rev + " (modified) go1.26.1 " + platform},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.1"}, true,
			"syncserver v9.8.7 commit unknown go1.26.1 " + platform},
		{"no build info", nil, false,
			"syncserver v9.8.7 commit unknown " + runtime.Version() + " " + platform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			commit, modified = "", ""
			if got := versionLine(tc.bi, tc.ok); got != tc.want {
				t.Errorf("versionLine = %q\nwant          %q", got, tc.want)
			}
		})
	}

	// Built by make without the go command's stamp: the commit make
	// passed; with the stamp, the stamp (they name the same commit).
	const passed = "fedcba9876543210fedcba9876543210fedcba98"
	for _, tc := range []struct {
		name     string
		modified string
		bi       *debug.BuildInfo
		want     string
	}{
		{"passed", "", &debug.BuildInfo{GoVersion: "go1.26.1"}, "commit " + passed + " go1.26.1"},
		{"passed modified", "true", &debug.BuildInfo{GoVersion: "go1.26.1"}, "commit " + passed + " (modified) go1.26.1"},
		{"stamped wins", "", &debug.BuildInfo{GoVersion: "go1.26.1", Settings: settings("vcs.revision", rev)}, "commit " + rev + " go1.26.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			commit, modified = passed, tc.modified
			if got := versionLine(tc.bi, true); got != "syncserver v9.8.7 "+tc.want+" "+platform {
				t.Errorf("versionLine = %q, want %q", got, tc.want)
			}
		})
	}
}
