package firefox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// enterNamespaces is how a run inside the namespaces begins, before it
// starts anything: loopback up, and the artifacts of a failed run kept.
// Registered first, that cleanup runs last: after every process has
// stopped.
func enterNamespaces(t *testing.T, dir string) {
	t.Helper()
	if err := loopbackUp(); err != nil {
		t.Fatalf("bringing up loopback in the new network namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepArtifacts(t, dir)
		}
	})
}

// inside runs in the namespaces: the stack, two Firefox profiles, and the
// scenarios in order, each building on the last. The first scenario that
// fails ends the run.
func inside(t *testing.T, dir string) {
	start := time.Now()
	enterNamespaces(t, dir)
	s := startStack(t, dir)
	t.Logf("stack up in %v: FxA stand-in %s, syncserver at %s (nginx → FastCGI)", time.Since(start).Round(time.Millisecond), s.fxa.URL, s.publicURL)

	// Both Firefoxes start together; they take a couple of seconds.
	a := s.startBrowser(t, "A")
	b := s.startBrowser(t, "B")
	a.connect(t)
	b.connect(t)
	t.Logf("two Firefox profiles up in %v", time.Since(start).Round(time.Millisecond))

	e := &e2e{s: s, a: a, b: b, db: openServerDB(t, s.dbPath)}
	for _, sc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"A signs in and uploads", e.firstUpload},
		{"B signs in and gets everything", e.secondDevice},
		{"B changes and deletes, A follows", e.changesFlowBack},
		{"history over 1000 records: batches and paging", e.bulkHistory},
		{"tokens expire mid-session", e.tokenExpiry},
		{"key change: new uid, old client state refused", e.keyChange},
	} {
		t0 := time.Now()
		ok := t.Run(sc.name, sc.run)
		t.Logf("%s: %v", sc.name, time.Since(t0).Round(time.Millisecond))
		if !ok {
			t.FailNow()
		}
	}
	t.Logf("whole run in the namespaces: %v", time.Since(start).Round(time.Millisecond))
}

// keepArtifacts keeps the logs of a failed run: copied to
// $SYNCSERVER_TEST_ARTIFACTS/firefox-e2e when set, else their tails
// logged.
func keepArtifacts(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*"))
	// Sync writes a log of each sync into the profile (weave/logs).
	weave, _ := filepath.Glob(filepath.Join(dir, "profile-*", "weave", "logs", "*.txt"))
	files = append(files, weave...)
	if root := os.Getenv(artifactsEnv); root != "" {
		out := filepath.Join(root, "firefox-e2e")
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Logf("artefacts: %v", err)
			return
		}
		for _, f := range files {
			name := filepath.Base(f)
			if rel, err := filepath.Rel(dir, f); err == nil && strings.HasPrefix(rel, "profile-") {
				name = strings.SplitN(rel, string(filepath.Separator), 2)[0] + "-" + name
			}
			if err := copyFile(f, filepath.Join(out, name)); err != nil {
				t.Logf("artefacts: %v", err)
			}
		}
		t.Logf("logs of the failed run are in %s", out)
		return
	}
	for _, f := range files {
		n := 60
		if strings.HasSuffix(f, ".txt") {
			if !strings.Contains(filepath.Base(f), "error") {
				continue // successful syncs: only the failed ones matter here
			}
			n = 150
		}
		rel, _ := filepath.Rel(dir, f)
		t.Logf("---- %s (set %s to keep whole logs)\n%s", rel, artifactsEnv, tail(f, n))
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return out.Close()
}
