package hawk

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// A known-answer vector, computed independently and checked against
// Mozilla's hawkauthlib 2.0.0; it uses the token and derived key of the
// token package's vector (checked against tokenlib 2.0.0).
const (
	vecToken      = "eyJ1aWQiOjEsIm5vZGUiOiJodHRwczovL3N5bmMuZXhhbXBsZS5jb20vZmYtc3luYyIsImV4cGlyZXMiOjE3MDAwMDAzMDAsImZ4YV91aWQiOiJhZWFhMTcyNWM3YTI0ZmY5ODNjNjI5NTcyNWQ1ZmM5YiIsImZ4YV9raWQiOiIxNTEwNzI2MzE3MTIzLUlxUXY0b25jN1ZjVkUxa1RRa3l5T3ciLCJoYXNoZWRfZnhhX3VpZCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmIiwiaGFzaGVkX2RldmljZV9pZCI6ImZlZGNiYTk4NzY1NDMyMTBmZWRjYmE5ODc2NTQzMjEwIiwic2FsdCI6ImExYjJjMyJ9NYSFkcizVsNM8TlQQUmH7ECBbedTmGsu66JoNajYFpU="
	vecKey        = "1JtaI7l6y7pMB5Usg5vVIC4bYVsXHLndA7_qN3AW7Eg="
	vecNormalized = "hawk.1.header\n1700000000\nAAECAwQFBgc=\nGET\n/ff-sync/storage/1.5/1/info/collections?full=1\nsync.example.com\n443\n\n\n"
	vecMAC        = "OTsXeYidtb4tueqfzBuzoQcK1OFhnZmq49Ar6afKsIU="
	vecHeader     = `Hawk id="` + vecToken + `", ts="1700000000", nonce="AAECAwQFBgc=", mac="` + vecMAC + `"`
)

var (
	vecAuth    = Auth{ID: vecToken, TS: 1700000000, Nonce: "AAECAwQFBgc=", MAC: vecMAC}
	vecRequest = Request{Method: "GET", Host: "sync.example.com", Port: 443, Resource: "/ff-sync/storage/1.5/1/info/collections?full=1"}
)

func TestVector(t *testing.T) {
	if got, want := NormalizedString(vecAuth, vecRequest), vecNormalized; got != want {
		t.Errorf("NormalizedString\n got %q\nwant %q", got, want)
	}
	if got, want := Sign([]byte(vecKey), vecAuth, vecRequest), vecMAC; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	a, err := ParseHeader(vecHeader)
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	if got, want := a, vecAuth; got != want {
		t.Errorf("ParseHeader = %+v, want %+v", got, want)
	}
	if err := Verify([]byte(vecKey), a, vecRequest); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got, want := a.Header(), vecHeader; got != want {
		t.Errorf("Header() = %s, want %s", got, want)
	}
}

// TestHawkREADME checks the examples of the Hawk protocol's README.
func TestHawkREADME(t *testing.T) {
	key := []byte("werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn")
	r := Request{Method: "GET", Host: "example.com", Port: 8000, Resource: "/resource/1?b=1&a=2"}
	a := Auth{ID: "dh37fgj492je", TS: 1353832234, Nonce: "j4h3g2", Ext: "some-app-ext-data"}
	if got, want := Sign(key, a, r), "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="; got != want {
		t.Errorf("GET mac = %s, want %s", got, want)
	}
	r.Method = "POST"
	a.Hash = PayloadHash("text/plain", []byte("Thank you for flying Hawk"))
	if got, want := a.Hash, "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="; got != want {
		t.Errorf("payload hash = %s, want %s", got, want)
	}
	if got, want := Sign(key, a, r), "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="; got != want {
		t.Errorf("POST mac = %s, want %s", got, want)
	}
}

