package deploytest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/fxatest"
)

// syncClient plays Firefox: it gets an OAuth token from the FxA stand-in,
// trades it at the tokenserver for Hawk credentials, and signs storage
// requests with them, against the URL it connects to, as Firefox does.
type syncClient struct {
	http  *http.Client
	fxa   *fxatest.Server
	acct  fxatest.Account
	base  string // the server's URL as the client uses it, without trailing slash
	agent string

	tok tokenResponse
	// endpoint is where storage requests go: the token's api_endpoint, or,
	// when a test says so, base + /storage/1.5/uid.
	endpoint string
}

// tokenResponse is the tokenserver's answer (tokenserver API 1.0).
type tokenResponse struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	UID         int64  `json:"uid"`
	APIEndpoint string `json:"api_endpoint"`
	Duration    int64  `json:"duration"`
	HashedUID   string `json:"hashed_fxa_uid"`
}

// newSyncClient makes a client for a new account of fxa, talking to base.
func newSyncClient(hc *http.Client, fxa *fxatest.Server, base string) *syncClient {
	acct := fxatest.NewAccount(fmt.Sprintf("user-%d@example.com", time.Now().UnixNano()))
	fxa.SetAccount(acct)
	return &syncClient{http: hc, fxa: fxa, acct: acct, base: strings.TrimSuffix(base, "/"), agent: "deploytest"}
}

// response is a finished exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%d %q", r.Status, truncate(string(r.Body), 300))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// token trades an FxA access token at the tokenserver and keeps the Hawk
// credentials. It returns the response even when it is not a 200.
func (c *syncClient) token() (*response, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+"/token/1.0/sync/1.5", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.fxa.JWT(c.acct.UID))
	req.Header.Set("X-KeyID", c.acct.KeyID())
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.send(req)
	if err != nil || resp.Status != http.StatusOK {
		return resp, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return resp, fmt.Errorf("token response Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(resp.Body, &c.tok); err != nil {
		return resp, fmt.Errorf("token response %s: %v", resp, err)
	}
	c.endpoint = c.tok.APIEndpoint
	return resp, nil
}

// do sends a Hawk-signed storage request to endpoint + path (path holds the
// raw query, if any). hdr adds headers.
func (c *syncClient) do(method, path string, body []byte, hdr map[string]string) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.endpoint+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.agent)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if err := c.sign(req); err != nil {
		return nil, err
	}
	return c.send(req)
}

// sign adds a Hawk Authorization header for the URL the request goes to,
// as Firefox computes it: the host
// and port it connects to, and the path and query exactly as sent.
func (c *syncClient) sign(req *http.Request) error {
	if c.tok.ID == "" {
		return fmt.Errorf("no token")
	}
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	a := hawk.Auth{ID: c.tok.ID, TS: time.Now().Unix(), Nonce: base64.StdEncoding.EncodeToString(nonce)}
	a.MAC = hawk.Sign([]byte(c.tok.Key), a, hawkRequest(req.Method, req.URL))
	req.Header.Set("Authorization", a.Header())
	return nil
}

// hawkRequest is what Hawk signs of a request to u.
func hawkRequest(method string, u *url.URL) hawk.Request {
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	return hawk.Request{
		Method:   method,
		Host:     strings.ToLower(u.Hostname()),
		Port:     port,
		Resource: u.RequestURI(),
	}
}

// send performs req and reads the whole response.
func (c *syncClient) send(req *http.Request) (*response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the body after %d: %w", req.Method, req.URL, resp.StatusCode, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// bso is a Sync record as the client sends and reads it.
type bso struct {
	ID        string  `json:"id,omitempty"`
	Payload   string  `json:"payload,omitempty"`
	Modified  float64 `json:"modified,omitempty"`
	SortIndex *int    `json:"sortindex,omitempty"`
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
