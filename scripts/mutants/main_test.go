package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Every mutation must still apply to today's code: make mutants is not
// run in CI, so a replacement that no longer matches would otherwise be
// found only by the next person who runs it.
func TestEveryMutationApplies(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, m := range mutations {
		b, err := os.ReadFile(filepath.Join(root, m.file))
		if err != nil {
			t.Errorf("%s: %v", m.name, err)
			continue
		}
		if n := bytes.Count(b, []byte(m.from)); n != 1 {
			t.Errorf("%s: %q occurs %d times in %s, want once", m.name, m.from, n, m.file)
		}
	}
}
