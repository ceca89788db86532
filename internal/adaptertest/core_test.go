package adaptertest

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/fcgi"
	"syncserver/handlers"
	hawkauth "syncserver/hawk"
	"syncserver/httpd"
	"syncserver/internal/testdb"
	"syncserver/token"
)

// The real core behind both front-ends: what these tests check (body
// lengths, the body budget, headers on every answer) is the core's, and
// must reach the client the same way through either one.

// corePublicURL is what the core believes; the clients below sign against
// it and send Host sync.example.com with the /ff-sync prefix, as a web
// server that passes the prefix on.
var corePublicURL = handlers.PublicURL{Scheme: "http", Host: "sync.example.com", Port: 80, Prefix: prefix}

// panicStore is a store whose Ping panics while panicking is set, to make
// the core's own recovery answer.
type panicStore struct {
	db.Store
	panicking atomic.Bool
}

func (s *panicStore) Ping(ctx context.Context) error {
	if s.panicking.Load() {
		panic("adaptertest: ping panics")
	}
	return s.Store.Ping(ctx)
}

// fakeVerifier accepts the access token "good" and cannot reach FxA for
// "down".
type fakeVerifier struct{}

func (fakeVerifier) Verify(_ context.Context, tok string) (handlers.VerifiedToken, error) {
	switch tok {
	case "good":
		return handlers.VerifiedToken{UID: "0123456789abcdef0123456789abcdef", Generation: 1,
			Scope: []string{"https://identity.mozilla.com/apps/oldsync"}}, nil
	case "down":
		return handlers.VerifiedToken{}, handlers.ErrVerifierUnavailable
	}
	return handlers.VerifiedToken{}, handlers.ErrTokenRejected
}

// coreEnv is a real core over a fresh sqlite store, served by both
// front-ends. done receives the status of every answer the core gives, so
// a test can wait for a request whose client went away.
type coreEnv struct {
	core    *handlers.Server
	store   *panicStore
	secrets *token.Secrets
	http    *httpServer
	fcgi    *fcgiServer
	done    chan int
	nonce   atomic.Uint64
}

func newCoreEnv(t *testing.T, edit func(*handlers.Options)) *coreEnv {
	t.Helper()
	return newCoreEnvTimeout(t, edit, 10*time.Second)
}

// newCoreEnvTimeout is newCoreEnv with both front-ends' read_timeout.
func newCoreEnvTimeout(t *testing.T, edit func(*handlers.Options), readTimeout time.Duration) *coreEnv {
	t.Helper()
	secrets, err := token.NewSecrets([]string{"adaptertest secret"})
	if err != nil {
		t.Fatal(err)
	}
	store := &panicStore{Store: testdb.Open(t, "sqlite", testdb.Options{})}
	opts := handlers.Options{
		PublicURL:          corePublicURL,
		Store:              store,
		BatchUploadEnabled: true,
		Logger:             slog.New(slog.DiscardHandler),
		Storage:            handlers.StorageOptions{Tokens: token.NewCache(secrets, 100)},
		Token: handlers.TokenOptions{Secrets: secrets, Verifier: fakeVerifier{},
			AllowNewUsers: true},
	}
	if edit != nil {
		edit(&opts)
	}
	core, err := handlers.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &coreEnv{core: core, store: store, secrets: secrets, done: make(chan int, 100)}
	h := handlers.HandlerFunc(func(ctx context.Context, r *handlers.Request) *handlers.Response {
		if r.Header.Get("X-Test-Panic") != "" {
			panic("adaptertest: the adapter's last resort")
		}
		resp := core.Serve(ctx, r)
		select {
		case e.done <- resp.Status:
		default:
		}
		return resp
	})
	max := opts.Limits.MaxRequestBytes
	e.http = startHTTPD(t, h, httpd.Options{MaxRequestBytes: max, ReadTimeout: readTimeout})
	e.fcgi = startFCGI(t, h, fcgi.Options{MaxRequestBytes: max, ReadTimeout: readTimeout})
	return e
}

// storagePath is the client-visible path of rel below uid's storage.
func storagePath(uid int64, rel string) string {
	return prefix + "/storage/1.5/" + strconv.FormatInt(uid, 10) + rel
}

// request builds a request for target signed for uid (0: unsigned), with
// Host and Connection: close, and the given headers and body.
func (e *coreEnv) request(t *testing.T, uid int64, method, target string, body []byte, hdr ...[2]string) clientRequest {
	t.Helper()
	c := clientRequest{method: method, target: target, body: body,
		header: [][2]string{{"Host", corePublicURL.Host}, {"Connection", "close"}}}
	if uid != 0 {
		c.header = append(c.header, [2]string{"Authorization", e.hawk(t, uid, method, target)})
	}
	c.header = append(c.header, hdr...)
	return c
}

// hawk is a Hawk header for uid's request, as Firefox signs it.
func (e *coreEnv) hawk(t *testing.T, uid int64, method, target string) string {
	t.Helper()
	id, key, err := e.secrets.Mint(token.Payload{UID: uid, Node: corePublicURL.String(),
		Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	a := hawkauth.Auth{ID: id, TS: time.Now().Unix(), Nonce: "n" + strconv.FormatUint(e.nonce.Add(1), 10)}
	a.MAC = hawkauth.Sign([]byte(key), a, hawkauth.Request{Method: method, Host: corePublicURL.Host,
		Port: corePublicURL.Port, Resource: target})
	return a.Header()
}

// collections is uid's info/collections, asked of the core directly.
func (e *coreEnv) collections(t *testing.T, uid int64) string {
	t.Helper()
	target := storagePath(uid, "/info/collections")
	r := &handlers.Request{Method: "GET", Scheme: "http", Host: corePublicURL.Host, RequestURI: target,
		Header: http.Header{"Authorization": {e.hawk(t, uid, "GET", target)}}, Body: http.NoBody}
	resp := e.core.Serve(context.Background(), r)
	if resp.Status != http.StatusOK {
		t.Fatalf("info/collections: %d %q", resp.Status, resp.Body)
	}
	return string(resp.Body)
}

// waitDone waits for the core to answer a request whose client is gone.
func (e *coreEnv) waitDone(t *testing.T) int {
	t.Helper()
	select {
	case s := <-e.done:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the core never answered")
	}
	return 0
}

// drainDone forgets the answers recorded so far.
func (e *coreEnv) drainDone() {
	for {
		select {
		case <-e.done:
		default:
			return
		}
	}
}

// waitInUse waits until the core's body budget holds want bytes.
func (e *coreEnv) waitInUse(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.core.BodyBytesInUse() != want {
		if time.Now().After(deadline) {
			t.Fatalf("body budget holds %d bytes, want %d", e.core.BodyBytesInUse(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
