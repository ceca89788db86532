package mysql_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"syncserver/db"
	"syncserver/db/mysql"
	"syncserver/db/sqldb"
	"syncserver/internal/testdb"
)

// faults sits between the Store and the driver and fails the next n
// commits, or the next n statements that contain match, with err. With
// afterCommit, a failed commit has committed first: its answer was lost.
type faults struct {
	mu          sync.Mutex
	n           int
	match       string
	err         error
	afterCommit bool
}

func (f *faults) arm(n int, match string, err error, afterCommit bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.match, f.err, f.afterCommit = n, match, err, afterCommit
}

// take reports the error to answer for op (the statement, or "COMMIT").
func (f *faults) take(op string) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n <= 0 || !strings.Contains(op, f.match) {
		return nil, false
	}
	f.n--
	return f.err, f.afterCommit
}

func (f *faults) wrap(c driver.Connector) driver.Connector { return faultConnector{c, f} }

type faultConnector struct {
	driver.Connector
	f *faults
}

func (c faultConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &faultConn{conn, c.f}, nil
}

type faultConn struct {
	driver.Conn
	f *faults
}

func (c *faultConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return faultTx{tx, c.f}, nil
}

func (c *faultConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if err, _ := c.f.take(q); err != nil {
		return nil, err
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *faultConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if err, _ := c.f.take(q); err != nil {
		return nil, err
	}
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *faultConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *faultConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

func (c *faultConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

type faultTx struct {
	driver.Tx
	f *faults
}

func (t faultTx) Commit() error {
	err, after := t.f.take("COMMIT")
	switch {
	case err == nil:
		return t.Tx.Commit()
	case after:
		if cerr := t.Tx.Commit(); cerr != nil {
			return cerr
		}
	default:
		_ = t.Tx.Rollback()
	}
	return err
}

var (
	// errCertification is what a Galera member answers when another
	// member's transaction won the certification of the same rows.
	errCertification = &gomysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	errNotReady      = &gomysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use"}
	errLockWait      = &gomysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded; try restarting transaction"}
)

// twoHosts lists the server of uri twice: a cluster of two members that
// happen to share their data, for the failover rules.
func twoHosts(uri string) string {
	u, _ := url.Parse(uri)
	return strings.Replace(uri, "@"+u.Host+"/", "@"+u.Host+","+u.Host+"/", 1)
}

// TestRetry checks which failed transactions the Store runs again, and
// that nothing answered as written is lost or written twice: a
// certification conflict (1213) is run again, up to a bound, then
// answered db.ErrConflict; a lock wait timeout is not run again; with
// several hosts a transaction whose connection is lost before its commit
// runs again, but a commit that lost its answer does not.
func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hosts       int
		n           int
		match       string
		err         error
		afterCommit bool
		wantErr     error // nil: the write succeeds
		wantRuns    int
		wantStored  bool
	}{
		{"certification conflict at commit", 1, 1, "COMMIT", errCertification, false, nil, 2, true},
		{"certification conflict at a statement", 1, 2, "INSERT INTO bso", errCertification, false, nil, 3, true},
		{"conflicts past the bound", 1, 100, "COMMIT", errCertification, false, db.ErrConflict, 4, false},
		{"member not ready", 2, 1, "INSERT INTO bso", errNotReady, false, nil, 2, true},
		{"lock wait timeout", 1, 1, "COMMIT", errLockWait, false, db.ErrConflict, 1, false},
		{"connection lost, one host", 1, 1, "INSERT INTO bso", gomysql.ErrInvalidConn, false, db.ErrUnavailable, 1, false},
		{"connection lost, several hosts", 2, 1, "INSERT INTO bso", gomysql.ErrInvalidConn, false, nil, 2, true},
		{"commit answer lost", 2, 1, "COMMIT", gomysql.ErrInvalidConn, true, db.ErrUnavailable, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri := testdb.NewURI(t, "mysql")
			if tc.hosts == 2 {
				uri = twoHosts(uri)
			}
			f := &faults{}
			s, err := mysql.Open(context.Background(), uri, mysql.WithConnector(mysql.Options{}, f.wrap))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			f.arm(tc.n, tc.match, tc.err, tc.afterCommit)
			runs := 0
			err = s.Update(ctx, 1, func(tx db.Tx) error {
				runs++
				return tx.PutBSO("tabs", testdb.Rec("a"))
			})
			f.arm(0, "", nil, false)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Update = %v, want %v", err, tc.wantErr)
			}
			if runs != tc.wantRuns {
				t.Errorf("the transaction ran %d times, want %d", runs, tc.wantRuns)
			}
			if got := s.Retries(); got != int64(tc.wantRuns-1) {
				t.Errorf("Retries() = %d, want %d", got, tc.wantRuns-1)
			}
			var ids []string
			if err := s.View(ctx, 1, func(tx db.Tx) error {
				p, err := tx.FindBSOs("tabs", db.Query{Limit: -1})
				ids = ids[:0]
				for _, b := range p.Items {
					ids = append(ids, b.ID)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if stored := len(ids) == 1; stored != tc.wantStored || len(ids) > 1 {
				t.Errorf("records after the write: %v, want stored=%v", ids, tc.wantStored)
			}
		})
	}
}

// TestRetryRead checks that a read whose connection is lost runs again
// on the next host.
func TestRetryRead(t *testing.T) {
	f := &faults{}
	s, err := mysql.Open(context.Background(), twoHosts(testdb.NewURI(t, "mysql")), mysql.WithConnector(mysql.Options{}, f.wrap))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO("tabs", testdb.Rec("a")) }); err != nil {
		t.Fatal(err)
	}
	f.arm(1, "FROM bso", gomysql.ErrInvalidConn, false)
	runs := 0
	err = s.View(ctx, 1, func(tx db.Tx) error {
		runs++
		_, err := tx.FindBSOs("tabs", db.Query{Limit: -1})
		return err
	})
	if err != nil || runs != 2 {
		t.Errorf("View = %v after %d runs, want success after 2", err, runs)
	}
}

