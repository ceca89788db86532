package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"syncserver/db"
)

// bigLines is n newline-delimited records of about 5 KB each, so that a
// few of them are more than the 8 KB a front-end may read ahead.
func bigLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id":"n%d","payload":"%s"}`, i, strings.Repeat("x", 5000)) + "\n"
	}
	return lines
}

// truncated is a reader that gives body and then ends with err, as a
// front-end's body does when the client goes away early.
func truncated(body string, err error) io.Reader {
	return io.MultiReader(strings.NewReader(body), errReader{err})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestBodyNotAsDeclaredIsRefused: a body that ends before its
// Content-Length, goes on past it, or (chunked) breaks off is a 400 and
// nothing of it is written, whatever part of it parses.
func TestBodyNotAsDeclaredIsRefused(t *testing.T) {
	lines := bigLines(6)
	all := strings.Join(lines, "")
	four := strings.Join(lines[:4], "")
	arr := `[{"id":"a","payload":"` + strings.Repeat("y", 20000) + `"}]`
	obj := `{"payload":"` + strings.Repeat("z", 20000) + `"}`
	cases := []struct {
		name, method, rel, ct string
		declared              int64
		body                  io.Reader
	}{
		{"batch commit, 4 of 6 lines", "POST", "/storage/c?batch=true&commit=true", "application/newlines",
			int64(len(all)), strings.NewReader(four)},
		{"newlines, 4 of 6 lines", "POST", "/storage/c", "application/newlines",
			int64(len(all)), strings.NewReader(four)},
		{"JSON array 100 bytes short", "POST", "/storage/c", "application/json",
			int64(len(arr)) + 100, strings.NewReader(arr)},
		{"PUT 100 bytes short", "PUT", "/storage/c/x", "application/json",
			int64(len(obj)) + 100, strings.NewReader(obj)},
		{"PUT longer than declared", "PUT", "/storage/c/x", "application/json",
			int64(len(obj)) - 2, strings.NewReader(obj)},
		{"PUT short and read error", "PUT", "/storage/c/x", "application/json",
			int64(len(obj)) + 100, truncated(obj, errors.New("connection reset"))},
		{"chunked, last chunk missing", "POST", "/storage/c?batch=true&commit=true", "application/newlines",
			-1, truncated(four, io.ErrUnexpectedEOF)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			u := ts.user(7)
			r := ts.hawkRequest(u.creds, tc.method, u.path(tc.rel), "", "Content-Type", tc.ct)
			r.ContentLength, r.Body = tc.declared, tc.body
			wantResponse(t, ts.serve(r), http.StatusBadRequest, "1")
			wantJSON(t, u.mustDo(http.StatusOK, "GET", "/info/collections", ""), `{}`)
			if n := ts.budget.inUse(); n != 0 {
				t.Errorf("%d bytes of the body budget still reserved", n)
			}
		})
	}
	t.Run("whole body is committed", func(t *testing.T) {
		ts := newTestServer(t)
		u := ts.user(7)
		res := u.post("c?batch=true&commit=true", all, "Content-Type", "application/newlines")
		if len(res.Success) != 6 {
			t.Fatalf("success %v, want 6 ids", res.Success)
		}
	})
}

// heldBody is a request body that sends n bytes and then waits for
// release, as an upload held open one byte short.
type heldBody struct {
	pr *io.PipeReader
	pw *io.PipeWriter
}

func newHeldBody(n int) *heldBody {
	pr, pw := io.Pipe()
	go pw.Write(make([]byte, n)) //nolint:errcheck // ends with the pipe
	return &heldBody{pr: pr, pw: pw}
}

func (h *heldBody) Read(p []byte) (int, error) { return h.pr.Read(p) }

