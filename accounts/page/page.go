// Package page holds the accounts sign-in and settings pages, embedded in
// the binary so that the accounts origin serves no third-party code and
// needs no build step: index.html, its script, its style sheet and the default avatar;
// settings.html and its script (devices, password change, deletion); and
// common.js, the WebChannel and API code both scripts import.
//
// The page does all password work in the browser (WebCrypto): it stretches
// the password, unwraps kB from the key bundle, derives the oldsync key and
// seals it to Firefox's ephemeral key. The server never sees the password,
// kB or the Sync key. The package only maps request paths to those files;
// the accounts service serves them with its security headers.
package page

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js common.js crypto.js style.css default.png settings.html settings.js
var files embed.FS

// asset is one servable file: its name in the embedded tree and its type.
type asset struct {
	name, contentType string
}

const htmlType = "text/html; charset=utf-8"

// routes maps the request paths the service may ask for to the embedded
// files. Every entry point Firefox or the mobile apps may open (the root,
// the openid authorization endpoint, force_auth and the sign-in aliases)
// is the same single page, which reads its parameters from the query.
var routes = map[string]asset{
	"/":                 {"index.html", htmlType},
	"/authorization":    {"index.html", htmlType},
	"/oauth/force_auth": {"index.html", htmlType},
	"/signin":           {"index.html", htmlType},
	"/oauth/signin":     {"index.html", htmlType},
	"/oauth":            {"index.html", htmlType},
	// The account settings page; Firefox's "Manage account" and "Manage
	// devices" menu items open these two paths of its accounts root.
	"/settings":           {"settings.html", htmlType},
	"/settings/clients":   {"settings.html", htmlType},
	"/app.js":             {"app.js", "text/javascript; charset=utf-8"},
	"/settings.js":        {"settings.js", "text/javascript; charset=utf-8"},
	"/common.js":          {"common.js", "text/javascript; charset=utf-8"},
	"/crypto.js":          {"crypto.js", "text/javascript; charset=utf-8"},
	"/style.css":          {"style.css", "text/css; charset=utf-8"},
	"/avatar/default.png": {"default.png", "image/png"},
}

// Asset returns the body and Content-Type served at path (the URL path
// only, without the query), and false when the path is not a page asset.
// Each call returns a fresh copy, which the caller may keep.
func Asset(path string) (body []byte, contentType string, ok bool) {
	a, ok := routes[path]
	if !ok {
		return nil, "", false
	}
	b, err := files.ReadFile(a.name)
	if err != nil {
		// Unreachable: every route names an embedded file, which the
		// package test checks.
		return nil, "", false
	}
	return b, a.contentType, true
}

// Paths lists the request paths Asset answers, for routers that mount
// them one by one and for tests.
func Paths() []string {
	out := make([]string, 0, len(routes))
	for p := range routes {
		out = append(out, p)
	}
	return out
}

// Files returns the embedded files by name, for tests that load the
// scripts outside the service (the known-answer tests in Firefox).
func Files() fs.FS { return files }
