package main

// The tokenserver verifies Firefox Accounts tokens over https, so the
// binary needs trusted root certificates. A Debian system has them in
// /etc/ssl/certs, but the container image (FROM scratch) and a minimal
// host may have none: this bundle is used only then, when the system
// offers no roots at all, so an operator's own CA store still wins.
// Keep the module up to date (govulncheck reports a stale bundle).
import _ "golang.org/x/crypto/x509roots/fallback"
