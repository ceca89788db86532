package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want Pool
	}{
		{"zero", Pool{}, Pool{Size: 5, MaxOverflow: 10, Recycle: time.Hour, Timeout: 30 * time.Second}},
		{"set", Pool{Size: 20, MaxOverflow: 0, Recycle: 0, Timeout: time.Second}, Pool{Size: 20, Recycle: 0, Timeout: time.Second}},
		{"out of range", Pool{Size: -1, MaxOverflow: -3, Recycle: -1, Timeout: -1}, Pool{Size: 5, Recycle: -1, Timeout: 30 * time.Second}},
	} {
		if got := tc.in.WithDefaults(); got != tc.want {
			t.Errorf("%s: %+v.WithDefaults() = %+v, want %+v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestPoolConfigure(t *testing.T) {
	pool := sql.OpenDB(noConnector{})
	defer pool.Close()
	Pool{Size: 1, MaxOverflow: 0}.Configure(pool)
	if got := pool.Stats().MaxOpenConnections; got != 2 {
		t.Errorf("MaxOpenConnections = %d, want 2 (a schema lock needs a second connection)", got)
	}
	Pool{Size: 4, MaxOverflow: 6}.Configure(pool)
	if got := pool.Stats().MaxOpenConnections; got != 10 {
		t.Errorf("MaxOpenConnections = %d, want 10", got)
	}
}

// TestPoolKeepsOverflowConnections: connections returned while more than
// Size are open stay in the pool instead of being closed, so that a
// steady load above Size concurrent requests does not reconnect for each.
func TestPoolKeepsOverflowConnections(t *testing.T) {
	c := &countingConnector{}
	pool := sql.OpenDB(c)
	defer pool.Close()
	Pool{Size: 2, MaxOverflow: 4}.Configure(pool)
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		var conns []*sql.Conn
		for i := 0; i < 6; i++ {
			conn, err := pool.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
		}
		for _, conn := range conns {
			conn.Close()
		}
	}
	if n := c.opened.Load(); n != 6 {
		t.Errorf("%d connections opened for 3 rounds of 6 concurrent users, want 6", n)
	}
	if got := pool.Stats().MaxIdleClosed; got != 0 {
		t.Errorf("%d connections closed for the idle limit, want 0", got)
	}
}

// countingConnector counts the connections it opens.
type countingConnector struct{ opened atomic.Int64 }

func (c *countingConnector) Connect(context.Context) (driver.Conn, error) {
	c.opened.Add(1)
	return fakeConn{}, nil
}

func (c *countingConnector) Driver() driver.Driver { return nil }

type fakeConn struct{}

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, driver.ErrSkip }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, driver.ErrSkip }

// noConnector never connects: Configure needs only the pool.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }

func (noConnector) Driver() driver.Driver { return nil }
