package hawk

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// Errors returned by the checks of a parsed header. Callers answer them with
// a 401.
var (
	// ErrBadMAC reports a request whose MAC does not match: a wrong key, a
	// tampered request, or a proxy that changed the host, port or path the
	// client signed.
	ErrBadMAC = errors.New("hawk: bad mac")
	// ErrBadPayloadHash reports a body that does not match the hash the
	// client signed.
	ErrBadPayloadHash = errors.New("hawk: bad payload hash")
)

// Request holds the parts of an HTTP request that Hawk signs, as the client
// saw them: the server must rebuild them from the client-visible URL (public
// URL), not from what a proxy forwarded, or no MAC will ever match.
type Request struct {
	Method string
	Host   string // without port; compared lower-cased
	Port   int    // explicit port, or 80/443 by the client-visible scheme
	// Resource is the raw path, plus "?" and the raw query when there is
	// one, exactly as sent (including any public URL path prefix).
	Resource string
}

// NormalizedString returns the text whose HMAC is the Hawk MAC (Hawk 1.x):
// nine lines, each ending in "\n", with empty lines for an absent hash or ext.
func NormalizedString(a Auth, r Request) string {
	return string(appendNormalized(nil, a, r))
}

func appendNormalized(b []byte, a Auth, r Request) []byte {
	b = append(b, "hawk.1.header\n"...)
	b = strconv.AppendInt(b, a.TS, 10)
	b = append(b, '\n')
	b = append(b, a.Nonce...)
	b = append(b, '\n')
	b = append(b, strings.ToUpper(r.Method)...)
	b = append(b, '\n')
	b = append(b, r.Resource...)
	b = append(b, '\n')
	b = append(b, strings.ToLower(r.Host)...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, int64(r.Port), 10)
	b = append(b, '\n')
	b = append(b, a.Hash...)
	b = append(b, '\n')
	b = append(b, a.Ext...)
	b = append(b, '\n')
	return b
}

// Sign returns the Hawk MAC of r under key: base64 (standard alphabet, with
// padding) of HMAC-SHA256 over the normalized string. The key is the ASCII
// text of the token's derived secret, used as is. Clients and tests use it
// to build a header; servers use Verify.
func Sign(key []byte, a Auth, r Request) string {
	var sum [sha256.Size]byte
	return base64.StdEncoding.EncodeToString(mac(sum[:0], key, a, r))
}

func mac(dst, key []byte, a Auth, r Request) []byte {
	m := macPool.Get().(*macState)
	defer macPool.Put(m)
	m.msg = appendNormalized(m.msg[:0], a, r)
	return m.sum(dst, key)
}

// macState is the scratch of one HMAC-SHA256, reused across requests
// through macPool: crypto/hmac makes two hashes and two pads for every
// key, the most of a cached request's allocations, and every request here
// has a key of its own (the token's).
type macState struct {
	h      hash.Hash
	pad    [sha256.BlockSize]byte
	inner  [sha256.Size]byte
	out    [sha256.Size]byte
	msg    []byte
	keySum [sha256.Size]byte
}

var macPool = sync.Pool{New: func() any { return &macState{h: sha256.New(), msg: make([]byte, 0, 512)} }}

// sum appends HMAC-SHA256(key, m.msg) to dst (RFC 2104: H(K^opad,
// H(K^ipad, msg)), a key longer than a block hashed first).
func (m *macState) sum(dst, key []byte) []byte {
	if len(key) > sha256.BlockSize {
		m.keySum = sha256.Sum256(key)
		key = m.keySum[:]
	}
	m.pad = [sha256.BlockSize]byte{}
	copy(m.pad[:], key)
	for i := range m.pad {
		m.pad[i] ^= 0x36
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(m.msg)
	inner := m.h.Sum(m.inner[:0])
	for i := range m.pad {
		m.pad[i] ^= 0x36 ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(inner)
	// Through m.out: dst handed to the interface's Sum would escape, and
	// Verify's stack array with it.
	return append(dst, m.h.Sum(m.out[:0])...)
}

// Verify checks a.MAC against the MAC of r under key in constant time and
// returns ErrBadMAC on a mismatch. It checks neither the timestamp nor the
// nonce (see NonceCache) nor the body (see VerifyPayload).
func Verify(key []byte, a Auth, r Request) error {
	var sum [sha256.Size]byte
	var want [base64Len]byte
	base64.StdEncoding.Encode(want[:], mac(sum[:0], key, a, r))
	// A copy on the stack, not a conversion that allocates; a MAC of
	// another length fails the comparison as it should.
	var got [base64Len]byte
	if len(a.MAC) != base64Len || subtle.ConstantTimeCompare(want[:], got[:copy(got[:], a.MAC)]) != 1 {
		return ErrBadMAC
	}
	return nil
}

// base64Len is the length of a base64-encoded SHA-256 sum.
const base64Len = (sha256.Size + 2) / 3 * 4

// PayloadHash returns the Hawk payload hash of body: base64 of SHA-256 over
// "hawk.1.payload\n" + mime type + "\n" + body + "\n", where the mime type is
// contentType lower-cased without parameters. Firefox does not send one for
// Sync, but other clients may.
func PayloadHash(contentType string, body []byte) string {
	mime, _, _ := strings.Cut(contentType, ";")
	mime = strings.ToLower(strings.TrimSpace(mime))
	h := sha256.New()
	h.Write([]byte("hawk.1.payload\n"))
	h.Write([]byte(mime))
	h.Write([]byte("\n"))
	h.Write(body)
	h.Write([]byte("\n"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// VerifyPayload checks the body against the hash the client signed and
// returns ErrBadPayloadHash on a mismatch. Without a hash in the header there
// is nothing to check (the legacy servers never check it either), so it
// returns nil. Call it only after Verify, which authenticates a.Hash.
func VerifyPayload(a Auth, contentType string, body []byte) error {
	if a.Hash == "" {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(PayloadHash(contentType, body)), []byte(a.Hash)) != 1 {
		return ErrBadPayloadHash
	}
	return nil
}
