package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"syncserver/hawk"
	"syncserver/internal/fxatest"
)

func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// ack is a write the server answered 200 for: it must be in the
// database afterwards.
type ack struct {
	uid int64
	id  string
}

// sample is one request the load made.
type sample struct {
	node       string // the server's URL
	write      bool
	start, end time.Time
	kind       string // "" for success, else the error's kind
	// expired is a 401 for a token past its duration: the protocol's
	// way of sending the client for a new token, not an error.
	expired bool
}

// load is 100 simulated Firefox clients: each gets a token from the token
// server with an FxA access token, then polls info/collections and
// uploads records to its node, getting a new token when its node answers
// 401 or cannot be reached (which is how a client follows its account to
// another node).
type load struct {
	fxa      *fxatest.Server
	tokenURL string
	client   *http.Client

	mu      sync.Mutex
	samples []sample
	acks    []ack
	seq     atomic.Int64
}

type client struct {
	l    *load
	acct fxatest.Account
	tok  *tokenAnswer
}

type tokenAnswer struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	UID         int64  `json:"uid"`
	APIEndpoint string `json:"api_endpoint"`
	node        string
}

func newLoad(fxa *fxatest.Server, tokenServer string) *load {
	return &load{fxa: fxa, tokenURL: tokenServer + "/1.0/sync/1.5",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}}
}

// run runs users clients until ctx ends.
func (l *load) run(ctx context.Context, users int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range users {
		a := fxatest.NewAccount(fmt.Sprintf("user%d@example.com", i))
		l.fxa.SetAccount(a)
		c := &client{l: l, acct: a}
		wg.Go(func() { c.loop(ctx) })
	}
	return &wg
}

func (c *client) loop(ctx context.Context) {
	for n := 0; ctx.Err() == nil; n++ {
		if n%40 == 39 {
			// Now and then a client starts afresh (a browser
			// restarted), so that the token server sees requests all
			// the time, not only when the tokens expire together.
			c.tok = nil
		}
		if c.tok == nil {
			if !c.token(ctx) {
				pause(ctx, 200*time.Millisecond)
				continue
			}
		}
		if n%3 == 0 {
			c.poll(ctx)
		} else {
			c.upload(ctx)
		}
		pause(ctx, 150*time.Millisecond)
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// token asks the token server for a token; a refused connection (the
// token server restarting) is tried again after a moment, as Firefox
// does.
func (c *client) token(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.l.tokenURL, nil)
	req.Header.Set("Authorization", "Bearer "+c.l.fxa.JWT(c.acct.UID))
	req.Header.Set("X-KeyID", c.acct.KeyID())
	start := time.Now()
	resp, err := c.l.client.Do(req)
	s := sample{node: "token", start: start}
	defer func() { s.end = time.Now(); c.l.record(s, nil) }()
	if err != nil {
		s.kind = transportKind(ctx, err)
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		s.kind = "token " + strconv.Itoa(resp.StatusCode)
		return false
	}
	var t tokenAnswer
	if err := json.Unmarshal(body, &t); err != nil {
		s.kind = "token bad answer"
		return false
	}
	u, err := url.Parse(t.APIEndpoint)
	if err != nil {
		s.kind = "token bad answer"
		return false
	}
	t.node = u.Scheme + "://" + u.Host
	c.tok = &t
	return true
}

// do sends a Hawk-signed request to the client's node.
func (c *client) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	u, _ := url.Parse(c.tok.APIEndpoint + path)
	req, _ := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	host, portS, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portS)
	nonce := make([]byte, 8)
	rand.Read(nonce)
	a := hawk.Auth{ID: c.tok.ID, TS: time.Now().Unix(), Nonce: base64.StdEncoding.EncodeToString(nonce)}
	a.MAC = hawk.Sign([]byte(c.tok.Key), a, hawk.Request{Method: method, Host: host, Port: port, Resource: u.RequestURI()})
	req.Header.Set("Authorization", a.Header())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.l.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *client) poll(ctx context.Context) {
	s := sample{node: c.tok.node, start: time.Now()}
	status, _, err := c.do(ctx, "GET", "/info/collections", nil)
	c.finish(ctx, &s, status, err)
	c.l.record(s, nil)
}

func (c *client) upload(ctx context.Context) {
	id := "r" + strconv.FormatInt(c.l.seq.Add(1), 10) + hex.EncodeToString(randomKey()[:3])
	body, _ := json.Marshal([]map[string]any{{"id": id, "payload": "payload of " + id}})
	s := sample{node: c.tok.node, write: true, start: time.Now()}
	uid := c.tok.UID
	status, answer, err := c.do(ctx, "POST", "/storage/history", body)
	c.finish(ctx, &s, status, err)
	var a *ack
	if s.kind == "" && !s.expired {
		var res struct {
			Success []string `json:"success"`
		}
		if json.Unmarshal(answer, &res) == nil && len(res.Success) == 1 && res.Success[0] == id {
			a = &ack{uid, id}
		} else {
			s.kind = "write not in success"
		}
	}
	c.l.record(s, a)
}

// finish classifies a storage answer; 401 and a node that cannot be
// reached send the client back to the token server.
func (c *client) finish(ctx context.Context, s *sample, status int, err error) {
	s.end = time.Now()
	switch {
	case err != nil:
		s.kind = transportKind(ctx, err)
		c.tok = nil
	case status == 200:
	case status == 401:
		s.expired = true
		c.tok = nil
	default:
		s.kind = "storage " + strconv.Itoa(status)
	}
}

func transportKind(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "cancelled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}

func (l *load) record(s sample, a *ack) {
	if s.kind == "cancelled" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, s)
	if a != nil {
		l.acks = append(l.acks, *a)
	}
}

// snapshot returns the samples so far.
func (l *load) snapshot() ([]sample, []ack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sample(nil), l.samples...), append([]ack(nil), l.acks...)
}
