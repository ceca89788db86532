package accounts

import "testing"

// TestIssuerOf: the issuer is the origin's authority written one way, as
// the service and the admin commands both spell it.
func TestIssuerOf(t *testing.T) {
	for _, tc := range []struct{ origin, want string }{
		{"https://sync.example.com", "sync.example.com"},
		{"https://Sync.Example.com/", "sync.example.com"},
		{"https://sync.example.com:443", "sync.example.com"},
		{"https://accounts.example.com:8443", "accounts.example.com:8443"},
		{"http://127.0.0.1:5000", "127.0.0.1:5000"},
		{"http://[::1]", "[::1]"},
		{"http://[::1]:5000", "[::1]:5000"},
	} {
		got, err := IssuerOf(tc.origin)
		if err != nil || got != tc.want {
			t.Errorf("IssuerOf(%q) = %q, %v; want %q", tc.origin, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "https://x/path", "https://x:port", "https://u@x"} {
		if got, err := IssuerOf(bad); err == nil {
			t.Errorf("IssuerOf(%q) = %q, want an error", bad, got)
		}
	}
}
