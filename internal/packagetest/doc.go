// Package packagetest tests what a release ships, the way a user uses it:
// the archives that make dist writes (their contents, SHA256SUMS, and that
// the same commit gives the same bytes), the static binaries in them, run
// (amd64 natively, arm64 under qemu-aarch64-static) through a storage
// smoke test, an upgrade of a database the previous release wrote; the
// Debian package of make deb, installed with dpkg on this machine, run as
// its system user, removed, reinstalled and purged; and the container
// image of make image, run with podman or, where the machine cannot run
// containers, its entrypoint run in the mounted image with chroot.
//
// The tests need the artefacts: make test-packaging builds them and sets
// SYNCSERVER_TEST_DIST to the dist directory (and SYNCSERVER_TEST_IMAGE to
// the image). Without SYNCSERVER_TEST_DIST every test skips, so that make
// test leaves them to make test-packaging. A missing tool
// (qemu-aarch64-static, the arm64 cross compiler, dpkg, podman) or a run
// without root skips the tests that need it with a message naming what is
// missing, unless SYNCSERVER_TEST_REQUIRE (a comma-separated list) names it
// ("qemu", "cross", "dpkg", "podman", "root"), as CI does: then it fails
// them.
//
// Everything is in the _test.go files; this package has no API.
package packagetest
