// Package packagetest installs and runs the release artefacts the way
// users do: the Debian package of `make deb` is installed with dpkg on
// this machine, run as its system user, removed, reinstalled and purged.
//
// The tests need root and the artefacts built beforehand (`make
// test-packaging` builds them, then runs these tests). They skip with a
// message naming what is missing, unless SYNCSERVER_TEST_REQUIRE (a
// comma-separated list) names it ("root", "dpkg"), as CI does; then they
// fail.
//
// Everything is in the _test.go files; this package has no API.
package packagetest
