package testdb

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP relay in front of a database server that a test can
// take down and bring back up, to play an outage without stopping the
// server other tests use.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool

	sends atomic.Int64
}

// Sends counts the reads of client data the proxy has relayed: a client
// that writes a request and waits for the answer is one send per round
// trip (a request written in several pieces at once may count more).
func (p *Proxy) Sends() int64 { return p.sends.Load() }

// countingReader counts the reads that return data.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.n.Add(1)
	}
	return n, err
}

// NewProxy returns a relay to the host of the server sqluri, listening on
// a port of its own, and the sqluri that goes through it. It starts down
// when up is false.
func NewProxy(tb testing.TB, uri string, up bool) (*Proxy, string) {
	tb.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{tb: tb, target: u.Host, addr: ln.Addr().String(), conns: make(map[net.Conn]bool)}
	if up {
		p.serve(ln)
	} else {
		ln.Close()
	}
	tb.Cleanup(p.Down)
	u.Host = p.addr
	return p, u.String()
}

// Up starts relaying again on the same port.
func (p *Proxy) Up() {
	p.tb.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("proxy up: %v", err)
	}
	p.serve(ln)
}

// Down refuses new connections and cuts the open ones.
func (p *Proxy) Down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.Cut()
}

// Cut cuts every open connection, as a network failure or a database
// restart would, and keeps accepting new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
}

func (p *Proxy) relay(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, from io.Reader) {
		io.Copy(dst, from)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(s, c, countingReader{c, &p.sends})
	go pipe(c, s, s)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}
