package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// syncserver healthcheck: GET /__heartbeat__ of the running server and
// exit 0 when it answers 200 (the database answers too), 1 otherwise. The
// container image has no shell and no curl, so its HEALTHCHECK runs the
// binary itself; with the container's environment it finds the listener
// the server was given.

func healthcheckCommand() command {
	return command{
		summary: "exit 0 if the local server answers /__heartbeat__ with 200 (for HEALTHCHECK)",
		run:     runHealthcheck,
	}
}

// healthcheckPath is what is asked for: the heartbeat checks the
// database, and it is routed with or without public_url's path.
const healthcheckPath = "/__heartbeat__"

func runHealthcheck(ctx context.Context, m *Main) int {
	fs := m.newFlags("healthcheck", "healthcheck [-url URL] [-timeout D]")
	rawURL := fs.String("url", "", "the heartbeat URL to ask (default: http://ADDR"+healthcheckPath+", ADDR from -http or [server:main] host and port,\na wildcard host asked on loopback)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	pos, err := parseInterleaved(fs, m.Args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		return m.badArgs(fs, "healthcheck takes no arguments, got %q", pos)
	}
	if *timeout <= 0 {
		return m.badArgs(fs, "-timeout must be positive, got %v", *timeout)
	}
	target := *rawURL
	if target == "" {
		if target, err = m.healthcheckURL(); err != nil {
			return m.fail(err)
		}
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return m.badArgs(fs, "-url %q: want http://host:port/__heartbeat__", target)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, body, err := heartbeat(ctx, target)
	if err != nil {
		return m.fail(fmt.Errorf("healthcheck %s: %w", target, err))
	}
	if status != http.StatusOK {
		return m.fail(fmt.Errorf("healthcheck %s: %d %s", target, status, body))
	}
	fmt.Fprintf(m.Stdout, "ok %s: %s\n", target, body)
	return exitOK
}

// healthcheckURL is the heartbeat of the listener serve would open with
// the same flags, configuration and environment.
func (m *Main) healthcheckURL() (string, error) {
	if m.FCGIAddr != "" {
		return "", errors.New("healthcheck asks over HTTP and -fcgi names a FastCGI listener: give -url")
	}
	addr := m.HTTPAddr
	if addr == "" {
		cfg, _, err := m.loadConfig()
		if err != nil {
			return "", err
		}
		addr = net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.Port))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	// A server listening on every address is asked on loopback, which
	// needs no name resolution and no route.
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: healthcheckPath}).String(), nil
}

// heartbeat asks target once and returns the status and the start of the
// body (one line, for a log). Proxies from the environment are not used:
// the server asked is local.
func heartbeat(ctx context.Context, target string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, strings.Join(strings.Fields(string(body)), " "), nil
}
