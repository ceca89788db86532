// Package token mints and verifies tokenlib-compatible storage tokens: the
// opaque Hawk id the tokenserver hands to Firefox and the storage endpoints
// read back. Staying byte-compatible with
// Mozilla's tokenlib lets other tokenservers, storage nodes and load tools
// that share the secret interoperate with this server.
package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrInvalid reports a token that cannot be trusted: undecodable, signed by
// none of the configured secrets, or carrying a malformed payload. Callers
// answer it with a 401 and never reveal the detail to the client.
var ErrInvalid = errors.New("token: invalid token")

// Info strings of tokenlib's key derivations; they are part of the wire
// format, so they never change.
const (
	signingInfo = "services.mozilla.com/tokenlib/v1/signing"
	deriveInfo  = "services.mozilla.com/tokenlib/v1/derive/"
)

// macSize is the length of the HMAC-SHA256 signature appended to the payload.
const macSize = sha256.Size

// Payload is the signed content of a storage token. The tokenserver fills it
// and the storage side reads it back to learn who the caller is; the field
// names are tokenlib's so tokens from other implementations parse too.
type Payload struct {
	UID            int64  `json:"uid"`
	Node           string `json:"node"`
	Expires        int64  `json:"expires"` // seconds since the Unix epoch
	FxAUID         string `json:"fxa_uid,omitempty"`
	FxAKID         string `json:"fxa_kid,omitempty"`
	HashedFxAUID   string `json:"hashed_fxa_uid,omitempty"`
	HashedDeviceID string `json:"hashed_device_id,omitempty"`
	Salt           string `json:"salt"`
}

// secret is one configured master secret with its precomputed signing key.
type secret struct {
	ikm        []byte // UTF-8 text of the configured secret, used as is
	signingKey []byte
}

// Secrets holds the master secrets shared by the tokenserver and the storage
// side. Several may be configured so that a secret can be rotated without
// signing everybody out: the newest (last) signs, every one verifies.
// A Secrets is immutable and safe for concurrent use.
type Secrets struct {
	list []secret // in configuration order; the last one signs
}

// NewSecrets precomputes the signing keys of secrets, given oldest first.
// The secrets are used as written (hex text is not decoded), as tokenlib does.
func NewSecrets(secrets []string) (*Secrets, error) {
	if len(secrets) == 0 {
		return nil, errors.New("token: no secret configured")
	}
	s := &Secrets{list: make([]secret, len(secrets))}
	for i, v := range secrets {
		if v == "" {
			return nil, fmt.Errorf("token: secret %d is empty", i)
		}
		ikm := []byte(v)
		key := hkdfSHA256(ikm, nil, []byte(signingInfo))
		s.list[i] = secret{ikm: ikm, signingKey: key[:]}
	}
	return s, nil
}

