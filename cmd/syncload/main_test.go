package main

import (
	"bufio"
	"encoding/json"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncserver/internal/testdb"
)

const secret = "db8a203aed5fe3e4594d4b75990acb76242efd35"

// startServer builds and starts the real syncserver on a free port and
// returns its public_url.
func startServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "syncserver")
	build := exec.Command("go", "build", "-o", bin, "../syncserver")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	// Port 0 cannot be named in public_url, so let the kernel pick a port
	// for -http and read it back; public_url follows with the same port.
	cfg := filepath.Join(dir, "syncserver.ini")
	write := func(url string) {
		body := "[syncserver]\npublic_url = \"" + url + "\"\nsecret = \"" + secret + "\"\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		url := "http://127.0.0.1:" + port
		write(url + "/")
		cmd := exec.Command(bin, "-config", cfg, "-http", "127.0.0.1:"+port)
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "msg=serving") {
					ready <- true
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			if ok {
				t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				return url
			}
			cmd.Wait() // the port was taken meanwhile: try another
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatal("server did not start")
		}
	}
	t.Fatal("could not start the server")
	return ""
}

func TestLoadS1(t *testing.T) {
	testdb.SkipShort(t, "builds and runs the server")
	url := startServer(t)
	sum, err := load(options{base: url, secret: secret, scenario: "s1", concurrency: 2,
		duration: time.Second, warmup: 100 * time.Millisecond, users: 3, firstUID: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if sum.requests == 0 || sum.errors != 0 {
		t.Fatalf("summary %s", sum)
	}
	// 70 % of polls carry X-If-Modified-Since and must be answered 304.
	if sum.status[200] == 0 || sum.status[304] == 0 || len(sum.status) != 2 {
		t.Errorf("statuses %v, want only 200 and 304", sum.status)
	}
}

func TestLoadPost100(t *testing.T) {
	testdb.SkipShort(t, "builds and runs the server")
	url := startServer(t)
	sum, err := load(options{base: url, secret: secret, scenario: "post100", concurrency: 2,
		duration: time.Second, warmup: 0, users: 2, firstUID: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if sum.requests == 0 || sum.errors != 0 || sum.status[200] != sum.requests {
		t.Fatalf("summary %s", sum)
	}
}

func TestWrongSecretIsReported(t *testing.T) {
	testdb.SkipShort(t, "builds and runs the server")
	url := startServer(t)
	_, err := load(options{base: url, secret: "not-the-secret", scenario: "s1", concurrency: 1,
		duration: time.Second, users: 1, firstUID: 1000000})
	if err == nil || !strings.Contains(err.Error(), "-secret") {
		t.Fatalf("err = %v, want a hint about -secret", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return port
}

func TestLoadS6(t *testing.T) {
	testdb.SkipShort(t, "builds and runs the server")
	url := startServer(t)
	sum, err := load(options{base: url, secret: secret, scenario: "s6", concurrency: 4,
		duration: 2 * time.Second, warmup: 0, users: 12, firstUID: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	if sum.requests == 0 || sum.errors != 0 {
		t.Fatalf("summary %s", sum)
	}
	for st := range sum.status {
		if st != 200 && st != 304 {
			t.Errorf("status %d in the blend: %v", st, sum.status)
		}
	}
}

func TestLoadS5(t *testing.T) {
	testdb.SkipShort(t, "builds and runs the server")
	url := startServer(t)
	// The bare Sync 1.5 layout, which syncserver also serves.
	sum, err := load(options{base: url, secret: secret, scenario: "s5", concurrency: 4,
		duration: 2 * time.Second, warmup: 0, users: 6, firstUID: 1000000, storagePath: "/1.5/"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.requests == 0 || sum.errors != 0 {
		t.Fatalf("summary %s", sum)
	}
	// Sessions read (200), create meta/global (404 then PUT) and upload in
	// batches (202 for a batch's first POST).
	for _, st := range []int{200, 202, 404} {
		if sum.status[st] == 0 {
			t.Errorf("no status %d in the mix: %v", st, sum.status)
		}
	}
	for st := range sum.status {
		if st != 200 && st != 202 && st != 404 {
			t.Errorf("status %d in the mix: %v", st, sum.status)
		}
	}
	// Each kind of request has its own latencies, and they add up to the
	// run's requests; the printed summary carries a line for each.
	n := 0
	for _, op := range sum.ops {
		n += op.requests
		if op.requests == 0 || op.p50 > op.p99 || op.p99 > op.slowest {
			t.Errorf("operation %+v", op)
		}
	}
	names := make(map[string]bool)
	for _, op := range sum.ops {
		names[op.name] = true
	}
	for _, want := range []string{"info/collections", "GET meta/global", "PUT meta/global", "POST commit"} {
		if !names[want] {
			t.Errorf("no operation %q in %v", want, names)
		}
	}
	if n != sum.requests {
		t.Errorf("operations add up to %d requests, the run to %d", n, sum.requests)
	}
	if !strings.Contains(sum.String(), "\nop \"info/collections\": requests=") {
		t.Errorf("summary:\n%s", sum)
	}
}

func TestWeighted(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	var got [3]int
	for range 10000 {
		got[weighted(r, 70, 30, 0)]++
	}
	if got[2] != 0 || got[0] < 6500 || got[0] > 7500 {
		t.Errorf("weighted(70, 30, 0) drew %v in 10,000", got)
	}
}

func TestRecords(t *testing.T) {
	var got []map[string]any
	if err := json.Unmarshal(records(120, "p"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 || got[0]["id"] != "p0000000" || got[119]["id"] != "p0000119" {
		t.Fatalf("%d records, ids %v … %v", len(got), got[0]["id"], got[len(got)-1]["id"])
	}
	for _, r := range got {
		if n := len(r["payload"].(string)); n < 300 || n > 5000 {
			t.Errorf("payload of %d bytes", n)
		}
	}
}
