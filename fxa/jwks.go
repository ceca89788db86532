package fxa

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// parseJWKS reads {"keys":[…]} (or a single JWK) and keeps the RSA
// signing keys usable for RS256, by kid. Other keys are skipped; a set
// with no usable key is an error, since it could verify nothing. Each key
// is parsed by go-jose, one at a time, so that a key it cannot read (a
// curve it lacks, a new key type) is skipped rather than failing the set.
func parseJWKS(data []byte) (map[string][]*rsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
		Kty  string            `json:"kty"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON key set: %v", err)
	}
	list := set.Keys
	if list == nil && set.Kty != "" {
		list = []json.RawMessage{data}
	}
	keys := make(map[string][]*rsa.PublicKey)
	var skipped []error
	for i, raw := range list {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		pub, err := rsaKey(k)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %q: %w", k.KeyID, err))
			continue
		}
		keys[k.KeyID] = append(keys[k.KeyID], pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable RS256 key: %w", errors.Join(skipped...))
	}
	return keys, nil
}

// rsaKey applies our policy to a parsed JWK: an RSA key (the public part
// of a private one too) for RS256 signatures, of at least 2048 bits, with
// a sane exponent.
func rsaKey(k jose.JSONWebKey) (*rsa.PublicKey, error) {
	var pub *rsa.PublicKey
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		pub = key
	case *rsa.PrivateKey:
		pub = &key.PublicKey
	default:
		return nil, fmt.Errorf("key type %T is not RSA", k.Key)
	}
	if k.Algorithm != "" && k.Algorithm != string(jose.RS256) {
		return nil, fmt.Errorf("alg %q is not RS256", k.Algorithm)
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("use %q is not sig", k.Use)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("bad exponent")
	}
	if pub.N.BitLen() < 2048 {
		return nil, fmt.Errorf("modulus of %d bits is too small", pub.N.BitLen())
	}
	return pub, nil
}

// keySet holds the OAuth server's public keys: static ones from the
// configuration, or the ones fetched from /v1/jwks. Fetched keys are used
// for KeysMaxAge, and fetched again early when a token names a kid they do
// not hold (FxA has rotated its key) — but a fetch never starts less than
// KeysFetchInterval after the previous one, whatever clients send, and
// requests that need the keys while a fetch is running share it. The
// interval is measured on the real clock: it protects FxA, which lives in
// real time.
type keySet struct {
	v      *Verifier
	static bool
	// mono is the clock of the rate bound (time.Now).
	mono func() time.Time

	mu        sync.Mutex // guards the fields below
	keys      map[string][]*rsa.PublicKey
	fetchedAt time.Time // v.now() at the last successful fetch
	started   time.Time // mono() at the start of the last fetch
	inflight  *keyFetch // the running fetch, or nil
	lastErr   error     // result of the last fetch
	// refreshing is set while a refresh for a kid FxA vouched for waits
	// for its turn (refreshFor).
	refreshing bool
}

// keyFetch is one GET /v1/jwks that any number of requests wait for.
type keyFetch struct {
	done chan struct{} // closed when err is set
	err  error
}

// unknownKidError is lookup's answer when no key we hold or could fetch
// now has the token's kid: a forged token, or one signed with a key FxA
// has just started using. Only FxA can tell, so Verify asks its
// /v1/verify. It matches ErrUnavailable, in case a caller sees it.
type unknownKidError struct {
	kid    string
	reason string
}

func (e *unknownKidError) Error() string {
	return fmt.Sprintf("%v: no key has kid %q (%s)", ErrUnavailable, e.kid, e.reason)
}

func (e *unknownKidError) Unwrap() error { return ErrUnavailable }

// lookup returns the keys that may have signed a token with this kid (all
// keys when the token names none). With static keys an unknown kid is
// ErrRejected. Otherwise it is an *unknownKidError when, after at most one
// fetch, the keys lack it — also when FxA cannot be reached or was asked
// less than KeysFetchInterval ago. Known keys older than KeysMaxAge are
// refreshed first, and keep being used while FxA is down.
func (ks *keySet) lookup(ctx context.Context, ep Endpoints, kid string) ([]*rsa.PublicKey, error) {
	ks.mu.Lock()
	found := ks.find(kid)
	if ks.static {
		ks.mu.Unlock()
		if found == nil {
			return nil, fmt.Errorf("%w: no configured key has kid %q", ErrRejected, kid)
		}
		return found, nil
	}
	if found != nil && ks.v.now().Sub(ks.fetchedAt) < ks.v.cfg.KeysMaxAge {
		ks.mu.Unlock()
		return found, nil
	}
	f := ks.startFetch(ep)
	ks.mu.Unlock()

	if f == nil {
		if found != nil {
			return found, nil // stale, but FxA was asked a moment ago
		}
		return nil, &unknownKidError{kid: kid, reason: fmt.Sprintf("keys fetched less than %v ago", ks.v.cfg.KeysFetchInterval)}
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		// The fetch goes on for the others.
		if found != nil {
			return found, nil
		}
		return nil, fmt.Errorf("%w: waiting for the keys: %v", ErrUnavailable, ctx.Err())
	}
	if f.err != nil {
		if found != nil {
			return found, nil // FxA is down: keep what it said before
		}
		return nil, &unknownKidError{kid: kid, reason: f.err.Error()}
	}
	ks.mu.Lock()
	found = ks.find(kid)
	ks.mu.Unlock()
	if found == nil {
		return nil, &unknownKidError{kid: kid, reason: "not in the keys just fetched"}
	}
	return found, nil
}

// startFetch returns the running fetch, or starts one unless the last
// started less than KeysFetchInterval ago (then it returns nil). ks.mu
// must be held.
func (ks *keySet) startFetch(ep Endpoints) *keyFetch {
	if ks.inflight != nil {
		return ks.inflight
	}
	now := ks.mono()
	if !ks.started.IsZero() && now.Sub(ks.started) < ks.v.cfg.KeysFetchInterval {
		return nil
	}
	ks.started = now
	f := &keyFetch{done: make(chan struct{})}
	ks.inflight = f
	// The fetch serves every waiting request, so it runs on its own: a
	// request that gives up must not make it fail for the others.
	go ks.run(ep, f)
	return f
}

// run fetches the keys for f and publishes the result.
func (ks *keySet) run(ep Endpoints, f *keyFetch) {
	keys, err := ks.fetch(context.Background(), ep)
	ks.mu.Lock()
	prevErr, prevKeys := ks.lastErr, ks.keys
	if err == nil {
		ks.keys = keys
		ks.fetchedAt = ks.v.now()
	}
	ks.lastErr = err
	ks.inflight = nil
	f.err = err
	ks.mu.Unlock()
	close(f.done)

	url := ep.OAuthURL + "/jwks"
	switch {
	case err != nil && prevErr == nil:
		ks.v.log.Warn("fxa: cannot fetch the OAuth server's keys; tokens signed with a key not fetched before go to its /v1/verify",
			"url", url, "error", err.Error())
	case err != nil:
		ks.v.log.Debug("fxa: cannot fetch the OAuth server's keys", "url", url, "error", err.Error())
	case !sameKids(prevKeys, keys):
		ks.v.log.Info("fxa: fetched the OAuth server's keys", "url", url, "kids", sortedKids(keys))
	default:
		// Forged kids make us fetch up to once per KeysFetchInterval:
		// nothing worth an info line each time.
		ks.v.log.Debug("fxa: fetched the OAuth server's keys; no change", "url", url)
	}
}

// refreshFor makes sure a kid that FxA's /v1/verify just vouched for is
// fetched soon, so that its users are verified locally from then on, even
// through a later FxA outage: at once if the rate bound allows, else as
// soon as it does. At most one such refresh waits at a time.
func (ks *keySet) refreshFor(ep Endpoints, kid string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.static || ks.find(kid) != nil || ks.refreshing {
		return
	}
	if ks.startFetch(ep) != nil {
		return
	}
	ks.refreshing = true
	wait := ks.v.cfg.KeysFetchInterval - ks.mono().Sub(ks.started)
	time.AfterFunc(max(wait, 0), func() {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		ks.refreshing = false
		if ks.find(kid) == nil {
			ks.startFetch(ep)
		}
	})
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

func sortedKids(keys map[string][]*rsa.PublicKey) []string {
	kids := make([]string, 0, len(keys))
	for k := range keys {
		kids = append(kids, k)
	}
	slices.Sort(kids)
	return kids
}

func sameKids(a, b map[string][]*rsa.PublicKey) bool {
	return slices.Equal(sortedKids(a), sortedKids(b))
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
