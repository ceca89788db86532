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
	// Size is how many connections a pool keeps open while idle
	// (pool_size; default 5, SQLAlchemy's, which the legacy bundle used).
	Size int
	// MaxOverflow is how many more it opens under load
	// (pool_max_overflow; default 10).
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
func (p Pool) Configure(pool *sql.DB) {
	p = p.WithDefaults()
	pool.SetMaxIdleConns(p.Size)
	pool.SetMaxOpenConns(max(2, p.Size+p.MaxOverflow))
	if p.Recycle > 0 {
		pool.SetConnMaxLifetime(p.Recycle)
	}
}
