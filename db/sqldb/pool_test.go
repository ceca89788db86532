package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
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

// noConnector never connects: Configure needs only the pool.
type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }

func (noConnector) Driver() driver.Driver { return nil }
