package token

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestCacheParse(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	c := NewCache(s, 10)
	for i := range 3 {
		p, key, err := c.Parse(vecToken)
		if err != nil {
			t.Fatalf("Parse #%d: %v", i, err)
		}
		if got, want := p, vecPayloadStruct; got != want {
			t.Errorf("Parse #%d payload = %+v, want %+v", i, got, want)
		}
		if got, want := key, vecKey; got != want {
			t.Errorf("Parse #%d key = %s, want %s", i, got, want)
		}
	}
	if got, want := len(c.cur)+len(c.old), 1; got != want {
		t.Errorf("cached entries = %d, want %d", got, want)
	}
}

func TestCacheSkipsInvalid(t *testing.T) {
	c := NewCache(MustSecrets(t, "other"), 10)
	for range 2 {
		if _, _, err := c.Parse(vecToken); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Parse: err = %v, want ErrInvalid", err)
		}
	}
	if got := len(c.cur) + len(c.old); got != 0 {
		t.Errorf("cached entries = %d after invalid tokens, want 0", got)
	}
}

func TestCacheBound(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	const size = 10
	c := NewCache(s, size)
	hot, _ := mustMint(t, s, Payload{UID: 1, Node: "n", Expires: 1})
	for i := range 100 {
		tok, key := mustMint(t, s, Payload{UID: int64(i), Node: "n", Expires: 1})
		_, gotKey, err := c.Parse(tok)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if gotKey != key {
			t.Fatalf("key = %s, want %s", gotKey, key)
		}
		if _, _, err := c.Parse(hot); err != nil { // keep one token in use
			t.Fatalf("Parse(hot): %v", err)
		}
		if got := len(c.cur) + len(c.old); got > size {
			t.Fatalf("after %d tokens the cache holds %d entries, want at most %d", i+1, got, size)
		}
	}
	inCur, inOld := generations(c, hot)
	if !inCur && !inOld {
		t.Errorf("a token in constant use was evicted")
	}
	if inCur && inOld {
		t.Errorf("a token is cached in both generations")
	}
}

func TestCacheTinySize(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	for _, size := range []int{-1, 0, 1, 2} {
		c := NewCache(s, size)
		for i := range 5 {
			tok, _ := mustMint(t, s, Payload{UID: int64(i), Node: "n", Expires: 1})
			if _, _, err := c.Parse(tok); err != nil {
				t.Fatalf("size %d: Parse: %v", size, err)
			}
		}
		if got := len(c.cur) + len(c.old); got > 2 {
			t.Errorf("size %d: cache holds %d entries, want at most 2", size, got)
		}
	}
}

func TestCacheBytesBound(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	const maxBytes = 20000
	c := NewCacheBytes(s, maxBytes)
	hot, _ := mustMint(t, s, Payload{UID: 1, Node: "n", Expires: 1})
	for i := range 200 {
		// Tokens of growing size: the bound holds in bytes, not entries.
		p := Payload{UID: int64(i), Node: "n" + strings.Repeat("x", i*10), Expires: 1}
		tok, key := mustMint(t, s, p)
		got, gotKey, err := c.Parse(tok)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got.UID != p.UID || got.Node != p.Node || gotKey != key {
			t.Fatalf("Parse = %+v %s, want %+v %s", got, gotKey, p, key)
		}
		if _, _, err := c.Parse(hot); err != nil { // keep one token in use
			t.Fatalf("Parse(hot): %v", err)
		}
		var strs int64
		c.mu.RLock()
		for _, m := range []map[string]cacheEntry{c.cur, c.old} {
			for k, e := range m {
				strs += int64(len(k) + len(e.key) + len(e.p.Node))
			}
		}
		c.mu.RUnlock()
		if b := c.Bytes(); b > maxBytes || strs > b {
			t.Fatalf("after %d tokens the cache counts %d bytes (strings alone %d), want at most %d", i+1, b, strs, maxBytes)
		}
	}
	inCur, inOld := generations(c, hot)
	if !inCur && !inOld {
		t.Errorf("a token in constant use was evicted")
	}
}

// TestCacheBytesHuge keeps a token larger than the whole bound: caching it
// alone costs one entry, and refusing it would re-parse it on every request.
func TestCacheBytesHuge(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	c := NewCacheBytes(s, 1000)
	tok, _ := mustMint(t, s, Payload{UID: 7, Node: "n" + strings.Repeat("x", 5000), Expires: 1})
	for range 3 {
		if _, _, err := c.Parse(tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(c.cur) + len(c.old); got != 1 {
		t.Errorf("cached entries = %d, want 1", got)
	}
	small, _ := mustMint(t, s, Payload{UID: 8, Node: "n", Expires: 1})
	if _, _, err := c.Parse(small); err != nil {
		t.Fatal(err)
	}
	if got := len(c.cur); got != 1 {
		t.Errorf("current generation holds %d entries after a small token, want 1", got)
	}
}

func TestCacheConcurrent(t *testing.T) {
	s := MustSecrets(t, vecSecret)
	c := NewCache(s, 8)
	var toks []string
	for i := range 20 {
		tok, _ := mustMint(t, s, Payload{UID: int64(i), Node: "n", Expires: 1})
		toks = append(toks, tok)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(toks)
				p, _, err := c.Parse(toks[k])
				if err != nil {
					t.Errorf("Parse: %v", err)
					return
				}
				if p.UID != int64(k) {
					t.Errorf("uid = %d, want %d", p.UID, k)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkCacheParse(b *testing.B) {
	c := NewCache(MustSecrets(b, vecSecret), 1000)
	if _, _, err := c.Parse(vecToken); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := c.Parse(vecToken); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheParseParallel(b *testing.B) {
	c := NewCache(MustSecrets(b, vecSecret), 1000)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Parse(vecToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// generations reports which of the cache's two generations hold tok.
func generations(c *Cache, tok string) (inCur, inOld bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, inCur = c.cur[tok]
	_, inOld = c.old[tok]
	return inCur, inOld
}
