package testdb

import (
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot is the directory of go.mod above the test's working
// directory: tests that start the built program or read the shipped files
// (snippets, unit files, packaging) find them from there.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("no go.mod above %s", dir)
		}
	}
}
