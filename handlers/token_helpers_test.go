package handlers

// Helpers of the tokenserver tests: a testServer whose tokenserver checks
// access tokens with package fxa against the fxatest stand-in on loopback,
// and assertions on the tokenserver's answers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/fxa"
	"syncserver/internal/fxatest"
	"syncserver/token"
)

// fxaAdapter is the adapter cmd/syncserver needs to wire package fxa into
// handlers: it copies the result and maps fxa's three error kinds onto
// handlers' (anything unknown counts as unavailable).
type fxaAdapter struct{ v *fxa.Verifier }

func (a fxaAdapter) Verify(ctx context.Context, accessToken string) (VerifiedToken, error) {
	t, err := a.v.Verify(ctx, accessToken)
	switch {
	case err == nil:
		return VerifiedToken{UID: t.UID, Generation: t.Generation, Scope: t.Scope, ClientID: t.ClientID, Issuer: t.Issuer}, nil
	case errors.Is(err, fxa.ErrInvalidGeneration):
		return VerifiedToken{}, fmt.Errorf("%w: %w", ErrInvalidGeneration, err)
	case errors.Is(err, fxa.ErrRejected):
		return VerifiedToken{}, fmt.Errorf("%w: %w", ErrTokenRejected, err)
	default:
		return VerifiedToken{}, fmt.Errorf("%w: %w", ErrVerifierUnavailable, err)
	}
}

// testMetricsKey is the metrics key of the token vector.
const testMetricsKey = "metricskey"

// tokenTest is a server with a tokenserver and the FxA stand-in it trusts.
type tokenTest struct {
	*testServer
	FxA *fxatest.Server
}

