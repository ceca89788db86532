package deploytest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"syncserver/token"
)

// linesWith returns the log lines that contain every one of subs.
func linesWith(log string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		ok := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// wantOneLine checks that syncserver's log has exactly one line with every
// one of subs (a misconfiguration is explained once, not per request, and
// not never), and returns the log it checked.
func wantOneLine(t *testing.T, e *env, what string, subs ...string) (log string) {
	t.Helper()
	// The test reads syncserver's output through a pipe: a line written
	// before the response went out may reach the test after it.
	deadline := time.Now().Add(10 * time.Second)
	for log = e.syncLog(); len(linesWith(log, subs...)) == 0 && time.Now().Before(deadline); log = e.syncLog() {
		time.Sleep(10 * time.Millisecond)
	}
	switch got := linesWith(log, subs...); len(got) {
	case 1:
		t.Logf("%s: %s", what, got[0])
	case 0:
		t.Errorf("%s: no log line contains all of %q; the log:\n%s", what, subs, log)
	default:
		t.Errorf("%s: %d log lines contain all of %q, want one:\n%s", what, len(got), subs, strings.Join(got, "\n"))
	}
	return log
}

// TestMisconfiguredPublicURL: the operator changed server_name but left
// public_url as shipped. Signatures cannot match; the log must say why,
// once.
func TestMisconfiguredPublicURL(t *testing.T) {
	e := deploy(t, findDeployment(t, "nginx-fastcgi-tcp"), setup{
		ini: map[string]map[string]string{"syncserver": {"public_url": tomlString("https://sync.example.com/")}},
	})
	c := newSyncClient(e.http, e.fxa, e.base)
	if r, err := c.token(); err != nil || r.Status != http.StatusOK {
		t.Fatalf("token: %v %v", r, err)
	}
	// Firefox would go to api_endpoint, on sync.example.com; this client
	// reaches the server the only way it can, and signs for that URL.
	c.endpoint = e.base + "/storage/1.5/" + itoa(c.tok.UID)
	for range 3 {
		r, err := c.do(http.MethodGet, "/info/collections", nil, nil)
		if err != nil || r.Status != http.StatusUnauthorized {
			t.Fatalf("GET info/collections signed for another host than public_url: %v %v, want 401", r, err)
		}
	}
	wantOneLine(t, e, "public_url mismatch", "level=WARN", "public_url", "sync.example.com", "127.0.0.1")
}

// TestPublicURLWithoutPrefix: nginx serves syncserver under location
// /ff-sync/ but public_url was left at the root of the host. Every request,
// heartbeat included, gets 404 with body 0; the log must say, once, which
// public_url matches what the web server passes.
func TestPublicURLWithoutPrefix(t *testing.T) {
	e := deploy(t, findDeployment(t, "nginx-fastcgi-tcp"), setup{prefix: "/ff-sync/", publicURLPath: "/"})
	for range 3 {
		r, err := e.http.Get(e.base + "/__heartbeat__")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound || string(body) != "0" {
			t.Fatalf("heartbeat under /ff-sync/ with public_url at /: %d %q, want 404 0", r.StatusCode, body)
		}
	}
	c := newSyncClient(e.http, e.fxa, e.base)
	if r, err := c.token(); err != nil || r.Status != http.StatusNotFound {
		t.Fatalf("token under /ff-sync/ with public_url at /: %v %v, want 404", r, err)
	}
	wantOneLine(t, e, "public_url without the location's prefix", "level=WARN", "/ff-sync/__heartbeat__",
		`public_url = \"`+e.publicURL+`\"`)
}

// TestCheckStepGivesNoAdvice: the README's check step, a token request
// without credentials as curl sends it, is expected to get 401. Through a
// correct nginx or Apache setup the log must not tell the operator to fix
// anything (it once said "Apache needs CGIPassAuth On", even under nginx).
func TestCheckStepGivesNoAdvice(t *testing.T) {
	for _, name := range []string{"nginx-fastcgi-tcp", "apache-proxy-fcgi-tcp"} {
		t.Run(name, func(t *testing.T) {
			e := deploy(t, findDeployment(t, name), setup{prefix: "/ff-sync/"})
			req, err := http.NewRequest(http.MethodGet, e.base+"/token/1.0/sync/1.5", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", "curl/7.88.1")
			r, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("token request without credentials: %d, want 401", r.StatusCode)
			}
			log := wantOneLine(t, e, "no credentials", "level=INFO", "without an Authorization header", "as expected")
			if got := linesWith(log, "CGIPassAuth"); len(got) != 0 {
				t.Errorf("advice for a request made by hand:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

// TestMissingAuthorization: Apache without "CGIPassAuth On" keeps the
// Authorization header from syncserver. The tokenserver and storage answer
// 401, and the log must say what is missing and how to fix it, once.
func TestMissingAuthorization(t *testing.T) {
	const secret = "deploytest-known-secret"
	e := deploy(t, findDeployment(t, "apache-proxy-fcgi-tcp"), setup{
		edit: withoutLine(t, "CGIPassAuth On"),
		ini:  map[string]map[string]string{"syncserver": {"secret": tomlString(secret)}},
	})
	c := newSyncClient(e.http, e.fxa, e.base)
	if r, err := c.token(); err != nil || r.Status != http.StatusUnauthorized {
		t.Fatalf("token request through Apache without CGIPassAuth: %v %v, want 401", r, err)
	}
	// Storage, with a valid token made with the configured secret: Apache
	// drops the Hawk header just the same.
	secrets, err := token.NewSecrets([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	id, key, err := secrets.Mint(token.Payload{
		UID:     1,
		Node:    strings.TrimSuffix(e.publicURL, "/"),
		Expires: time.Now().Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.tok = tokenResponse{ID: id, Key: key, UID: 1}
	c.endpoint = e.base + "/storage/1.5/1"
	for range 3 {
		r, err := c.do(http.MethodGet, "/info/collections", nil, nil)
		if err != nil || r.Status != http.StatusUnauthorized {
			t.Fatalf("GET info/collections through Apache without CGIPassAuth: %v %v, want 401", r, err)
		}
	}
	wantOneLine(t, e, "missing Authorization", "Authorization", "CGIPassAuth")
}

// TestUntrustedForwardedProto: nginx terminates TLS and says so with
// X-Forwarded-Proto, but syncserver does not trust nginx's address. The
// log must name the header, the setting and the address to add, once.
func TestUntrustedForwardedProto(t *testing.T) {
	e := deploy(t, findDeployment(t, "nginx-proxy-http"), setup{
		ini: map[string]map[string]string{"server:main": {"forwarded_allow_ips": `["192.0.2.1"]`}},
	})
	c := newSyncClient(e.http, e.fxa, e.base)
	if r, err := c.token(); err != nil || r.Status != http.StatusOK {
		t.Fatalf("token: %v %v", r, err)
	}
	// Signatures still verify (they use public_url); only the log warns.
	for range 3 {
		if r, err := c.do(http.MethodGet, "/info/collections", nil, nil); err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET info/collections: %v %v", r, err)
		}
	}
	wantOneLine(t, e, "untrusted X-Forwarded-Proto", "X-Forwarded-Proto", "forwarded_allow_ips")
}
