// Package firefox is the end-to-end test with the only client that matters:
// Debian's firefox-esr, headless. TestFirefox signs in to the Firefox
// Accounts stand-in (internal/fxatest) and syncs bookmarks, history, prefs
// and passwords through syncserver behind nginx over FastCGI.
// TestFirefoxAccounts signs in on the built-in accounts' own page
// ([accounts] enabled) with nothing but identity.fxaccounts.autoconfig.uri
// set, and TestFirefoxPageCrypto checks that page's crypto.js inside
// Firefox against accounts/onepw.
//
// The test runs in a private, loopback-only network namespace (and PID
// namespace, so nothing it starts can outlive it): the test binary re-runs
// itself there, with every server and every Firefox it starts. It needs
// root (or unprivileged user namespaces), firefox-esr, nginx and the Go
// toolchain (to build cmd/syncserver). It skips with a message naming what
// is missing, unless SYNCSERVER_TEST_REQUIRE (a comma-separated list) holds
// "firefox", as in CI: then a missing piece fails it.
//
// On failure Firefox's Sync logs, the server log and nginx's logs are
// copied to $SYNCSERVER_TEST_ARTIFACTS when set, else their tails are
// logged.
//
// Everything is in the _test.go files; this package has no API.
package firefox