// newTokenTest builds a server whose tokenserver verifies tokens of a fresh
// FxA stand-in (discovered from its identity provider URL), with new users
// allowed. fxaEdit may change the verifier's configuration, edit the
// server's options.
func newTokenTest(tb testing.TB, fxaEdit func(*fxa.Config), edit ...func(*Options)) *tokenTest {
	tb.Helper()
	fx := fxatest.New(tb)
	var ts *testServer
	clock := func() time.Time { return ts.Clock.Now() }
	fx.SetClock(clock)
	cfg := fxa.Config{IdentityProvider: fx.IdentityProvider(), Now: clock, Timeout: 2 * time.Second}
	if fxaEdit != nil {
		fxaEdit(&cfg)
	}
	v, err := fxa.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	// The tokenserver signs with the secret the storage side verifies.
	secrets, err := token.NewSecrets([]string{testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	opts := []func(*Options){func(o *Options) {
		o.Token = TokenOptions{
			Secrets:       secrets,
			Verifier:      fxaAdapter{v},
			AllowNewUsers: true,
			MetricsKey:    testMetricsKey,
		}
	}}
	ts = newTestServer(tb, append(opts, edit...)...)
	return &tokenTest{testServer: ts, FxA: fx}
}

// account registers a fresh account with the stand-in, its generation and
// keys-changed-at in milliseconds just before the test clock.
func (tt *tokenTest) account() fxatest.Account {
	a := fxatest.NewAccount("user@example.com")
	ms := tt.Clock.Now().UnixMilli() - 60_000
	a.Generation, a.KeysChangedAt = ms, ms
	tt.FxA.SetAccount(a)
	return a
}

// tokenPath is where Firefox asks for a token under testPublicURL.
const tokenPath = "/token/1.0/sync/1.5"

// getToken sends a token request with Authorization "Bearer <accessToken>"
// (none when accessToken is "") and the other headers hdr.
func (tt *tokenTest) getToken(accessToken string, hdr ...string) *Response {
	if accessToken != "" {
		hdr = append(hdr, "Authorization", "Bearer "+accessToken)
	}
	return tt.serve(newRequest(http.MethodGet, tokenPath, "", hdr...))
}

// firefox asks for a token as Firefox does: the account's JWT and X-KeyID.
func (tt *tokenTest) firefox(a fxatest.Account) *Response {
	return tt.getToken(tt.FxA.JWT(a.UID), "X-KeyID", a.KeyID(), "Accept", "application/json")
}

// tokenBody is a decoded success answer.
type tokenBody struct {
	ID           string  `json:"id"`
	Key          string  `json:"key"`
	UID          int64   `json:"uid"`
	APIEndpoint  string  `json:"api_endpoint"`
	Duration     int64   `json:"duration"`
	HashAlg      string  `json:"hashalg"`
	HashedFxAUID string  `json:"hashed_fxa_uid"`
	NodeType     *string `json:"node_type"`
}

// creds are the Hawk credentials of the answer.
func (b tokenBody) creds() testCreds {
	return testCreds{UID: db.UID(b.UID), ID: b.ID, Key: b.Key}
}

// wantToken fails the test unless r is a token answer, and decodes it.
func wantToken(tb testing.TB, r *Response) tokenBody {
	tb.Helper()
	if r.Status != http.StatusOK {
		tb.Fatalf("token request: %d %s", r.Status, r.Body)
	}
	wantHeader(tb, r, "Content-Type", "application/json")
	wantXTimestamp(tb, r)
	var b tokenBody
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		tb.Fatalf("token answer %s: %v", r.Body, err)
	}
	return b
}

// wantXTimestamp checks the header every tokenserver answer carries: the
// test clock in whole seconds.
func wantXTimestamp(tb testing.TB, r *Response) {
	tb.Helper()
	wantHeader(tb, r, "X-Timestamp", strconv.FormatInt(testEpoch.Unix(), 10))
}

// tokenErr is a tokenserver error body's content.
type tokenErr struct {
	status                       int
	st, location, name, describe string
}

// wantTokenError fails the test unless r is exactly that tokenserver error.
func wantTokenError(tb testing.TB, r *Response, want tokenErr) {
	tb.Helper()
	var body struct {
		Status string `json:"status"`
		Errors []struct {
			Location    string `json:"location"`
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"errors"`
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		tb.Fatalf("%d %s: not a tokenserver error: %v", r.Status, r.Body, err)
	}
	got := tokenErr{status: r.Status, st: body.Status}
	if len(body.Errors) != 1 {
		tb.Fatalf("%d %s: want exactly one error", r.Status, r.Body)
	}
	got.location, got.name, got.describe = body.Errors[0].Location, body.Errors[0].Name, body.Errors[0].Description
	if got != want {
		tb.Fatalf("got %+v, want %+v (body %s)", got, want, r.Body)
	}
	wantHeader(tb, r, "Content-Type", "application/json")
	wantXTimestamp(tb, r)
	if r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
		tb.Fatalf("503 without Retry-After")
	}
	if r.Status != http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "" {
		tb.Fatalf("%d with Retry-After", r.Status)
	}
}

// unauthorizedAs is the legacy _unauthorized(status) answer.
func unauthorizedAs(status string) tokenErr {
	return tokenErr{http.StatusUnauthorized, status, "body", "", "Unauthorized"}
}

// badClientState is an unacceptable change of client state.
func badClientState(reason string) tokenErr {
	return tokenErr{http.StatusUnauthorized, "invalid-client-state", "header", "X-Client-State", "Unacceptable client-state value " + reason}
}

var (
	errRowUnavailable  = tokenErr{http.StatusServiceUnavailable, "error", "body", "", "Resource is not available"}
	errRowInvalidValue = tokenErr{http.StatusBadRequest, "error", "header", "X-Client-State", "Invalid client state value"}
)

// storagePath turns a token's api_endpoint into the client-visible path
// below public_url, plus rel.
func storagePath(tb testing.TB, b tokenBody, rel string) string {
	tb.Helper()
	p, ok := strings.CutPrefix(b.APIEndpoint, testPublicURL.String())
	if !ok {
		tb.Fatalf("api_endpoint %q is not below public_url %q", b.APIEndpoint, testPublicURL.String())
	}
	return p + rel
}

// storage sends a Hawk-signed storage request with the token's credentials.
func (tt *tokenTest) storage(b tokenBody, method, rel, body string) *Response {
	tt.TB.Helper()
	return tt.serve(tt.hawkRequest(b.creds(), method, storagePath(tt.TB, b, rel), body))
}

func hasLine(logs, substr string) int {
	return len(slices.DeleteFunc(strings.Split(logs, "\n"), func(l string) bool { return !strings.Contains(l, substr) }))
}
