// Package deploytest proves the shipped deployment files with the real web
// servers: it starts Debian's nginx and Apache (mod_proxy_fcgi, mod_fcgid,
// mod_proxy) as unprivileged foreground processes on loopback ports, with
// configurations generated from syncserver.fcgi.conf and contrib/ (only the
// lines marked "# CHANGE:" are substituted, so a broken snippet fails), in
// front of a freshly built syncserver, and drives a Sync client through them:
// a token from the Firefox Accounts stand-in (internal/fxatest) traded at the
// tokenserver, then Hawk-signed storage requests.
//
// The tests skip when nginx or Apache is not installed, unless
// SYNCSERVER_TEST_REQUIRE (a comma-separated list) names "nginx" or
// "apache", as CI does; then a missing server fails them.
//
// Everything is in the _test.go files; this package has no API.
package deploytest
