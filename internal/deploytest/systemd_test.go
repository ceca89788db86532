package deploytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"syncserver/internal/testdb"
)

var systemdUnits = []string{"syncserver.service", "syncserver.socket", "syncserver-fcgi.socket", "syncserver-fcgi.service"}

// TestSystemdUnits checks contrib/systemd with systemd-analyze, offline:
// the units parse without a warning, and the services' sandboxing stays
// tight (exposure at most 2.0 on systemd's 0–10 scale). systemd itself is
// not needed; the test skips without systemd-analyze unless
// SYNCSERVER_TEST_REQUIRE lists "systemd".
func TestSystemdUnits(t *testing.T) {
	analyze, ok := testdb.LookProgram("systemd-analyze")
	if !ok {
		missing(t, "systemd", "systemd-analyze not installed: apt-get install systemd")
	}
	// A root directory with the units, a program where ExecStart points,
	// and the system's own units (targets the shipped ones refer to).
	root := t.TempDir()
	for _, d := range []string{"etc/systemd/system", "usr/local/bin", "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		missing(t, "systemd", fmt.Sprintf("cannot copy the system's units from /usr/lib/systemd/system: %v: %s", err, strings.TrimSpace(string(out))))
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/syncserver"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testdb.ModuleRoot(t), "contrib", "systemd")
	for _, u := range systemdUnits {
		b, err := os.ReadFile(filepath.Join(dir, u))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "etc/systemd/system", u), string(b))
	}

	out, err := exec.Command(analyze, append([]string{"verify", "--root=" + root}, systemdUnits...)...).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "syncserver") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}

	for _, u := range []string{"syncserver.service", "syncserver-fcgi.service"} {
		out, err := exec.Command(analyze, "security", "--offline=yes", "--root="+root, "--threshold=20", "--no-pager", u).CombinedOutput()
		text := string(out)
		if i := strings.Index(text, "Overall exposure level"); i >= 0 {
			t.Logf("%s: %s", u, strings.TrimSpace(strings.SplitN(text[i:], "\n", 2)[0]))
		}
		if err != nil {
			t.Errorf("systemd-analyze security %s: %v (exposure above 2.0?)\n%s", u, err, text)
		}
	}
}
