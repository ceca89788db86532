package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// A sqluri may list several servers of one database, a Galera cluster's
// members for one: mysql://user:password@host1:3306,host2:3306/database.
// Connections go to one member at a time, the first listed at start, and
// stay with the last one that answered; when a member goes away (its
// connections lost, refused, or answering that it is not ready for
// application use, error 1047) the pool's connections to it are dropped
// and new ones go to the next member in the list. The writer and the
// reader pool share that choice, so that a user reads on the member that
// took the user's writes.

// splitHosts takes the list of hosts out of a URL's authority: it returns
// the URL with only the first host, for net/url, and every host as
// written ("host", "host:port", "[::1]:port"), or nil when there is one.
func splitHosts(raw string) (string, []string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw, nil, nil
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	hostStart := strings.LastIndex(authority, "@") + 1
	list := authority[hostStart:]
	if !strings.Contains(list, ",") {
		return raw, nil, nil
	}
	hosts := strings.Split(list, ",")
	for i, h := range hosts {
		if strings.TrimSpace(h) == "" {
			return "", nil, fmt.Errorf("the host list %q has an empty entry %d: write host1:port1,host2:port2", list, i+1)
		}
	}
	return scheme + "://" + authority[:hostStart] + hosts[0] + rest[end:], hosts, nil
}

// hostAddr reads one host of the list as host:port, the port 3306 when
// none is given.
func hostAddr(h string) (string, error) {
	host, port := h, "3306"
	if strings.HasPrefix(h, "[") {
		i := strings.Index(h, "]")
		if i < 0 {
			return "", fmt.Errorf("host %q: an IPv6 address needs its closing ]", h)
		}
		host = h[1:i]
		if rest := h[i+1:]; rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", fmt.Errorf("host %q: want [address]:port", h)
			}
			port = rest[1:]
		}
	} else if hh, p, ok := strings.Cut(h, ":"); ok {
		host, port = hh, p
	}
	if host == "" || strings.ContainsAny(host, " \t/@?#[]") {
		return "", fmt.Errorf("host %q is not a host name or address", h)
	}
	if n, err := parsePort(port); err != nil || n == 0 {
		return "", fmt.Errorf("host %q: the port must be a number from 1 to 65535", h)
	}
	return net.JoinHostPort(host, port), nil
}

func parsePort(s string) (int, error) {
	n := 0
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

// members is the shared state of the connectors of one Store's pools over
// several servers.
type members struct {
	addrs []string
	conns []driver.Connector

	mu sync.Mutex
	// cur is the member new connections try first: the last that
	// answered.
	cur int
	// epoch counts, per member, the times it was found gone; a
	// connection made before the last one is not reused.
	epoch []uint64
}

func newMembers(cfg *mysql.Config, addrs []string, wrap func(driver.Connector) driver.Connector) (*members, error) {
	m := &members{addrs: addrs, epoch: make([]uint64, len(addrs))}
	firstHost, _, _ := net.SplitHostPort(cfg.Addr)
	for _, a := range addrs {
		c := cfg.Clone()
		c.Addr = a
		if c.TLS != nil && c.TLS.ServerName == firstHost {
			c.TLS.ServerName, _, _ = net.SplitHostPort(a)
		}
		conn, err := mysql.NewConnector(c)
		if err != nil {
			return nil, err
		}
		if wrap != nil {
			conn = wrap(conn)
		}
		m.conns = append(m.conns, conn)
	}
	return m, nil
}

// first is the member to try first.
func (m *members) first() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

func (m *members) epochOf(i int) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch[i]
}

// answered records that member i took a connection.
func (m *members) answered(i int) {
	m.mu.Lock()
	m.cur = i
	m.mu.Unlock()
}

// gone records that member i went away as of epoch e: its connections
// are dropped and new ones go to the next member. A member already
// reported gone since e is not moved past twice.
func (m *members) gone(i int, e uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch[i] != e {
		return
	}
	m.epoch[i]++
	if m.cur == i {
		m.cur = (i + 1) % len(m.addrs)
	}
}

// memberConnector is one pool's driver.Connector over the members: it
// tries them in order from the last that answered, and sets up each
// connection with the pool's session statement.
type memberConnector struct {
	m     *members
	setup string
}

// errNotReady is what a member that is not part of the cluster's primary
// component (wsrep_ready OFF) is taken to answer: Galera's 1047.
var errNotReady = &mysql.MySQLError{Number: 1047, Message: "WSREP has not yet prepared node for application use (wsrep_ready is OFF)"}