// Mint signs p with the newest secret and returns the token (the Hawk id)
// and its derived secret (the Hawk key). An empty Salt is filled with six
// random hex digits, as tokenlib does; a payload that Parse would reject is
// refused with ErrInvalid so that no unusable token is ever handed out.
func (s *Secrets) Mint(p Payload) (tok, key string, err error) {
	if p.Salt == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", "", fmt.Errorf("token: salt: %w", err)
		}
		p.Salt = hex.EncodeToString(b[:])
	}
	if err := validate(p); err != nil {
		return "", "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep node URLs readable; both forms are valid JSON
	if err := enc.Encode(p); err != nil {
		return "", "", fmt.Errorf("token: encode payload: %w", err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	signer := &s.list[len(s.list)-1]
	tok = sign(signer, payload)
	return tok, deriveKey(signer, p.Salt, tok), nil
}

// sign returns base64url-with-padding(payload || HMAC-SHA256(signing key,
// payload)). It takes the payload bytes as they are because the MAC covers
// exactly those bytes; tests use it to reproduce the known-answer vector.
func sign(sec *secret, payload []byte) string {
	m := hmac.New(sha256.New, sec.signingKey)
	m.Write(payload)
	raw := make([]byte, 0, len(payload)+macSize)
	raw = append(raw, payload...)
	raw = m.Sum(raw)
	return base64.URLEncoding.EncodeToString(raw)
}

// deriveKey computes the per-token secret that Firefox uses as its Hawk key
// (tokenlib's derived secret).
func deriveKey(sec *secret, salt, tok string) string {
	info := make([]byte, 0, len(deriveInfo)+len(tok))
	info = append(info, deriveInfo...)
	info = append(info, tok...)
	k := hkdfSHA256(sec.ikm, []byte(salt), info)
	return base64.URLEncoding.EncodeToString(k[:])
}

// Parse verifies tok against every secret and returns its payload and the
// derived secret (Hawk key) computed with the secret that signed it. It does
// not check Expires: expired tokens stay usable for one endpoint, so the
// caller decides. Every failure wraps ErrInvalid; Parse never panics.
func (s *Secrets) Parse(tok string) (Payload, string, error) {
	// A token is base64 of at least one payload byte plus the 32-byte MAC.
	if len(tok) < base64.URLEncoding.EncodedLen(macSize+1) {
		return Payload{}, "", fmt.Errorf("%w: too short", ErrInvalid)
	}
	raw, err := base64.URLEncoding.DecodeString(tok)
	if err != nil {
		return Payload{}, "", fmt.Errorf("%w: bad base64", ErrInvalid)
	}
	if len(raw) <= macSize {
		return Payload{}, "", fmt.Errorf("%w: too short", ErrInvalid)
	}
	payload, mac := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	signer := s.match(payload, mac)
	if signer == nil {
		return Payload{}, "", fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	p, err := decode(payload)
	if err != nil {
		return Payload{}, "", err
	}
	return p, deriveKey(signer, p.Salt, tok), nil
}

// match returns the secret whose signature over payload equals mac, or nil.
// The newest secret is tried first because it signs nearly every token.
func (s *Secrets) match(payload, mac []byte) *secret {
	var sum [macSize]byte
	for i := len(s.list) - 1; i >= 0; i-- {
		m := hmac.New(sha256.New, s.list[i].signingKey)
		m.Write(payload)
		if hmac.Equal(m.Sum(sum[:0]), mac) {
			return &s.list[i]
		}
	}
	return nil
}

// wirePayload distinguishes absent fields from zero values and keeps the
// numbers raw so that their JSON type can be checked as tokenlib's users do.
type wirePayload struct {
	UID            json.RawMessage `json:"uid"`
	Node           *string         `json:"node"`
	Expires        json.RawMessage `json:"expires"`
	FxAUID         *string         `json:"fxa_uid"`
	FxAKID         *string         `json:"fxa_kid"`
	HashedFxAUID   *string         `json:"hashed_fxa_uid"`
	HashedDeviceID *string         `json:"hashed_device_id"`
	Salt           *string         `json:"salt"`
}

// decode parses and validates a verified payload. Unknown keys (such as the
// Rust tokenserver's tokenserver_origin) are ignored and JSON null counts as
// absent.
func decode(b []byte) (Payload, error) {
	var w wirePayload
	if err := json.Unmarshal(b, &w); err != nil {
		return Payload{}, fmt.Errorf("%w: payload is not a JSON object", ErrInvalid)
	}
	var p Payload
	var err error
	if p.UID, err = parseUID(w.UID); err != nil {
		return Payload{}, err
	}
	if p.Expires, err = parseExpires(w.Expires); err != nil {
		return Payload{}, err
	}
	if w.Node == nil {
		return Payload{}, fmt.Errorf("%w: missing node", ErrInvalid)
	}
	p.Node = *w.Node
	if w.Salt == nil {
		return Payload{}, fmt.Errorf("%w: missing salt", ErrInvalid)
	}
	p.Salt = *w.Salt
	for _, f := range []struct {
		dst  *string
		src  *string
		name string
	}{
		{&p.FxAUID, w.FxAUID, "fxa_uid"},
		{&p.FxAKID, w.FxAKID, "fxa_kid"},
		{&p.HashedFxAUID, w.HashedFxAUID, "hashed_fxa_uid"},
		{&p.HashedDeviceID, w.HashedDeviceID, "hashed_device_id"},
	} {
		if f.src == nil {
			continue
		}
		if *f.src == "" { // present but empty fails ^[A-Za-z0-9=\-_]{1,64}$
			return Payload{}, fmt.Errorf("%w: empty %s", ErrInvalid, f.name)
		}
		*f.dst = *f.src
	}
	if err := validate(p); err != nil {
		return Payload{}, err
	}
	return p, nil
}

// parseUID accepts only a JSON integer literal, as the legacy storage node
// requires uid to be an int (1.0 is rejected).
func parseUID(raw json.RawMessage) (int64, error) {
	if isNull(raw) {
		return 0, fmt.Errorf("%w: missing uid", ErrInvalid)
	}
	uid, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: uid is not an integer", ErrInvalid)
	}
	return uid, nil
}

// parseExpires accepts an integer or a float (tokenlib's own default is a
// float), truncated to whole seconds.
func parseExpires(raw json.RawMessage) (int64, error) {
	if isNull(raw) {
		return 0, fmt.Errorf("%w: missing expires", ErrInvalid)
	}
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	// -2^63 and 2^63 are both exact floats; only the lower bound fits int64.
	if err != nil || math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, fmt.Errorf("%w: expires is not a number", ErrInvalid)
	}
	return int64(f), nil // conversion truncates toward zero
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// validate applies the storage node's field checks (as syncstorage checks a token's fields), with
// empty strings standing for absent optional fields.
func validate(p Payload) error {
	if p.UID < 0 {
		return fmt.Errorf("%w: negative uid", ErrInvalid)
	}
	if p.HashedFxAUID != "" && (p.FxAUID == "" || p.FxAKID == "") {
		return fmt.Errorf("%w: hashed_fxa_uid without fxa_uid and fxa_kid", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{
		{"fxa_uid", p.FxAUID},
		{"fxa_kid", p.FxAKID},
		{"hashed_fxa_uid", p.HashedFxAUID},
		{"hashed_device_id", p.HashedDeviceID},
	} {
		if f.v != "" && !validID(f.v) {
			return fmt.Errorf("%w: malformed %s", ErrInvalid, f.name)
		}
	}
	return nil
}

// validID reports whether s matches ^[A-Za-z0-9=\-_]{1,64}$.
func validID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '=', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// hkdfSHA256 is RFC 5869 HKDF with SHA-256 producing exactly one 32-byte
// block, all tokenlib ever asks for. A nil salt means HashLen zero bytes,
// which HMAC treats the same as an empty key.
func hkdfSHA256(ikm, salt, info []byte) [sha256.Size]byte {
	ext := hmac.New(sha256.New, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write(info)
	exp.Write([]byte{1})
	var out [sha256.Size]byte
	exp.Sum(out[:0])
	return out
}
