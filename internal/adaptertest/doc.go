// Package adaptertest holds the tests that run the same requests through both
// front-ends, fcgi and httpd, and require the same handlers.Request facts and
// the same response out. It lives apart from both so that neither package's
// tests import the other front-end. It has no non-test code.
package adaptertest
