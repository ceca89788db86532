package fxa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds what is read of any FxA answer.
const maxResponseBytes = 1 << 20

// proxyTransport is the transport of the default client: Go's default,
// whose Proxy is http.ProxyFromEnvironment, set again here because a server
// that may reach FxA only through a proxy depends on it. (That function
// reads the environment once, and never proxies localhost or a loopback
// address.)
func proxyTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.Proxy = http.ProxyFromEnvironment
	return t
}

// fetcher makes the JSON requests to FxA with a time limit of its own.
type fetcher struct {
	client  *http.Client
	timeout time.Duration
}

// statusError is a non-2xx answer. errno is FxA's error number, 0 when the
// body did not carry one.
type statusError struct {
	status int
	errno  int
}

func (e *statusError) Error() string {
	if e.errno != 0 {
		return fmt.Sprintf("HTTP %d (errno %d)", e.status, e.errno)
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

// retryable reports whether the answer says "not now" rather than "no":
// server errors and throttling.
func (e *statusError) retryable() bool {
	return e.status >= 500 || e.status == http.StatusTooManyRequests || e.status < 400
}

// doJSON sends a request (a POST of body when body is not nil) and decodes a
// 2xx JSON answer into out. A non-2xx answer is a *statusError; a transport
// failure, a timeout or an undecodable 2xx body is an error wrapping
// ErrUnavailable. The URL is in the error text; bodies are not.
func (f fetcher) doJSON(ctx context.Context, target string, body []byte, out any) error {
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		method = http.MethodPost
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, method, target, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, method, target, stripURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%w: %s %s: reading answer: %v", ErrUnavailable, method, target, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &statusError{status: resp.StatusCode}
		var fxaErr struct {
			Errno int `json:"errno"`
		}
		if json.Unmarshal(data, &fxaErr) == nil {
			se.errno = fxaErr.Errno
		}
		return fmt.Errorf("%s %s: %w", method, target, se)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("%w: %s %s: answer larger than %d bytes", ErrUnavailable, method, target, maxResponseBytes)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s %s: answer is not the expected JSON: %v", ErrUnavailable, method, target, err)
	}
	return nil
}

// unavailableUnlessRejected turns a doJSON error of a request whose
// non-retryable 4xx answer means "no" into the package's error kinds.
func unavailableUnlessRejected(err error) error {
	var se *statusError
	if errors.As(err, &se) {
		if se.retryable() {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return err // already ErrUnavailable
}

// unavailable turns any doJSON error into ErrUnavailable: for key and
// discovery documents even a 4xx says nothing about a token.
func unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// stripURLError drops the *url.Error wrapper, whose text repeats the URL.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// originOf returns scheme://host of an http(s) URL.
func originOf(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}
