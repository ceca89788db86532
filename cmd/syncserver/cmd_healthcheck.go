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

// healthcheckPath is what is asked for, under public_url's path: the
// heartbeat checks the database too.
const healthcheckPath = "/__heartbeat__"

func runHealthcheck(ctx context.Context, m *Main) int {
	fs := m.newFlags("healthcheck", "healthcheck [-url URL] [-timeout D]")
	rawURL := fs.String("url", "", "the heartbeat URL to ask (default: "+healthcheckPath+" under public_url's path, at the address\nof -http or [server:main] host and port, a wildcard host asked on loopback)")
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
	probe := healthProbe{url: *rawURL}
	if probe.url == "" {
		if probe, err = m.healthProbe(); err != nil {
			return m.fail(err)
		}
	} else if u, err := url.Parse(probe.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return m.badArgs(fs, "-url %q: want http://host:port/__heartbeat__", probe.url)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, body, err := probe.get(ctx)
	if err != nil {
		return m.fail(fmt.Errorf("healthcheck %s: %w", probe.url, err))
	}
	if status != http.StatusOK {
		return m.fail(fmt.Errorf("healthcheck %s: %d %s", probe.url, status, body))
	}
	fmt.Fprintf(m.Stdout, "ok %s: %s\n", probe.url, body)
	return exitOK
}

// healthProbe is the request the health check sends.
type healthProbe struct {
	url string
	// host and proto, when set, are the Host and X-Forwarded-Proto of
	// public_url, so that the probe, sent to the listener on loopback,
	// arrives as public_url says requests do. Otherwise the server would
	// log, once, that a request did not match public_url and that clients
	// will get 401: a false alarm in every container's log. (The proto is
	// believed from loopback, forwarded_allow_ips' default.)
	host, proto string
}

// healthProbe is the heartbeat of the listener serve would open with the
// same flags, configuration and environment, under public_url's path.
func (m *Main) healthProbe() (healthProbe, error) {
	if m.FCGIAddr != "" {
		return healthProbe{}, errors.New("healthcheck asks over HTTP and -fcgi names a FastCGI listener: give -url")
	}
	cfg, _, err := m.loadConfig()
	if err != nil {
		return healthProbe{}, err
	}
	addr := m.HTTPAddr
	if addr == "" {
		addr = net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.Port))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return healthProbe{}, fmt.Errorf("listen address %q: %w", addr, err)
	}
	// A server listening on every address is asked on loopback, which
	// needs no name resolution and no route.
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	pu := cfg.PublicURL
	p := healthProbe{
		url:  (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: pu.Prefix + healthcheckPath}).String(),
		host: strings.TrimPrefix(pu.Origin(), pu.Scheme+"://"),
	}
	if pu.Scheme != "http" {
		p.proto = pu.Scheme
	}
	return p, nil
}

// get asks once and returns the status and the start of the body (one
// line, for a log). Proxies from the environment are not used: the
// server asked is local.
func (p healthProbe) get(ctx context.Context) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return 0, "", err
	}
	if p.host != "" {
		req.Host = p.host
	}
	if p.proto != "" {
		req.Header.Set("X-Forwarded-Proto", p.proto)
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
