package token

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsStandardLibraryOnly keeps token a leaf package: every other
// package may depend on it, so it must depend on nothing but the standard
// library.
func TestImportsStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") || first == "syncserver" {
			t.Errorf("token imports %s; only the standard library is allowed", imp)
		}
	}
}
