package handlers

// What the fuzz targets that go through the whole core share: a client
// of a Server over a real store, and a log that keeps only its last error.

import (
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"syncserver/token"
)

// fuzzClient signs requests of one user against a Server over a real store.
// Its nonces are its own, so that the fuzz function can use it through the
// *testing.T of each input.
type fuzzClient struct {
	ts    *testServer
	creds testCreds
	errs  *lastLine
	n     uint64
}

func newFuzzClient(f *testing.F) *fuzzClient {
	errs := &lastLine{}
	ts := newTestServer(f, func(o *Options) {
		// Only errors, and only the last one: a long run would otherwise
		// keep every access line.
		o.Logger = slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError}))
	})
	// A token for ten years of requests a second apart.
	creds := ts.mintTokenWith(token.Payload{UID: 1, Expires: ts.Clock.Now().AddDate(10, 0, 0).Unix()})
	return &fuzzClient{ts: ts, creds: creds, errs: errs}
}

func (c *fuzzClient) do(method, target, body string, hdr ...string) *Response {
	c.n++
	// Each request a second after the last: with the clock standing still,
	// the nonces of one timestamp fill the server's nonce cache, which then
	// refuses with 401 every timestamp not after one it forgot, and a run
	// of more than a few seconds fails.
	c.ts.Clock.Advance(time.Second)
	r := newRequest(method, target, body, hdr...)
	c.ts.signHawk(r, c.creds, c.ts.opts.PublicURL.Prefix+target, body, hawkAuth{Nonce: "fz" + strconv.FormatUint(c.n, 36)})
	return c.ts.serve(r)
}

// lastLine keeps the last line written to it.
type lastLine struct {
	mu   sync.Mutex
	line string
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.line = string(p)
	l.mu.Unlock()
	return len(p), nil
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.line
}
