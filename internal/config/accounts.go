package config

import (
	"fmt"
	"net"
	"strings"
)

// setAccountsPublicURL accepts the accounts origin: "" (the origin of
// [syncserver] public_url), or an http(s) URL without a path.
func setAccountsPublicURL(l *loader, p parsed) error {
	if p.s == "" {
		l.c.Accounts.PublicURLSet = false
		return nil
	}
	u, err := ParsePublicURL(p.s)
	if err != nil {
		return err
	}
	if u.Prefix != "" {
		return fmt.Errorf("%s has the path %s; the accounts must be at the root of their origin, because Firefox builds its account pages from the origin and a path breaks them: use %s/",
			Quote(p.s), Quote(u.Prefix), u.Origin())
	}
	if err := SecureOrigin(u); err != nil {
		return err
	}
	l.c.Accounts.PublicURL, l.c.Accounts.PublicURLSet = u.Origin(), true
	return nil
}

// SecureOrigin reports an error unless u is an origin the accounts page can
// work on: the page derives keys with WebCrypto, which browsers give only to
// secure contexts, and Firefox signs in over https only (plain http is for
// tests on a loopback host, with identity.fxaccounts.allowHttp).
func SecureOrigin(u PublicURL) error {
	if u.Scheme == "https" || IsLoopbackHost(u.Host) {
		return nil
	}
	return fmt.Errorf("%s is plain http on a host that is not loopback: the accounts page needs a secure origin "+
		"(WebCrypto, which derives the keys in the browser, exists only there, and Firefox signs in over https only); "+
		"use https://, or http:// only with 127.0.0.1, ::1 or localhost", Quote(u.Origin()))
}

// IsLoopbackHost reports whether a host name or address is this machine,
// which browsers treat as a secure origin even over plain http.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// finishAccounts fills the accounts origin from [syncserver] public_url when
// [accounts] public_url is unset, and refuses an insecure one when the
// accounts are enabled.
func (l *loader) finishAccounts() error {
	a := &l.c.Accounts
	if a.PublicURLSet {
		return nil
	}
	a.PublicURL = l.c.PublicURL.Origin()
	if !a.Enabled {
		return nil
	}
	if err := SecureOrigin(l.c.PublicURL); err != nil {
		line := l.set[setKey("accounts", "enabled")]
		return l.errorf(line, "%s: the accounts origin is that of [syncserver] public_url%s, and %v; or set [accounts] public_url to a dedicated https origin",
			l.source("accounts", "enabled"), l.envNote("syncserver", "public_url"), err)
	}
	return nil
}
