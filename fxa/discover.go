package fxa

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Endpoints are what a Verifier needs to know about the accounts server:
// where its OAuth server is and which email domain its users have.
type Endpoints struct {
	// OAuthURL is the normalised OAuth server URL, ending in /v1.
	OAuthURL string
	// Issuer is the email domain: the host of the auth server.
	Issuer string
}

// Discovery is the part of an identity provider's
// /.well-known/fxa-client-configuration this server uses.
type Discovery struct {
	AuthServerURL    string `json:"auth_server_base_url"`
	OAuthServerURL   string `json:"oauth_server_base_url"`
	ProfileServerURL string `json:"profile_server_base_url"`
	TokenServerURL   string `json:"sync_tokenserver_base_url"`
	// Issuer is the host (and port) of AuthServerURL, the email domain of
	// the provider's users; filled by Discover.
	Issuer string `json:"-"`
}

// Discover reads identityProvider's /.well-known/fxa-client-configuration
// (an absolute path, so any path in identityProvider is ignored, as the
// legacy server's urljoin did). Failures wrap ErrUnavailable. client may be
// nil; ctx bounds the request.
func Discover(ctx context.Context, client *http.Client, identityProvider string) (Discovery, error) {
	if client == nil {
		client = http.DefaultClient
	}
	return discover(ctx, fetcher{client: client}, identityProvider)
}

func discover(ctx context.Context, f fetcher, identityProvider string) (Discovery, error) {
	origin, err := originOf(identityProvider)
	if err != nil {
		return Discovery{}, fmt.Errorf("%w: identity provider: %v", ErrUnavailable, err)
	}
	target := origin + "/.well-known/fxa-client-configuration"
	var d Discovery
	if err := f.doJSON(ctx, target, nil, &d); err != nil {
		return Discovery{}, unavailable(err)
	}
	au, err := url.Parse(d.AuthServerURL)
	if err != nil || au.Host == "" {
		return Discovery{}, fmt.Errorf("%w: GET %s: auth_server_base_url %q is not a URL", ErrUnavailable, target, d.AuthServerURL)
	}
	if _, err := NormalizeOAuthURL(d.OAuthServerURL); err != nil {
		return Discovery{}, fmt.Errorf("%w: GET %s: oauth_server_base_url %q is not a URL", ErrUnavailable, target, d.OAuthServerURL)
	}
	d.Issuer = strings.ToLower(au.Host)
	return d, nil
}

// isMozilla reports whether an identity provider is Mozilla's production
// accounts, whose endpoints are known without asking.
func isMozilla(identityProvider string) bool {
	o, err := originOf(identityProvider)
	return err == nil && o == DefaultIdentityProvider
}

// staticEndpoints returns the endpoints when they are known without a
// network call: both configured, or Mozilla's production accounts (no
// identity provider, or Mozilla's).
func (v *Verifier) staticEndpoints() (Endpoints, bool) {
	ep := Endpoints{OAuthURL: v.cfg.OAuthURL, Issuer: v.cfg.Issuer}
	mozilla := v.cfg.IdentityProvider == "" || isMozilla(v.cfg.IdentityProvider)
	if mozilla {
		if ep.OAuthURL == "" {
			ep.OAuthURL = DefaultOAuthURL
		}
		// The legacy bundle used the identity provider's issuer even with
		// another oauth_verifier; without one, PyFxA's table of known
		// servers gave Mozilla's issuer for Mozilla's OAuth server.
		if ep.Issuer == "" && (v.cfg.IdentityProvider != "" || ep.OAuthURL == DefaultOAuthURL) {
			ep.Issuer = DefaultIssuer
		}
	}
	return ep, ep.OAuthURL != "" && ep.Issuer != ""
}

// Resolve returns the OAuth server and issuer, discovering them on first
// use: from the identity provider's discovery document, or — with only a
// non-Mozilla oauth_verifier configured — from the OAuth server's /config
// (browserid.issuer), as the legacy tokenserver did. A failure is
// remembered and retried no sooner than RetryInterval later; until then
// Resolve fails at once with ErrUnavailable. cmd/syncserver may call it at
// start-up to report a misconfiguration early without refusing to start.
func (v *Verifier) Resolve(ctx context.Context) (Endpoints, error) {
	v.resMu.Lock()
	defer v.resMu.Unlock()
	if v.resolved {
		return v.ep, nil
	}
	now := v.now()
	if !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.cfg.RetryInterval {
		return Endpoints{}, fmt.Errorf("%w: accounts server not discovered yet (next attempt in %v): %v",
			ErrUnavailable, (v.cfg.RetryInterval - now.Sub(v.lastAttempt)).Round(time.Millisecond), v.lastErr)
	}
	v.lastAttempt = now
	// The discovery serves every waiting request: a caller that gives up
	// must not make it fail for the others.
	ep, err := v.discoverEndpoints(context.WithoutCancel(ctx))
	if err != nil {
		v.lastErr = err
		v.log.Warn("fxa: cannot discover the accounts server; tokens cannot be verified until it answers",
			"identity_provider", v.cfg.IdentityProvider, "oauth_url", v.cfg.OAuthURL, "error", err.Error())
		return Endpoints{}, err
	}
	v.ep, v.resolved = ep, true
	v.log.Info("fxa: accounts server discovered", "oauth_url", ep.OAuthURL, "issuer", ep.Issuer)
	return ep, nil
}

func (v *Verifier) discoverEndpoints(ctx context.Context) (Endpoints, error) {
	ep, ok := v.staticEndpoints()
	if ok {
		return ep, nil
	}
	if v.cfg.IdentityProvider != "" && !isMozilla(v.cfg.IdentityProvider) {
		d, err := discover(ctx, v.fetch, v.cfg.IdentityProvider)
		if err != nil {
			return Endpoints{}, err
		}
		if ep.OAuthURL == "" {
			ep.OAuthURL, _ = NormalizeOAuthURL(d.OAuthServerURL) // checked by discover
		}
		if ep.Issuer == "" {
			ep.Issuer = d.Issuer
		}
		return ep, nil
	}
	// Only a non-Mozilla OAuth server is known: ask it for its issuer.
	origin, err := originOf(ep.OAuthURL)
	if err != nil {
		return Endpoints{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var cfg struct {
		BrowserID struct {
			Issuer string `json:"issuer"`
		} `json:"browserid"`
	}
	if err := v.fetch.doJSON(ctx, origin+"/config", nil, &cfg); err != nil {
		return Endpoints{}, unavailable(err)
	}
	if cfg.BrowserID.Issuer == "" {
		return Endpoints{}, fmt.Errorf("%w: GET %s/config: no browserid.issuer; set the issuer (default_issuer) or identity_provider", ErrUnavailable, origin)
	}
	ep.Issuer = strings.ToLower(cfg.BrowserID.Issuer)
	return ep, nil
}
