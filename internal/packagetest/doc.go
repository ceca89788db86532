// Package packagetest proves the release artefacts the way a user meets
// them: the container image built from Containerfile (image_test.go) is
// run with podman, or, where the machine cannot run containers, its
// entrypoint is run in the mounted image with chroot, and then spoken to
// as a Sync client would.
//
// The tests skip when a tool they need is missing, naming the Debian
// package, unless SYNCSERVER_TEST_REQUIRE lists it (as CI does); then
// they fail.
//
// Everything is in the _test.go files; this package has no API.
package packagetest
