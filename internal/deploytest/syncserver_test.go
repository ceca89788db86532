package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/internal/fxatest"
)

// syncserverConfig writes the syncserver.ini of a test: the lines of the
// snippet under test, then the test's own: a sqlite file in dir, the FxA
// stand-in as identity provider, and extra. secret stays empty, as the
// shipped docs advise: the server makes one and keeps it in the database.
func syncserverConfig(tb testing.TB, dir string, snippetINI []string, fxa *fxatest.Server, extra map[string]map[string]string) string {
	tb.Helper()
	settings := map[string]map[string]string{
		"syncserver": {
			"sqluri":            tomlString("sqlite:///" + filepath.Join(dir, "syncserver.db")),
			"identity_provider": tomlString(fxa.IdentityProvider()),
		},
	}
	for sec, kv := range extra {
		if settings[sec] == nil {
			settings[sec] = map[string]string{}
		}
		for k, v := range kv {
			settings[sec][k] = v
		}
	}
	path := filepath.Join(dir, "syncserver.ini")
	writeFile(tb, path, iniFile(snippetINI, settings))
	return path
}

// syncserverProc is syncserver started by a test, restartable with the
// same command line. Its output accumulates across restarts.
type syncserverProc struct {
	tb    testing.TB
	args  []string
	stdin *os.File // a listening socket handed over as systemd does, or nil
	// passed is a listening socket handed over on descriptor 3 with
	// LISTEN_FDS=1, as systemd's syncserver.socket does, or nil.
	passed *os.File
	dial   [2]string
	out    *logBuffer
	proc   *proc
}

// startSyncserver runs the syncserver binary with args (as the snippet's
// start command gives them) and waits until it serves: until dial (network,
// address) connects, or, when the socket is passed on stdin, until it says
// it serves.
func startSyncserver(tb testing.TB, args []string, stdin *os.File, network, addr string) *syncserverProc {
	tb.Helper()
	return startSyncserverWith(tb, args, stdin, nil, network, addr)
}

// startSyncserverWith is startSyncserver that may also pass a listening
// socket on descriptor 3 (LISTEN_FDS=1).
func startSyncserverWith(tb testing.TB, args []string, stdin, passed *os.File, network, addr string) *syncserverProc {
	tb.Helper()
	s := &syncserverProc{tb: tb, args: args, stdin: stdin, passed: passed, dial: [2]string{network, addr}, out: &logBuffer{}}
	s.start()
	tb.Cleanup(func() {
		s.proc.stop(syscall.SIGTERM, 40*time.Second)
		if tb.Failed() {
			tb.Logf("--- syncserver log:\n%s", s.out)
		}
		checkNoRace(tb, "syncserver", s.out.String())
	})
	return s
}

func (s *syncserverProc) start() {
	s.tb.Helper()
	bin := syncserverBinary(s.tb)
	cmd := exec.Command(bin, s.args...)
	// Nothing SYNCSERVER_* from the test's environment; a race-enabled
	// binary exits without the race detector's 1 s pause.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GORACE=atexit_sleep_ms=0"}
	if s.stdin != nil {
		cmd.Stdin = s.stdin
	}
	if s.passed != nil {
		cmd.ExtraFiles = []*os.File{s.passed}
		cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=syncserver.socket")
	}
	s.proc = startProc(s.tb, "syncserver", cmd, s.out)
	if s.dial[1] != "" {
		s.proc.waitDial(s.tb, s.dial[0], s.dial[1], s.out.String)
	}
	s.proc.waitLog(s.tb, "msg=serving")
}

// stop sends SIGTERM and waits for syncserver to exit; it returns the exit
// status.
func (s *syncserverProc) stop() int {
	s.tb.Helper()
	if !s.proc.stop(syscall.SIGTERM, 40*time.Second) {
		s.tb.Errorf("syncserver did not exit within 40 s of SIGTERM")
	}
	return s.proc.exitCode()
}

// restart stops syncserver and starts it again with the same command line,
// as systemctl restart does.
func (s *syncserverProc) restart() int {
	s.tb.Helper()
	code := s.stop()
	s.start()
	return code
}

// checkNoRace fails the test when a race-enabled binary reported a race.
func checkNoRace(tb testing.TB, name, log string) {
	tb.Helper()
	if i := strings.Index(log, "WARNING: DATA RACE"); i >= 0 {
		end := min(len(log), i+4000)
		tb.Errorf("%s reported a data race:\n%s", name, log[i:end])
	}
}
