package testdb

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/sqldb"
)

// KillConnections ends, from the server side, every connection to the
// test database of a sqluri (one NewURI made): MySQL KILL, PostgreSQL
// pg_terminate_backend. It is what a database restart or an operator does
// to a server in the middle of its requests.
func KillConnections(tb testing.TB, uri string) int {
	tb.Helper()
	admin := Admin(tb, uri)
	var ids []int64
	var query string
	var args []any
	if strings.HasPrefix(uri, "mysql") {
		query = "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
	} else {
		u, _ := url.Parse(uri)
		query = "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()"
		args = append(args, u.Query().Get("application_name"))
	}
	rows, err := admin.Query(query, args...)
	if err != nil {
		tb.Fatalf("listing connections: %v", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		var err error
		if strings.HasPrefix(uri, "mysql") {
			_, err = admin.Exec("KILL ?", id)
		} else {
			_, err = admin.Exec("SELECT pg_terminate_backend($1)", id)
		}
		if err != nil && !strings.Contains(err.Error(), "Unknown thread") {
			tb.Fatalf("ending connection %d: %v", id, err)
		}
	}
	return len(ids)
}

// RunOutages checks what a database server backend does when its server
// goes away: a Lazy store starts while the server is down and becomes
// ready when it comes up; a connection lost in the middle of a write
// transaction fails it with db.ErrUnavailable and writes nothing of it;
// the store then serves again without a restart.
func RunOutages(t *testing.T, backend string) {
	t.Run("StartWhileDown", func(t *testing.T) {
		t.Parallel()
		proxy, uri := NewProxy(t, NewURI(t, backend), false)
		ctx := context.Background()
		if s, err := OpenURIErr(ctx, uri, Options{}); !errors.Is(err, db.ErrUnavailable) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("Open while the server is down, not lazy = %v, want db.ErrUnavailable", err)
		}
		s := OpenURI(t, uri, Options{Lazy: true, Pool: sqldb.Pool{Size: 2, Timeout: 2 * time.Second}})
		if err := s.Ping(ctx); !errors.Is(err, db.ErrUnavailable) {
			t.Errorf("Ping while down = %v", err)
		}
		err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO("tabs", Rec("a")) })
		if !errors.Is(err, db.ErrUnavailable) {
			t.Errorf("Update while down = %v", err)
		}
		if _, err := s.Users().GetUser(ctx, db.Service, "x"); !errors.Is(err, db.ErrUnavailable) {
			t.Errorf("GetUser while down = %v", err)
		}
		proxy.Up()
		deadline := time.Now().Add(10 * time.Second)
		for s.Ping(ctx) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the store did not become ready after the server came up: %v", s.Ping(ctx))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v < 5 {
			t.Errorf("SchemaVersion after coming up = %d, %v", v, err)
		}
		if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO("tabs", Rec("a")) }); err != nil {
			t.Errorf("Update after coming up: %v", err)
		}
	})
	for _, how := range []string{"network", "server"} {
		t.Run("ConnectionLostMidTransaction/"+how, func(t *testing.T) {
			t.Parallel()
			proxy, uri := NewProxy(t, NewURI(t, backend), true)
			s := OpenURI(t, uri, Options{})
			ctx := context.Background()
			put := func(ids ...string) error {
				return s.Update(ctx, 1, func(tx db.Tx) error {
					for _, id := range ids {
						if id == "|" {
							if how == "network" {
								proxy.Cut()
							} else if KillConnections(t, uri) == 0 {
								t.Errorf("no connection to end")
							}
							continue
						}
						// Like a handler, report a failed item and go on.
						_ = tx.PutBSO("tabs", Rec(id))
					}
					return nil
				})
			}
			if err := put("a"); err != nil {
				t.Fatal(err)
			}
			if err := put("b", "c", "|", "d"); !errors.Is(err, db.ErrUnavailable) {
				t.Fatalf("Update that lost its connection = %v, want db.ErrUnavailable", err)
			}
			// The pool recovers by itself; nothing of the failed
			// transaction was written.
			var got []string
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := s.View(ctx, 1, func(tx db.Tx) error {
					p, err := tx.FindBSOs("tabs", db.Query{Limit: -1, Sort: db.SortOldest})
					got = got[:0]
					for _, b := range p.Items {
						got = append(got, b.ID)
					}
					return err
				})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("reading after the outage: %v", err)
				}
			}
			if strings.Join(got, ",") != "a" {
				t.Errorf("records after the failed transaction = %v, want [a]", got)
			}
			if err := put("e"); err != nil {
				t.Errorf("write after the outage: %v", err)
			}
		})
	}
}

// Rec is a record update with a payload.
func Rec(id string) db.BSOUpdate {
	p := "payload " + id
	return db.BSOUpdate{ID: id, Payload: &p}
}