func TestVerifyMismatch(t *testing.T) {
	key := []byte(vecKey)
	for _, tt := range []struct {
		name   string
		key    []byte
		modify func(a *Auth, r *Request)
		want   error
	}{
		{"unchanged", key, func(*Auth, *Request) {}, nil},
		{"method case ignored", key, func(_ *Auth, r *Request) { r.Method = "get" }, nil},
		{"host case ignored", key, func(_ *Auth, r *Request) { r.Host = "Sync.Example.COM" }, nil},
		{"wrong key", []byte("wrong"), func(*Auth, *Request) {}, ErrBadMAC},
		{"key as decoded bytes", mustDecodeURL(t, vecKey), func(*Auth, *Request) {}, ErrBadMAC},
		{"other method", key, func(_ *Auth, r *Request) { r.Method = "POST" }, ErrBadMAC},
		{"other host", key, func(_ *Auth, r *Request) { r.Host = "sync.example.org" }, ErrBadMAC},
		{"other port", key, func(_ *Auth, r *Request) { r.Port = 80 }, ErrBadMAC},
		{"prefix stripped", key, func(_ *Auth, r *Request) { r.Resource = "/storage/1.5/1/info/collections?full=1" }, ErrBadMAC},
		{"query dropped", key, func(_ *Auth, r *Request) { r.Resource = "/ff-sync/storage/1.5/1/info/collections" }, ErrBadMAC},
		{"other ts", key, func(a *Auth, _ *Request) { a.TS++ }, ErrBadMAC},
		{"other nonce", key, func(a *Auth, _ *Request) { a.Nonce = "AAECAwQFBgg=" }, ErrBadMAC},
		{"hash added", key, func(a *Auth, _ *Request) { a.Hash = "x" }, ErrBadMAC},
		{"ext added", key, func(a *Auth, _ *Request) { a.Ext = "x" }, ErrBadMAC},
		{"mac truncated", key, func(a *Auth, _ *Request) { a.MAC = a.MAC[:len(a.MAC)-1] }, ErrBadMAC},
		{"mac unpadded", key, func(a *Auth, _ *Request) { a.MAC = a.MAC[:len(a.MAC)-1] + "A" }, ErrBadMAC},
		{"mac empty", key, func(a *Auth, _ *Request) { a.MAC = "" }, ErrBadMAC},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, r := vecAuth, vecRequest
			tt.modify(&a, &r)
			if got := Verify(tt.key, a, r); !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func mustDecodeURL(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestPayloadHash(t *testing.T) {
	// The formula written out independently of PayloadHash.
	formula := func(mime, body string) string {
		sum := sha256.Sum256([]byte("hawk.1.payload\n" + mime + "\n" + body + "\n"))
		return base64.StdEncoding.EncodeToString(sum[:])
	}
	const body = `{"id":"abc","payload":"{}"}`
	for _, tt := range []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{"hawk readme", "text/plain", "Thank you for flying Hawk", "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="},
		{"json", "application/json", body, formula("application/json", body)},
		{"parameters stripped", "application/json; charset=utf-8", body, formula("application/json", body)},
		{"lower-cased", "Application/JSON;charset=UTF-8", body, formula("application/json", body)},
		{"whitespace trimmed", " application/json ; q=1", body, formula("application/json", body)},
		{"no content type", "", "", formula("", "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := PayloadHash(tt.contentType, []byte(tt.body)); got != tt.want {
				t.Errorf("PayloadHash(%q, %q) = %s, want %s", tt.contentType, tt.body, got, tt.want)
			}
		})
	}
}

func TestVerifyPayload(t *testing.T) {
	const ct, body = "text/plain", "Thank you for flying Hawk"
	const hash = "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
	for _, tt := range []struct {
		name        string
		hash        string
		contentType string
		body        string
		want        error
	}{
		{"match", hash, ct, body, nil},
		{"no hash", "", ct, "anything", nil},
		{"other body", hash, ct, body + ".", ErrBadPayloadHash},
		{"other content type", hash, "application/json", body, ErrBadPayloadHash},
		{"garbage hash", "x", ct, body, ErrBadPayloadHash},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := VerifyPayload(Auth{Hash: tt.hash}, tt.contentType, []byte(tt.body))
			if !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Errorf("VerifyPayload = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	key := []byte(vecKey)
	for b.Loop() {
		if err := Verify(key, vecAuth, vecRequest); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMACIsHMACSHA256: the pooled MAC equals crypto/hmac's for keys
// shorter than, as long as and longer than a block, one after the other
// through the same scratch.
func TestMACIsHMACSHA256(t *testing.T) {
	for _, n := range []int{0, 1, 32, 44, 63, 64, 65, 200} {
		key := bytes.Repeat([]byte{byte('a' + n%26)}, n)
		a := Auth{ID: "id", TS: 1700000000 + int64(n), Nonce: "n" + strings.Repeat("x", n%7), Ext: "e"}
		r := Request{Method: "get", Host: "Example.COM", Port: 443, Resource: "/storage/1.5/1/info/collections?x=" + strings.Repeat("y", n)}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(NormalizedString(a, r)))
		want := base64.StdEncoding.EncodeToString(m.Sum(nil))
		if got := Sign(key, a, r); got != want {
			t.Errorf("key of %d bytes: Sign = %s, HMAC-SHA256 = %s", n, got, want)
		}
		a.MAC = want
		if err := Verify(key, a, r); err != nil {
			t.Errorf("key of %d bytes: Verify: %v", n, err)
		}
	}
}
