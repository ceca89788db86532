package adaptertest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/internal/fcgiclient"
)

// syncLines is the batch of the bug report: six newline-delimited records
// of 5,028 bytes, 30,168 in all, so that four of them (20,112 bytes) are
// well past the 8 KB a front-end reads ahead before the core runs.
func syncLines() []string {
	lines := make([]string, 6)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id":"n%d","payload":"%s"}`+"\n", i, strings.Repeat("p", 5003))
	}
	return lines
}

// cutBody is an upload whose client sends only the first sent bytes of
// its body.
type cutBody struct {
	name, method, rel, contentType string
	body                           string
	sent                           int
}

func cutBodies() []cutBody {
	lines := syncLines()
	all := strings.Join(lines, "")
	arr := `[{"id":"a","payload":"` + strings.Repeat("y", 20000) + `"},{"id":"b","payload":"z"}]`
	obj := `{"payload":"` + strings.Repeat("z", 20000) + `"}`
	return []cutBody{
		{"batch commit, 4 of 6 lines", "POST", "/storage/c?batch=true&commit=true", "application/newlines",
			all, len(strings.Join(lines[:4], ""))},
		{"JSON POST 100 bytes short", "POST", "/storage/c", "application/json", arr, len(arr) - 100},
		{"PUT 100 bytes short", "PUT", "/storage/c/x", "application/json", obj, len(obj) - 100},
	}
}

// clientGone is how the client of a cut body goes away: it closes the
// sending side only and waits for the answer, or closes the connection.
type clientGone struct {
	name      string
	halfClose bool
}

var clientsGone = []clientGone{{"write side closed", true}, {"connection closed", false}}

// sendCut writes raw[:n] on a new connection and goes away as g says; with
// a half close it returns the response.
func sendCut(t *testing.T, addr string, raw []byte, n int, g clientGone) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw[:n]); err != nil {
		t.Fatal(err)
	}
	if !g.halfClose {
		return nil
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp
}

// TestCutBodyWritesNothing: an upload whose body ends before its
// Content-Length is refused with 400 and nothing of it is stored or
// committed, through either front-end, however the client or the web
// server ends it. Before the fix the 8 KB a front-end reads ahead were the
// only guard: a batch commit cut after 4 of its 6 lines was answered 200
// {"success":["n0".."n3"]} and committed.
func TestCutBodyWritesNothing(t *testing.T) {
	e := newCoreEnv(t, nil)
	uid := int64(100)
	for _, b := range cutBodies() {
		declared := [][2]string{{"Content-Type", b.contentType}, {"Content-Length", strconv.Itoa(len(b.body))}}
		check := func(t *testing.T, uid int64, status int) {
			t.Helper()
			if status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", status)
			}
			if got := e.collections(t, uid); got != "{}" {
				t.Errorf("stored: info/collections = %s", got)
			}
		}
		for _, g := range clientsGone {
			t.Run("httpd/"+b.name+"/"+g.name, func(t *testing.T) {
				uid++
				e.drainDone()
				c := e.request(t, uid, b.method, storagePath(uid, b.rel), []byte(b.body), declared...)
				raw := c.raw()
				resp := sendCut(t, e.http.addr, raw, len(raw)-(len(b.body)-b.sent), g)
				status := e.waitDone(t)
				if resp != nil && resp.StatusCode != status {
					t.Errorf("client got %d, core answered %d", resp.StatusCode, status)
				}
				if resp != nil && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("400 without nosniff: %v", resp.Header)
				}
				check(t, uid, status)
			})
		}
		// The web server ends the STDIN stream early (its client went away
		// and it passes on what it has), or closes the connection mid-body.
		t.Run("fcgi/"+b.name+"/stdin ended early", func(t *testing.T) {
			uid++
			c := e.request(t, uid, b.method, storagePath(uid, b.rel), []byte(b.body[:b.sent]), declared...)
			resp := doFCGI(t, e.fcgi.addr, nginxParams(c), c.body)
			if string(resp.Body) != "1" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("answer %d %q %v, want 400 \"1\" with nosniff", resp.Status, resp.Body, resp.Header)
			}
			check(t, uid, resp.Status)
		})
		t.Run("fcgi/"+b.name+"/connection closed", func(t *testing.T) {
			uid++
			e.drainDone()
			c := e.request(t, uid, b.method, storagePath(uid, b.rel), []byte(b.body[:b.sent]), declared...)
			raw := fcgiclient.Encode(nginxParams(c), c.body, 0)
			// Everything but the empty record that ends STDIN.
			sendCut(t, e.fcgi.addr, raw, len(raw)-8, clientGone{})
			check(t, uid, e.waitDone(t))
		})
	}
	// The same uploads sent whole are stored: the refusals above are about
	// the cut, not the requests.
	for _, b := range cutBodies() {
		uid++
		hdr := [][2]string{{"Content-Type", b.contentType}, {"Content-Length", strconv.Itoa(len(b.body))}}
		c := e.request(t, uid, b.method, storagePath(uid, b.rel), []byte(b.body), hdr...)
		if r := doHTTP(t, e.http.addr, c.raw()); r.Status != http.StatusOK {
			t.Errorf("%s whole: %d %q", b.name, r.Status, r.Body)
		}
		if got := e.collections(t, uid); !strings.Contains(got, `"c"`) {
			t.Errorf("%s whole: not stored: %s", b.name, got)
		}
	}
}