// waitInUse waits until the budget holds want bytes.
func waitInUse(t *testing.T, ts *testServer, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ts.budget.inUse() != want {
		if time.Now().After(deadline) {
			t.Fatalf("budget holds %d bytes, want %d", ts.budget.inUse(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBodyBudget: uploads held open fill the budget; the next one waits
// BodyBufferWait and gets 503 with Retry-After, without its body being
// read, while a GET still answers at once. One user cannot take more than
// half the budget, so another user's upload still gets in.
func TestBodyBudget(t *testing.T) {
	const size = 100 << 10
	const wait = 300 * time.Millisecond
	ts := newTestServer(t, func(o *Options) {
		o.BodyBufferBytes = 4 * size
		o.BodyBufferWait = wait
		o.Limits.MaxRequestBytes = size
	})
	// A request held open: declares size bytes, sends size-1.
	var wg sync.WaitGroup
	var held []*heldBody
	hold := func(uid db.UID) {
		u := ts.user(uid)
		b := newHeldBody(size - 1)
		held = append(held, b)
		r := ts.hawkRequest(u.creds, "PUT", u.path("/storage/c/x"), "", "Content-Type", "application/json")
		r.ContentLength, r.Body = size, b
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts.serve(r)
		}()
	}
	defer func() {
		for _, b := range held {
			b.pw.CloseWithError(io.ErrUnexpectedEOF)
		}
		wg.Wait()
	}()
	upload := func(uid db.UID) (*Response, time.Duration, *heldBody) {
		u := ts.user(uid)
		b := newHeldBody(10)
		r := ts.hawkRequest(u.creds, "PUT", u.path("/storage/c/y"), "", "Content-Type", "application/json")
		r.ContentLength, r.Body = size, b
		start := time.Now()
		resp := ts.serve(r)
		return resp, time.Since(start), b
	}

	hold(1)
	hold(1)
	waitInUse(t, ts, 2*size)
	// User 1 holds half the budget: a third upload of theirs waits and is refused.
	resp, took, b := upload(1)
	b.pw.Close()
	wantResponse(t, resp, http.StatusServiceUnavailable, "0")
	wantHeader(t, resp, "Retry-After", "10")
	if took < wait {
		t.Errorf("refused after %v, before the wait of %v", took, wait)
	}
	if logs := ts.Logs.String(); !strings.Contains(logs, `level=WARN msg="upload refused for now"`) ||
		!strings.Contains(logs, "max_body_buffer_bytes=409600") {
		t.Errorf("refusal not logged as a warning naming the setting:\n%s", logs)
	}
	hold(2)
	hold(3)
	waitInUse(t, ts, 4*size)
	// Full: user 4's upload is refused without a byte of its body read.
	resp, took, b = upload(4)
	wantResponse(t, resp, http.StatusServiceUnavailable, "0")
	wantHeader(t, resp, "Retry-After", "10")
	if took < wait || took > wait+2*time.Second {
		t.Errorf("refused after %v, want the wait of %v", took, wait)
	}
	if n, _ := b.pr.Read(make([]byte, 100)); n == 0 {
		t.Error("the refused body was read")
	}
	b.pw.Close()
	// A request without a body does not wait.
	start := time.Now()
	ts.user(5).mustDo(http.StatusOK, "GET", "/info/collections", "")
	if d := time.Since(start); d > time.Second {
		t.Errorf("GET took %v", d)
	}
	// A waiting upload gets in as soon as a held one ends.
	done := make(chan *Response)
	go func() {
		u := ts.user(6)
		body := `{"payload":"p"}`
		done <- ts.serve(ts.hawkRequest(u.creds, "PUT", u.path("/storage/c/z"), body))
	}()
	time.Sleep(wait / 3)
	held[0].pw.CloseWithError(io.ErrUnexpectedEOF)
	select {
	case r := <-done:
		wantResponse(t, r, http.StatusOK, "-")
	case <-time.After(5 * time.Second):
		t.Fatal("waiting upload not let in")
	}
	for _, b := range held {
		b.pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()
	waitInUse(t, ts, 0)
}

// TestBudgetQueue: the queue is served in order, a waiter held back by its
// own user's share does not hold up other users, and a waiter that gives up
// leaves nothing reserved.
func TestBudgetQueue(t *testing.T) {
	b := newBodyBudget(100, 10)
	ctx := context.Background()
	if n, ok := b.acquire(ctx, 1, 50, 0); !ok || n != 50 {
		t.Fatalf("acquire = %d %v", n, ok)
	}
	// User 1 is at their half: their next request waits, user 2's does not.
	got := make(chan int64, 1)
	go func() {
		n, _ := b.acquire(ctx, 1, 10, time.Minute)
		got <- n
	}()
	for waiting(b) == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, ok := b.acquire(ctx, 2, 50, 0); !ok {
		t.Fatal("user 2 held up by user 1's share")
	}
	// Full now: a big request of user 3 queues; a small one of user 4 may
	// not overtake it.
	big := make(chan bool, 1)
	go func() {
		_, ok := b.acquire(ctx, 3, 40, time.Minute)
		big <- ok
	}()
	for waiting(b) < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, ok := b.acquire(ctx, 4, 1, 10*time.Millisecond); ok {
		t.Fatal("small request overtook the queue")
	}
	b.release(1, 50) // user 1's waiter (10) and user 3's (40) both fit now
	if n := <-got; n != 10 {
		t.Fatalf("user 1's waiter got %d", n)
	}
	if !<-big {
		t.Fatal("user 3's waiter not served")
	}
	if u := b.inUse(); u != 100 {
		t.Fatalf("in use %d, want 100", u)
	}
	b.release(1, 10)
	b.release(2, 50)
	b.release(3, 40)
	if u := b.inUse(); u != 0 || len(b.users) != 0 || waiting(b) != 0 {
		t.Fatalf("left: %d bytes, users %v, %d waiters", u, b.users, waiting(b))
	}
}

// waiting is how many requests wait for room in b.
func waiting(b *bodyBudget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len()
}
