package fxa

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// jwk is one JSON Web Key as FxA publishes them (RSA, RS256, use sig).
type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS reads {"keys":[…]} (or a single JWK) and keeps the RSA
// signing keys usable for RS256, by kid. Other keys are skipped; a set
// with no usable key is an error, since it could verify nothing.
func parseJWKS(data []byte) (map[string][]*rsa.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
		jwk
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON key set: %v", err)
	}
	list := set.Keys
	if list == nil && set.Kty != "" {
		list = []jwk{set.jwk}
	}
	keys := make(map[string][]*rsa.PublicKey)
	var skipped []error
	for _, k := range list {
		pub, err := k.rsaKey()
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %q: %w", k.Kid, err))
			continue
		}
		keys[k.Kid] = append(keys[k.Kid], pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable RS256 key: %w", errors.Join(skipped...))
	}
	return keys, nil
}

func (k jwk) rsaKey() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" {
		return nil, fmt.Errorf("kty %q is not RSA", k.Kty)
	}
	if k.Alg != "" && k.Alg != "RS256" {
		return nil, fmt.Errorf("alg %q is not RS256", k.Alg)
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", k.Use)
	}
	n, err := decodeSegment(k.N)
	if err != nil || len(n) == 0 {
		return nil, fmt.Errorf("bad modulus")
	}
	e, err := decodeSegment(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("bad exponent")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, fmt.Errorf("bad exponent")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if pub.N.BitLen() < 2048 {
		return nil, fmt.Errorf("modulus of %d bits is too small", pub.N.BitLen())
	}
	return pub, nil
}

// keySet holds the OAuth server's public keys: static ones from the
// configuration, or the ones fetched from /v1/jwks. Fetched keys are used
// for KeysMaxAge, and fetched again early when a token names a kid they do
// not hold (FxA has rotated its key) — but never more often than once per
// RetryInterval, so bogus kids cannot make us hammer FxA.
type keySet struct {
	v      *Verifier
	static bool

	fetchMu sync.Mutex // serialises fetches

	mu        sync.Mutex // guards the fields below
	keys      map[string][]*rsa.PublicKey
	fetchedAt time.Time // last successful fetch
	attemptAt time.Time // last fetch attempt
	seq       uint64    // counts successful fetches
}

// lookup returns the keys that may have signed a token with this kid (all
// keys when the token names none). A kid is ErrRejected only when a key set
// fetched after the token arrived lacks it; when the keys cannot be fetched
// (FxA down, or fetched too recently to ask again) it is ErrUnavailable,
// so a key FxA has just started using never signs a user out. Keys fetched
// earlier keep being used while FxA is down.
func (ks *keySet) lookup(ctx context.Context, ep Endpoints, kid string) ([]*rsa.PublicKey, error) {
	now := ks.v.now()
	ks.mu.Lock()
	found := ks.find(kid)
	fresh := now.Sub(ks.fetchedAt) < ks.v.cfg.KeysMaxAge
	seq := ks.seq
	ks.mu.Unlock()
	if ks.static {
		if found == nil {
			return nil, fmt.Errorf("%w: no configured key has kid %q", ErrRejected, kid)
		}
		return found, nil
	}
	if found != nil && fresh {
		return found, nil
	}

	ks.fetchMu.Lock()
	defer ks.fetchMu.Unlock()
	now = ks.v.now()
	ks.mu.Lock()
	found = ks.find(kid)
	sinceFetch := now.Sub(ks.fetchedAt)
	sinceAttempt := now.Sub(ks.attemptAt)
	fetchedMeanwhile := ks.seq != seq
	ks.mu.Unlock()
	switch {
	case found != nil && sinceFetch < ks.v.cfg.KeysMaxAge:
		return found, nil
	case found == nil && fetchedMeanwhile:
		// Another request fetched the keys while this one waited.
		return nil, fmt.Errorf("%w: unknown kid %q", ErrRejected, kid)
	case sinceAttempt < ks.v.cfg.RetryInterval:
		if found != nil {
			return found, nil // stale, but FxA was asked a moment ago
		}
		return nil, fmt.Errorf("%w: kid %q unknown and the keys of %s were fetched %v ago; not again before %v",
			ErrUnavailable, kid, ep.OAuthURL, sinceAttempt.Round(time.Millisecond), ks.v.cfg.RetryInterval)
	}

	ks.mu.Lock()
	ks.attemptAt = now
	ks.mu.Unlock()
	keys, err := ks.fetch(context.WithoutCancel(ctx), ep)
	if err != nil {
		if found != nil {
			ks.v.log.Warn("fxa: cannot refresh the OAuth server's keys; using the ones fetched before",
				"url", ep.OAuthURL+"/jwks", "error", err.Error())
			return found, nil
		}
		return nil, err
	}
	ks.mu.Lock()
	ks.keys = keys
	ks.fetchedAt = now
	ks.seq++
	found = ks.find(kid)
	ks.mu.Unlock()
	ks.v.log.Info("fxa: fetched the OAuth server's keys", "url", ep.OAuthURL+"/jwks", "keys", len(keys))
	if found == nil {
		return nil, fmt.Errorf("%w: unknown kid %q", ErrRejected, kid)
	}
	return found, nil
}

// find returns the keys for kid; ks.mu must be held.
func (ks *keySet) find(kid string) []*rsa.PublicKey {
	if kid != "" {
		return ks.keys[kid]
	}
	var all []*rsa.PublicKey
	for _, list := range ks.keys {
		all = append(all, list...)
	}
	return all
}

// fetch GETs <oauth>/v1/jwks. Any failure, a 4xx included, is
// ErrUnavailable: it says nothing about the token being checked.
func (ks *keySet) fetch(ctx context.Context, ep Endpoints) (map[string][]*rsa.PublicKey, error) {
	target := ep.OAuthURL + "/jwks"
	var raw json.RawMessage
	if err := ks.v.fetch.doJSON(ctx, target, nil, &raw); err != nil {
		return nil, unavailable(err)
	}
	keys, err := parseJWKS(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrUnavailable, target, err)
	}
	return keys, nil
}
