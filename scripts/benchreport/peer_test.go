package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets this test binary play the other server of -peer-cmd: with
// BENCHREPORT_FAKE_PEER set it records the BENCH_* variables it was given in
// $BENCH_DIR/env.json and answers 404 to everything on $BENCH_PORT, as a
// Sync 1.5 server without a route at its root does.
func TestMain(m *testing.M) {
	if os.Getenv("BENCHREPORT_FAKE_PEER") != "" {
		env := make(map[string]string)
		for _, k := range []string{"BENCH_PORT", "BENCH_SECRET", "BENCH_URL", "BENCH_DIR"} {
			env[k] = os.Getenv(k)
		}
		b, _ := json.Marshal(env)
		if err := os.WriteFile(filepath.Join(os.Getenv("BENCH_DIR"), "env.json"), b, 0o600); err != nil {
			os.Exit(3)
		}
		err := http.ListenAndServe("127.0.0.1:"+os.Getenv("BENCH_PORT"), http.NotFoundHandler())
		os.Stderr.WriteString(err.Error())
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// TestStartPeer: -peer-cmd runs with the BENCH_* variables, counts as up
// on any answer, is the server's own PID (sh exec'd it) and is stopped by
// cleanup.
func TestStartPeer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BENCHREPORT_FAKE_PEER", "1")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	o := options{peerCmd: "'" + exe + "'", peerStoragePath: "/1.5"}
	s, cleanup, err := startPeer(o, dir, port, "00ff")
	defer func() {
		if cleanup != nil {
			cleanup()
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	if s.url != url || s.secret != "00ff" || s.storagePath != "/1.5" || s.jwtKey != "" {
		t.Errorf("server = %+v", s)
	}
	var env map[string]string
	b, err := os.ReadFile(filepath.Join(dir, "data", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"BENCH_PORT": strconv.Itoa(port), "BENCH_SECRET": "00ff", "BENCH_URL": url, "BENCH_DIR": filepath.Join(dir, "data")}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if got, err := os.Readlink("/proc/" + strconv.Itoa(s.pid) + "/exe"); err != nil || got != exe {
		t.Errorf("the PID runs %q (%v), want the server %q, not a shell", got, err, exe)
	}
	cleanup()
	cleanup = nil
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		c.Close()
		t.Error("the other server still answers after cleanup")
	}
}

// TestStartPeerFails: a command that exits is reported with its output.
func TestStartPeerFails(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	_, cleanup, err := startPeer(options{peerCmd: "sh -c 'echo no such server >&2; exit 1'"}, t.TempDir(), port, "00")
	if cleanup != nil {
		defer cleanup()
	}
	if err == nil || !strings.Contains(err.Error(), "no such server") {
		t.Errorf("startPeer: %v", err)
	}
}