// TestCutBodyOfUnknownLength: a body without a declared length (chunked to
// the standalone server; streamed without CONTENT_LENGTH by the web
// server) is stored only when it ends properly: with its last chunk, or
// with the end of FCGI_STDIN. Cut off, it stores nothing.
func TestCutBodyOfUnknownLength(t *testing.T) {
	e := newCoreEnv(t, nil)
	lines := syncLines()
	all := strings.Join(lines, "")
	four := strings.Join(lines[:4], "")
	target := func(uid int64) string { return storagePath(uid, "/storage/c?batch=true&commit=true") }
	newlines := [2]string{"Content-Type", "application/newlines"}
	chunked := func(body string, last bool) []byte {
		var b strings.Builder
		for _, l := range strings.SplitAfter(body, "\n") {
			if l != "" {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(l), l)
			}
		}
		if last {
			b.WriteString("0\r\n\r\n")
		}
		return []byte(b.String())
	}
	t.Run("httpd chunked, whole", func(t *testing.T) {
		c := e.request(t, 401, "POST", target(401), chunked(all, true), newlines, [2]string{"Transfer-Encoding", "chunked"})
		if r := doHTTP(t, e.http.addr, c.raw()); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"n5"`) {
			t.Errorf("got %d %q", r.Status, r.Body)
		}
	})
	for i, g := range clientsGone {
		uid := int64(402 + i)
		t.Run("httpd chunked, last chunk missing, "+g.name, func(t *testing.T) {
			e.drainDone()
			c := e.request(t, uid, "POST", target(uid), chunked(four, false), newlines, [2]string{"Transfer-Encoding", "chunked"})
			raw := c.raw()
			resp := sendCut(t, e.http.addr, raw, len(raw), g)
			status := e.waitDone(t)
			if status != http.StatusBadRequest || resp != nil && resp.StatusCode != status {
				t.Errorf("core answered %d (client got %v), want 400", status, resp)
			}
			if got := e.collections(t, uid); got != "{}" {
				t.Errorf("stored: %s", got)
			}
		})
	}
	t.Run("fcgi without CONTENT_LENGTH, whole", func(t *testing.T) {
		c := e.request(t, 404, "POST", target(404), []byte(all), newlines)
		if r := doFCGI(t, e.fcgi.addr, nginxParams(c), c.body); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"n5"`) {
			t.Errorf("got %d %q", r.Status, r.Body)
		}
	})
	t.Run("fcgi without CONTENT_LENGTH, connection closed", func(t *testing.T) {
		e.drainDone()
		c := e.request(t, 405, "POST", target(405), []byte(four), newlines)
		raw := fcgiclient.Encode(nginxParams(c), c.body, 0)
		sendCut(t, e.fcgi.addr, raw, len(raw)-8, clientGone{})
		if s := e.waitDone(t); s != http.StatusBadRequest {
			t.Errorf("core answered %d, want 400", s)
		}
		if got := e.collections(t, 405); got != "{}" {
			t.Errorf("stored: %s", got)
		}
	})
}