func (c memberConnector) Connect(ctx context.Context) (driver.Conn, error) {
	start := c.m.first()
	var errs []error
	for k := range c.m.addrs {
		i := (start + k) % len(c.m.addrs)
		e := c.m.epochOf(i)
		conn, err := c.dial(ctx, i)
		if err == nil {
			c.m.answered(i)
			return &memberConn{Conn: conn, m: c.m, member: i, epoch: e}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.m.addrs[i], err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dial connects to member i, sets the session up and checks that the
// member is ready for application use: a Galera member cut off from the
// cluster's majority accepts connections and answers 1047 to queries.
func (c memberConnector) dial(ctx context.Context, i int) (driver.Conn, error) {
	conn, err := c.m.conns[i].Connect(ctx)
	if err != nil {
		return nil, err
	}
	err = func() error {
		if _, err := conn.(driver.ExecerContext).ExecContext(ctx, c.setup, nil); err != nil {
			return err
		}
		on, err := showValue(ctx, conn, "SHOW VARIABLES LIKE 'wsrep_on'")
		if err != nil || !strings.EqualFold(on, "ON") {
			return err // not a Galera member
		}
		ready, err := showValue(ctx, conn, "SHOW GLOBAL STATUS LIKE 'wsrep_ready'")
		if err == nil && !strings.EqualFold(ready, "ON") {
			err = errNotReady
		}
		return err
	}()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// showValue runs a SHOW … LIKE statement and returns the value of its
// row, "" when there is none.
func showValue(ctx context.Context, conn driver.Conn, query string) (string, error) {
	rows, err := conn.(driver.QueryerContext).QueryContext(ctx, query, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	row := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(row); err == io.EOF {
		return "", nil
	} else if err != nil {
		return "", err
	}
	switch v := row[len(row)-1].(type) {
	case []byte:
		return string(v), nil
	case string:
		return v, nil
	}
	return "", nil
}

func (c memberConnector) Driver() driver.Driver { return c.m.conns[0].Driver() }

// memberConn is a connection to one member. It notices when the member
// goes away (a lost connection, 1047, or another connection to the
// member that found it gone) and is then never used again.
type memberConn struct {
	driver.Conn
	m      *members
	member int
	epoch  uint64
	broken atomic.Bool
}

var (
	_ driver.ConnBeginTx        = (*memberConn)(nil)
	_ driver.ExecerContext      = (*memberConn)(nil)
	_ driver.QueryerContext     = (*memberConn)(nil)
	_ driver.ConnPrepareContext = (*memberConn)(nil)
	_ driver.Pinger             = (*memberConn)(nil)
	_ driver.SessionResetter    = (*memberConn)(nil)
	_ driver.Validator          = (*memberConn)(nil)
	_ driver.NamedValueChecker  = (*memberConn)(nil)
	_ driver.Tx                 = memberTx{}
	_ driver.Connector          = memberConnector{}
)

// check looks at the error of a call: one that says the member is gone
// marks it gone.
func (c *memberConn) check(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, driver.ErrSkip) || ctx.Err() != nil {
		return err
	}
	if isConnection(err) || errNumber(err, 1047) {
		c.broken.Store(true)
		c.m.gone(c.member, c.epoch)
	}
	return err
}

func (c *memberConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, c.check(ctx, err)
	}
	return memberTx{tx, c}, nil
}

func (c *memberConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := e.ExecContext(ctx, query, args)
	return r, c.check(ctx, err)
}

func (c *memberConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := q.QueryContext(ctx, query, args)
	return r, c.check(ctx, err)
}

func (c *memberConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		s, err := c.Conn.Prepare(query)
		return s, c.check(ctx, err)
	}
	s, err := p.PrepareContext(ctx, query)
	return s, c.check(ctx, err)
}

func (c *memberConn) Ping(ctx context.Context) error {
	p, ok := c.Conn.(driver.Pinger)
	if !ok {
		return nil
	}
	return c.check(ctx, p.Ping(ctx))
}

// ResetSession refuses a connection to a member found gone since it was
// made, so that the pool drops it and makes a new one.
func (c *memberConn) ResetSession(ctx context.Context) error {
	if !c.IsValid() {
		return driver.ErrBadConn
	}
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *memberConn) IsValid() bool {
	if c.broken.Load() || c.m.epochOf(c.member) != c.epoch {
		return false
	}
	v, ok := c.Conn.(driver.Validator)
	return !ok || v.IsValid()
}

func (c *memberConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := c.Conn.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// memberTx watches the commit and rollback of a transaction.
type memberTx struct {
	driver.Tx
	c *memberConn
}

func (t memberTx) Commit() error {
	return t.c.check(context.Background(), t.Tx.Commit())
}

func (t memberTx) Rollback() error {
	return t.c.check(context.Background(), t.Tx.Rollback())
}
