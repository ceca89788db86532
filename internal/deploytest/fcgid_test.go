package deploytest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fcgidProcesses returns the pids of the syncserver processes mod_fcgid
// started for the configuration file config (it names it in their
// environment as SYNCSERVER_CONFIG).
func fcgidProcesses(tb testing.TB, config string) []int {
	tb.Helper()
	want := []byte("SYNCSERVER_CONFIG=" + config + "\x00")
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		tb.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestFcgidIdleStop lets mod_fcgid stop idle syncserver processes, as it
// does after FcgidIdleTimeout (300 s by default; 2 s here), and checks that
// they exit by themselves on its SIGTERM (mod_fcgid logs when it has to
// kill one) and that the next request starts a new one that finds every
// record.
func TestFcgidIdleStop(t *testing.T) {
	e := deploy(t, findDeployment(t, "apache-fcgid"), setup{
		prefix:      "/ff-sync/",
		apacheExtra: "FcgidIdleScanInterval 1\nFcgidErrorScanInterval 1\nFcgidZombieScanInterval 1\n",
		// FcgidCmdOptions's unset options take mod_fcgid's defaults, not
		// the global directives: shorten the idle timeout there.
		edit: func(lines []string) []string {
			for i, l := range lines {
				if strings.Contains(l, "MaxProcesses") && strings.Contains(l, "IOTimeout") {
					lines[i] = l + " IdleTimeout 2 MinProcesses 0"
					return lines
				}
			}
			t.Fatalf("no FcgidCmdOptions line with MaxProcesses and IOTimeout in the snippet")
			return nil
		},
	})
	c := newSyncClient(e.http, e.fxa, e.base)
	if r, err := c.token(); err != nil || r.Status != http.StatusOK {
		t.Fatalf("token: %v %v", r, err)
	}
	const n = 20
	for i := range n {
		r, err := c.do(http.MethodPut, fmt.Sprintf("/storage/idle/r%d", i), mustJSON(t, bso{Payload: "x"}), nil)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("PUT: %v %v", r, err)
		}
	}
	config := e.values[phConfig]
	before := fcgidProcesses(t, config)
	if len(before) == 0 {
		t.Fatalf("no syncserver process of mod_fcgid found")
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(fcgidProcesses(t, config)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("mod_fcgid did not stop the idle syncserver processes %v", fcgidProcesses(t, config))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, err := c.do(http.MethodGet, "/storage/idle", nil, nil)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET after the idle stop: %v %v", r, err)
	}
	if got := strings.Count(string(r.Body), `"r`); got != n {
		t.Errorf("GET storage/idle after the idle stop = %s, want %d records", r.Body, n)
	}
	after := fcgidProcesses(t, config)
	if len(after) == 0 {
		t.Errorf("no new syncserver process after the idle stop")
	}
	log := e.syncLog()
	for _, bad := range []string{"SIGKILL", "graceful kill fail", "exit(communication error)", "exit(segfault)"} {
		for _, l := range linesWith(log, bad) {
			t.Errorf("Apache's error log: %s", l)
		}
	}
	for _, l := range linesWith(log, "mod_fcgid: process") {
		t.Logf("Apache's error log: %s", l)
	}
	t.Logf("processes before the idle stop %v, after %v", before, after)
	checkNoRace(t, "syncserver (under mod_fcgid)", log)
}