// TestFailover lists two relays to the test server as the members of a
// cluster and takes the first one down while writers run: the pools move
// to the second, every write answered as done is there afterwards, and
// the writes after the outage all succeed. Only writes whose commit was
// cut may fail.
func TestFailover(t *testing.T) {
	base := testdb.NewURI(t, "mysql")
	p1, u1 := testdb.NewProxy(t, base, true)
	_, u2 := testdb.NewProxy(t, base, true)
	h1, _ := url.Parse(u1)
	h2, _ := url.Parse(u2)
	uri := strings.Replace(u1, "@"+h1.Host+"/", "@"+h1.Host+","+h2.Host+"/", 1)
	s := testdb.OpenURI(t, uri, testdb.Options{Pool: sqldb.Pool{Size: 4, MaxOverflow: 4, Timeout: 5 * time.Second}})
	ctx := context.Background()

	const writers, perWriter = 8, 40
	var acked sync.Map
	var failed atomic.Int64
	var wg sync.WaitGroup
	down := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if i == perWriter/2 && w == 0 {
					p1.Down()
					close(down)
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				err := s.Update(ctx, db.UID(w+1), func(tx db.Tx) error { return tx.PutBSO("tabs", testdb.Rec(id)) })
				if err != nil {
					failed.Add(1)
					t.Logf("write %s: %v", id, err)
					continue
				}
				acked.Store(id, db.UID(w+1))
			}
		})
	}
	wg.Wait()
	<-down
	// Once the pools have moved, nothing fails.
	for i := range 20 {
		if err := s.Update(ctx, 99, func(tx db.Tx) error { return tx.PutBSO("tabs", testdb.Rec(fmt.Sprint(i))) }); err != nil {
			t.Errorf("write after the failover: %v", err)
		}
	}
	// Only a write whose commit was cut may fail (it may have been
	// written, so it is not run again): one per writer at most.
	if n := failed.Load(); n > writers {
		t.Errorf("%d writes failed during the failover; the retries should have carried all but those cut at their commit to the second host", n)
	}
	lost := 0
	acked.Range(func(k, v any) bool {
		var ok bool
		if err := s.View(ctx, v.(db.UID), func(tx db.Tx) error {
			ts, err := tx.BSOTimestamp("tabs", k.(string))
			ok = ts > 0
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !ok {
			lost++
		}
		return true
	})
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
	t.Logf("%d transactions run again", s.Retries())
}

// TestGaleraSchema checks what Galera needs of every table: InnoDB (the
// only engine it replicates) and a primary key (without one, row events
// cannot name the rows to change, and deletes replicate badly).
func TestGaleraSchema(t *testing.T) {
	uri := testdb.NewURI(t, "mysql")
	s := testdb.OpenURI(t, uri, testdb.Options{})
	// The tokenserver's users table is made on first use of the nodes.
	if err := s.Users().EnsureNode(context.Background(), db.Service, "https://sync.example/", 100); err != nil {
		t.Logf("EnsureNode: %v", err)
	}
	admin := testdb.Admin(t, uri)
	name := strings.TrimPrefix(mustURL(t, uri).Path, "/")
	rows, err := admin.Query(`SELECT t.table_name, t.engine,
		(SELECT COUNT(*) FROM information_schema.table_constraints c
		 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')
		FROM information_schema.tables t WHERE t.table_schema = ? AND t.table_type = 'BASE TABLE'`, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, engine string
		var pks int
		if err := rows.Scan(&table, &engine, &pks); err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.EqualFold(engine, "InnoDB") {
			t.Errorf("table %s uses %s; Galera replicates only InnoDB", table, engine)
		}
		if pks != 1 {
			t.Errorf("table %s has no primary key, which Galera needs", table)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("found %d tables, expected the whole schema", n)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
