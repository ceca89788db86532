package firefox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"syncserver/internal/testdb"
)

const (
	// requireEnv lists (comma-separated) what must not be skipped; CI
	// sets it, and "firefox" turns every skip of this test into a failure.
	requireEnv = "SYNCSERVER_TEST_REQUIRE"
	// artifactsEnv names a directory where the logs of a failed run go.
	artifactsEnv = "SYNCSERVER_TEST_ARTIFACTS"
	// insideEnv is set by the outer test for the copy of the test binary
	// it runs in the namespaces: the work directory, which the outer test
	// made and removes.
	insideEnv = "SYNCSERVER_E2E_FIREFOX_DIR"
)

// TestFirefox is the whole end-to-end run. Outside the namespaces it checks
// what is needed, builds syncserver and runs this test again inside fresh
// network and PID namespaces, relaying its output; inside, it runs the
// scenarios.
func TestFirefox(t *testing.T) {
	if dir := os.Getenv(insideEnv); dir != "" {
		inside(t, dir)
		return
	}
	needOutside(t, "the Firefox end-to-end test takes a minute or two",
		programFirefox, program{"nginx", "nginx"}, programGo)
	dir := t.TempDir()
	runInNamespaces(t, dir, syncserverBinary(t, dir), "TestFirefox")
}

// program is one program a run needs, with the Debian package that has it.
type program struct{ name, pkg string }

var (
	programFirefox = program{"firefox-esr", "firefox-esr"}
	programGo      = program{"go", "golang (the Go toolchain, to build cmd/syncserver)"}
)

// needOutside is what every test here checks before it starts the
// namespaces: it skips in -short mode (saying why: long is how long the
// test takes, or what it starts) unless firefox is required, and it calls
// missing without Linux or without one of progs.
func needOutside(t *testing.T, long string, progs ...program) {
	t.Helper()
	if testing.Short() && !required() {
		t.Skip("skipped in -short mode: " + long)
	}
	if runtime.GOOS != "linux" {
		missing(t, "the Firefox end-to-end tests need Linux network namespaces")
	}
	for _, prog := range progs {
		if _, ok := testdb.LookProgram(prog.name); !ok {
			missing(t, fmt.Sprintf("%s is not installed (apt-get install %s)", prog.name, prog.pkg))
		}
	}
}

// syncserverBinary is the syncserver the run tests: a prebuilt binary
// named in SYNCSERVER_E2E_FIREFOX_BINARY (to test a release build), else
// one built into dir.
func syncserverBinary(t *testing.T, dir string) string {
	t.Helper()
	if binary := os.Getenv(syncserverEnv); binary != "" {
		return binary
	}
	return buildSyncserver(t, dir)
}

// required reports whether SYNCSERVER_TEST_REQUIRE lists firefox.
func required() bool {
	for _, s := range strings.Split(os.Getenv(requireEnv), ",") {
		if strings.EqualFold(strings.TrimSpace(s), "firefox") {
			return true
		}
	}
	return false
}

// missing skips the test for want of something, or fails it when
// SYNCSERVER_TEST_REQUIRE says it must run.
func missing(tb testing.TB, msg string) {
	tb.Helper()
	if required() {
		tb.Fatalf("%s (%s lists \"firefox\", so this is a failure, not a skip)", msg, requireEnv)
	}
	tb.Skip(msg)
}

// buildSyncserver builds cmd/syncserver into dir/bin, with the race
// detector when this test has it, so that races in the real server under
// Firefox's traffic fail the run too.
func buildSyncserver(t *testing.T, dir string) string {
	t.Helper()
	goTool, _ := testdb.LookProgram("go", filepath.Join(runtime.GOROOT(), "bin"))
	out := filepath.Join(dir, "bin", "syncserver")
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "syncserver/cmd/syncserver")
	start := time.Now()
	cmd := exec.Command(goTool, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	t.Logf("built syncserver in %v", time.Since(start).Round(time.Millisecond))
	return out
}

// runInNamespaces runs this test binary again, inside new namespaces, for
// the test named test only, and relays what it prints. The copy is killed if this process dies, and
// everything it started dies with it (it is PID 1 of its PID namespace).
func runInNamespaces(t *testing.T, dir, binary, test string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	timeout := 8 * time.Minute
	if d, ok := t.Deadline(); ok {
		timeout = time.Until(d) - 15*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := []string{"-test.run=^" + test + "$", "-test.v", fmt.Sprintf("-test.timeout=%v", timeout-5*time.Second)}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), insideEnv+"="+dir, syncserverEnv+"="+binary)
	cmd.Dir, _ = os.Getwd()
	cmd.WaitDelay = 10 * time.Second
	unlock := namespaceAttr(cmd)
	defer unlock()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		missing(t, fmt.Sprintf("cannot start a process in new network and PID namespaces (needs root, or unprivileged user namespaces): %v", err))
	}
	pw.Close()
	var skipped string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "--- SKIP: "+test+" ") {
			skipped = line
		}
		t.Log(line)
	}
	pr.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("the run in the namespaces did not finish in %v; killed", timeout)
	case errors.As(err, &ee):
		t.Fatalf("the run in the namespaces failed (%v); its output is above", err)
	case err != nil:
		t.Fatal(err)
	case skipped != "":
		missing(t, "skipped inside the namespaces: see the output above")
	}
}
