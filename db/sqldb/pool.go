package sqldb

import (
	"database/sql"
	"time"
)

// Pool is how a database server backend (MySQL, PostgreSQL) sizes its
// connection pools: the legacy server's [storage] pool_* settings. A
// backend has two pools, one for writes and one for reads, and each gets
// these numbers. The zero value means the defaults.
type Pool struct {
	// Size (pool_size; default 5, SQLAlchemy's, which the legacy bundle
	// used) and MaxOverflow (pool_max_overflow; default 10) together
	// bound the connections a pool opens. Unlike SQLAlchemy's pool, ours
	// does not close the overflow connections as soon as they are
	// returned: every connection stays open until it has been idle for
	// IdleTimeout (see Configure).
	Size        int
	MaxOverflow int
	// Recycle replaces connections older than this (pool_recycle;
	// default an hour, well inside MySQL's 8-hour wait_timeout and the
	// idle timeouts of firewalls); 0 or negative keeps them for ever.
	Recycle time.Duration
	// Timeout bounds the wait for a connection, connecting included
	// (pool_timeout; default 30 s); past it a request gets 503.
	Timeout time.Duration
}

// Pool defaults; see Pool.
const (
	DefaultPoolSize        = 5
	DefaultPoolMaxOverflow = 10
	DefaultPoolRecycle     = time.Hour
	DefaultPoolTimeout     = 30 * time.Second
)

// IdleTimeout is how long a connection may stay unused in a pool before
// it is closed: long enough to carry a busy server through its lulls, so
// that a pool gives back the connections of a peak only once it is over.
const IdleTimeout = 5 * time.Minute

// WithDefaults returns the defaults for the zero Pool, and otherwise p
// with its out-of-range fields set to their defaults.
func (p Pool) WithDefaults() Pool {
	if p == (Pool{}) {
		return Pool{Size: DefaultPoolSize, MaxOverflow: DefaultPoolMaxOverflow, Recycle: DefaultPoolRecycle, Timeout: DefaultPoolTimeout}
	}
	if p.Size <= 0 {
		p.Size = DefaultPoolSize
	}
	p.MaxOverflow = max(p.MaxOverflow, 0)
	if p.Timeout <= 0 {
		p.Timeout = DefaultPoolTimeout
	}
	return p
}

// Configure applies the settings to a pool. A pool holds at least two
// connections: a schema change holds Dialect.SchemaLock on one while its
// transaction runs on another.
//
// A pool keeps as many idle connections as it may open. With fewer (the
// old Size), every request above Size concurrent ones closed its
// connection on return and the next one opened a new one: a TCP
// handshake, the login and the session settings, several round trips
// for a one-statement request (measured on a token request at 32
// clients: 266 connections opened in 5 s on MariaDB instead of 20, and
// half the throughput on PostgreSQL). database/sql has no minimum of
// idle connections, so IdleTimeout closes all those unused for that
// long, Size included: a quiet server reconnects on its next request.
func (p Pool) Configure(pool *sql.DB) {
	p = p.WithDefaults()
	n := max(2, p.Size+p.MaxOverflow)
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(IdleTimeout)
	if p.Recycle > 0 {
		pool.SetConnMaxLifetime(p.Recycle)
	}
}
