package page

import (
	"bytes"
	"image/png"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestAssetRoutes checks that every route serves a non-empty embedded file
// of the right type and that unknown paths are refused.
func TestAssetRoutes(t *testing.T) {
	for _, p := range []string{"/", "/authorization", "/oauth/force_auth", "/signin", "/oauth/signin"} {
		body, ct, ok := Asset(p)
		if !ok || ct != "text/html; charset=utf-8" || !bytes.Contains(body, []byte(`id="signin"`)) {
			t.Errorf("Asset(%q) = %d bytes, %q, %v; want the sign-in page", p, len(body), ct, ok)
		}
	}
	for _, p := range Paths() {
		body, ct, ok := Asset(p)
		if !ok || len(body) == 0 || ct == "" {
			t.Errorf("Asset(%q) = %d bytes, %q, %v", p, len(body), ct, ok)
		}
	}
	for _, p := range []string{"", "/index.html", "/page.go", "/app.js/", "/../page.go", "/v1/account/login", "/APP.JS"} {
		if _, _, ok := Asset(p); ok {
			t.Errorf("Asset(%q) ok, want not found", p)
		}
	}
	body, ct, _ := Asset("/avatar/default.png")
	if ct != "image/png" {
		t.Errorf("avatar type %q", ct)
	}
	if _, err := png.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("avatar is not a PNG: %v", err)
	}
}

// TestAssetCopies checks that a caller modifying a returned body cannot
// change what the next request gets.
func TestAssetCopies(t *testing.T) {
	a, _, _ := Asset("/")
	a[0] ^= 0xff
	b, _, _ := Asset("/")
	if a[0] == b[0] {
		t.Fatal("Asset returned shared memory")
	}
}

// TestPageCSPClean checks what the strict Content-Security-Policy needs:
// no inline script or style, no event-handler attributes, no resource from
// another origin, and scripts loaded as same-origin modules.
func TestPageCSPClean(t *testing.T) {
	for _, p := range []string{"/", "/settings"} {
		html, _, _ := Asset(p)
		checkHTMLClean(t, p, html)
	}
	err := fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") && !strings.HasSuffix(path, ".css") {
			return err
		}
		b, _ := fs.ReadFile(Files(), path)
		for _, bad := range []string{"http://", "https://", "eval(", "new Function", "innerHTML", "@import"} {
			// The oldsync scope and the FxA namespace are identifiers,
			// not URLs fetched, and are allowed.
			s := strings.ReplaceAll(string(b), "https://identity.mozilla.com/apps/oldsync", "")
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkHTMLClean checks one HTML page: no inline script or style, no
// event-handler attributes, no resource from another origin, and scripts
// loaded from this origin.
func checkHTMLClean(t *testing.T, page string, html []byte) {
	t.Helper()
	checks := []struct{ name, re string }{
		{"inline script", `<script(?:\s[^>]*)?>\s*[^<\s]`},
		{"style element", `<style`},
		{"style attribute", `\sstyle=`},
		{"event handler attribute", `\son[a-z]+=`},
		{"javascript: URL", `javascript:`},
		{"external resource", `(?:src|href)="(?:https?:)?//`},
	}
	for _, tag := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAll(html, -1) {
		if !bytes.Contains(tag, []byte(` src="/`)) {
			t.Errorf("%s has a script without a same-origin src: %s", page, tag)
		}
	}
	for _, c := range checks {
		if regexp.MustCompile(`(?i)` + c.re).Match(html) {
			t.Errorf("%s has %s", page, c.name)
		}
	}
}

// TestSettingsPage checks that Firefox's "Manage account" and "Manage
// devices" paths serve the settings page with its three functions, and
// that the page says what a password change keeps and a deletion loses.
func TestSettingsPage(t *testing.T) {
	for _, p := range []string{"/settings", "/settings/clients"} {
		html, ct, ok := Asset(p)
		if !ok || ct != "text/html; charset=utf-8" {
			t.Fatalf("Asset(%q) = %q, %v", p, ct, ok)
		}
		for _, want := range []string{
			`<script type="module" src="/settings.js">`, `data-state="loading"`, `<html lang="en">`,
			`<form id="signin"`, `<ul id="devices"`,
			`<form id="change"`, `type="password" id="old-password"`, `type="password" id="new-password"`,
			`type="password" id="new-confirm"`, `<label for="new-password">`,
			`<form id="delete"`, `type="password" id="delete-password"`, `type="checkbox" id="delete-confirm"`,
			`role="alert"`, `Your synced data stays readable`, `everything it synced to this server`,
		} {
			if !bytes.Contains(html, []byte(want)) {
				t.Errorf("%s lacks %s", p, want)
			}
		}
	}
	js, ct, ok := Asset("/settings.js")
	if !ok || ct != "text/javascript; charset=utf-8" {
		t.Fatalf("settings.js: %q, %v", ct, ok)
	}
	// The calls the page must make; a rename on either side breaks it.
	for _, want := range []string{
		`"fxaccounts:fxa_status"`, `"fxaccounts:change_password"`, `"fxaccounts:delete"`,
		`"/v1/password/change"`, `"/v1/account/destroy"`, `"/v1/account/devices"`, `"/v1/account/device/destroy"`,
		`"/v1/account/login?keys=true"`, `"/v1/account/keys"`, `sessionStorage`,
	} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("settings.js lacks %s", want)
		}
	}
}

// TestPageForm checks the accessible form the issue asks for.
func TestPageForm(t *testing.T) {
	html, _, _ := Asset("/")
	for _, want := range []string{
		`<form id="signin"`, `type="email" id="email"`, `type="password" id="password"`,
		`<button type="submit"`, `<label for="email">`, `<label for="password">`,
		`role="alert"`, `<html lang="en">`, `data-state="loading"`,
		// What a forgotten password costs, said before it is forgotten.
		`Ask the person who runs this server to
    reset it`, `your synced data is deleted`, `your browsers upload it again`,
	} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}

// TestScriptImports checks that every module a page script imports is
// served, as a script: the pages share common.js and crypto.js, and an
// import the routes lack leaves a page dead in the browser.
func TestScriptImports(t *testing.T) {
	imports := regexp.MustCompile(`(?m)^import .* from "([^"]+)";$`)
	seen := 0
	err := fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		b, _ := fs.ReadFile(Files(), path)
		for _, m := range imports.FindAllSubmatch(b, -1) {
			seen++
			if _, ct, ok := Asset(string(m[1])); !ok || ct != "text/javascript; charset=utf-8" {
				t.Errorf("%s imports %s, served as %q, %v", path, m[1], ct, ok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// app.js and settings.js each import crypto.js and common.js, and
	// common.js imports crypto.js.
	if seen < 5 {
		t.Errorf("found %d imports, want at least 5", seen)
	}
}
