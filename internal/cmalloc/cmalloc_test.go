package cmalloc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// helperEnv makes the test binary contend instead of running the tests:
// the cap is set when a process starts, so each case needs a process of
// its own, started with the environment of the case.
const helperEnv = "CMALLOC_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		contend()
		fmt.Println(Cap(), Count())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// contend makes many threads allocate from C at once, which is what makes
// glibc open arenas.
func contend() {
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			churn(200_000)
		})
	}
	wg.Wait()
}

// afterContention runs contend in a new process with env added to the
// environment, and returns the cap the process set (0: none) and how many
// arenas it ended with.
func afterContention(t *testing.T, env ...string) (int, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(withoutCaps(os.Environ()), append(env, helperEnv+"=1")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", env, err, out)
	}
	var capSet, n int
	if _, err := fmt.Sscan(string(out), &capSet, &n); err != nil {
		t.Fatalf("%v: output %q: %v", env, out, err)
	}
	return capSet, n
}

// withoutCaps drops the variables that set a cap from env: an empty one
// would count as set.
func withoutCaps(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MALLOC_ARENA_MAX=") && !strings.HasPrefix(kv, "GLIBC_TUNABLES=") {
			out = append(out, kv)
		}
	}
	return out
}

func TestCap(t *testing.T) {
	if Count() < 0 {
		t.Skip("the C library is not glibc (or cgo is off): it has no arenas to cap")
	}
	const want = 2
	capSet, got := afterContention(t)
	if capSet != want || got > want {
		t.Errorf("by default: cap %d, %d arenas after 16 threads contended; want a cap of %d, at most %d arenas", capSet, got, want, want)
	}
	// The operator's own cap wins, and shows that contention makes arenas.
	for _, env := range []string{"MALLOC_ARENA_MAX=64", "GLIBC_TUNABLES=glibc.malloc.arena_max=64"} {
		capSet, n := afterContention(t, env)
		if capSet != 0 {
			t.Errorf("with %s the program set its own cap of %d", env, capSet)
		}
		if n <= want {
			t.Errorf("with %s, 16 contending threads left %d arenas: the test cannot show the cap", env, n)
		}
	}
}
