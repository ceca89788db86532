package deploytest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/fcgiclient"
	"syncserver/internal/fxatest"
	"syncserver/token"
)

// memoryEnv turns on TestHeldUploadsMemory; its value, when a number, is
// how many uploads to hold (default 1,000).
const memoryEnv = "SYNCSERVER_TEST_MEMORY"

// memoryBound is the peak resident size the server must stay under while
// the uploads are held and after they end.
const memoryBound = 256 << 20

// TestHeldUploadsMemory is a measurement, opt-in because it opens two
// thousand sockets and pushes gigabytes through loopback: with one user's
// valid token, N connections each declare a 2 MiB PUT and send all of it
// but the last byte, through the standalone server and then through
// FastCGI. The real binary's peak resident size (VmHWM of
// /proc/PID/status) must stay under 256 MiB while they are held and after
// they go, and another user's GET must answer within a second meanwhile.
// Run it with
//
//	SYNCSERVER_TEST_MEMORY=1 go test -run HeldUploadsMemory -v ./internal/deploytest/
func TestHeldUploadsMemory(t *testing.T) {
	v := os.Getenv(memoryEnv)
	if v == "" {
		t.Skipf("set %s=1 to hold 1,000 uploads against the real binary and read its peak memory", memoryEnv)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 1 {
		n = 1000
	}
	for _, fe := range []string{"http", "fcgi"} {
		t.Run(fe, func(t *testing.T) { heldUploads(t, fe, n) })
	}
}

func heldUploads(t *testing.T, frontEnd string, n int) {
	dir := t.TempDir()
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	const secret = "0123456789abcdef0123456789abcdef" // one secret: a space would make two
	publicURL := "http://" + addr
	cfg := syncserverConfig(t, dir, nil, fxatest.New(t), map[string]map[string]string{
		"syncserver": {"secret": tomlString(secret), "public_url": tomlString(publicURL + "/")},
	})
	s := startSyncserver(t, []string{"-config", cfg, "-" + frontEnd, addr}, nil, "tcp", addr)
	pid := s.proc.cmd.Process.Pid
	secrets, err := token.NewSecrets([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	nonce := 0
	sign := func(uid int64, method, path string) string {
		id, key, err := secrets.Mint(token.Payload{UID: uid, Node: publicURL, Expires: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		nonce++
		a := hawk.Auth{ID: id, TS: time.Now().Unix(), Nonce: "n" + strconv.Itoa(nonce)}
		a.MAC = hawk.Sign([]byte(key), a, hawk.Request{Method: method, Host: "127.0.0.1", Port: port, Resource: path})
		return a.Header()
	}

	const size = 2 << 20
	body := make([]byte, size)
	copy(body, `{"payload":"`)
	for i := len(`{"payload":"`); i < size-2; i++ {
		body[i] = 'x'
	}
	copy(body[size-2:], `"}`)
	// Every FastCGI upload sends the same STDIN records (request id 1),
	// without the empty one that would end the stream.
	stdin := fcgiclient.Encode(nil, body[:size-1], 0)
	stdin = stdin[len(fcgiclient.Encode(nil, nil, 0))-8 : len(stdin)-8]

	// The uploads of user 1, each held one byte short.
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, n)
	var connsMu sync.Mutex
	defer func() {
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	}()
	for i := range n {
		path := "/storage/1.5/1/storage/c/u" + strconv.Itoa(i)
		auth := sign(1, "PUT", path)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		connsMu.Lock()
		conns = append(conns, c)
		connsMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if frontEnd == "http" {
				fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
					path, addr, auth, size)
				c.Write(body[:size-1]) // returns when refused and closed, or at the end
				return
			}
			params := map[string]string{
				"REQUEST_METHOD": "PUT", "REQUEST_URI": path, "SCRIPT_NAME": path, "SERVER_PROTOCOL": "HTTP/1.1",
				"HTTP_HOST": addr, "HTTP_AUTHORIZATION": auth, "CONTENT_TYPE": "application/json",
				"CONTENT_LENGTH": strconv.Itoa(size), "REMOTE_ADDR": "127.0.0.1", "SERVER_PORT": strconv.Itoa(port),
			}
			head := fcgiclient.Encode(params, nil, 0)
			c.Write(head[:len(head)-8])
			c.Write(stdin)
		}()
	}
	t.Logf("%s: %d uploads of %d bytes held one byte short", frontEnd, n, size)

	// While they are held: another user's GET, and the peak.
	deadline := time.Now().Add(12 * time.Second)
	var slowest time.Duration
	for time.Now().Before(deadline) {
		start := time.Now()
		status, err := getCollections(frontEnd, addr, port, sign(2, "GET", "/storage/1.5/2/info/collections"))
		took := time.Since(start)
		slowest = max(slowest, took)
		if err != nil || status != http.StatusOK {
			t.Errorf("user 2's GET during the uploads: %d %v", status, err)
		} else if took > time.Second {
			t.Errorf("user 2's GET took %v", took)
		}
		time.Sleep(500 * time.Millisecond)
	}
	held := readStatus(t, pid)
	t.Logf("%s: while held: VmRSS %d MiB, VmHWM %d MiB; slowest GET of another user %v",
		frontEnd, held["VmRSS"]>>20, held["VmHWM"]>>20, slowest.Round(time.Millisecond))

	connsMu.Lock()
	for _, c := range conns {
		c.Close()
	}
	connsMu.Unlock()
	wg.Wait()
	time.Sleep(3 * time.Second)
	after := readStatus(t, pid)
	t.Logf("%s: after the clients closed: VmRSS %d MiB, peak VmHWM %d MiB", frontEnd, after["VmRSS"]>>20, after["VmHWM"]>>20)
	if after["VmHWM"] > memoryBound {
		t.Errorf("peak resident size %d MiB, want at most %d MiB", after["VmHWM"]>>20, memoryBound>>20)
	}
}

// getCollections is user 2's GET info/collections through the front-end.
func getCollections(frontEnd, addr string, port int, auth string) (int, error) {
	const path = "/storage/1.5/2/info/collections"
	if frontEnd == "fcgi" {
		status, _, _, err := fcgiclient.Do("tcp", addr, map[string]string{
			"REQUEST_METHOD": "GET", "REQUEST_URI": path, "SCRIPT_NAME": path, "SERVER_PROTOCOL": "HTTP/1.1",
			"HTTP_HOST": addr, "HTTP_AUTHORIZATION": auth, "REMOTE_ADDR": "127.0.0.1", "SERVER_PORT": strconv.Itoa(port),
		}, nil)
		return status, err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", path, addr, auth)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// readStatus reads the kB figures of /proc/PID/status, in bytes.
func readStatus(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatalf("reading the server's memory: %v", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if f := strings.Fields(v); ok && len(f) == 2 && f[1] == "kB" {
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			out[k] = kb << 10
		}
	}
	return out
}
