package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"syncserver/db"
)

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		sync string
		want int // PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL
	}{{"", 2}, {"FULL", 2}, {"normal", 1}, {"OFF", 0}} {
		t.Run("synchronous="+c.sync, func(t *testing.T) {
			s, p, err := open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{Synchronous: c.sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for name, pool := range map[string]*sql.DB{"writer": p.writer, "reader": p.reader} {
				var mode string
				var sync, busy int
				conn, err := pool.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
					t.Fatal(err)
				}
				conn.Close()
				if mode != "wal" || sync != c.want || busy != 10000 {
					t.Errorf("%s: journal_mode %s, synchronous %d, busy_timeout %d; want wal, %d, 10000", name, mode, sync, busy, c.want)
				}
			}
			if p.writer.Stats().MaxOpenConnections != 1 {
				t.Errorf("writer pool allows %d connections, want 1", p.writer.Stats().MaxOpenConnections)
			}
		})
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{Synchronous: "sometimes"}); err == nil {
		t.Errorf("a bad synchronous value was accepted")
	}
}

// TestPageCache: each connection's page cache is bounded as configured,
// the writer's WriterCacheFactor times a reader's.
func TestPageCache(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		bytes  int64
		reader int // PRAGMA cache_size: negative KiB
	}{{0, -DefaultPageCacheBytes >> 10}, {256 << 10, -256}, {100, -1}} {
		t.Run(fmt.Sprint(c.bytes), func(t *testing.T) {
			s, p, err := open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{PageCacheBytes: c.bytes})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for name, want := range map[string]int{"writer": c.reader * WriterCacheFactor, "reader": c.reader} {
				pool := p.writer
				if name == "reader" {
					pool = p.reader
				}
				var got int
				if err := pool.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s: cache_size %d, want %d", name, got, want)
				}
			}
		})
	}
}

// TestValidate: Validate accepts exactly the levels Open sets, and Stats
// reads the level in force back.
func TestValidate(t *testing.T) {
	for _, level := range []string{"", "FULL", "full", "NORMAL", " off "} {
		if err := (Options{Synchronous: level}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", level, err)
		}
	}
	for _, level := range []string{"EXTRA", "sometimes", "2", "FULL; DROP TABLE bso"} {
		err := (Options{Synchronous: level}).Validate()
		if !errors.Is(err, ErrSynchronous) {
			t.Errorf("Validate(%q) = %v, want ErrSynchronous", level, err)
		}
		path := filepath.Join(t.TempDir(), "s.db")
		if s, err := Open(context.Background(), path, Options{Synchronous: level}); !errors.Is(err, ErrSynchronous) {
			t.Errorf("Open with %q = %v, want ErrSynchronous", level, err)
			if s != nil {
				s.Close()
			}
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Open with %q made the file: %v", level, err)
		}
	}
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, err := s.Stats(context.Background()); err != nil || st.Synchronous != "NORMAL" {
		t.Errorf("Stats = %+v, %v; want synchronous NORMAL", st, err)
	}
}

func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{path, path + "-wal"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestBackupNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var names []string
	for range 3 {
		name, err := backup(ctx, dbFile{uri: "file:" + path, sync: "FULL"}, path, "test")
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		fi, err := os.Stat(name)
		if err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("copy %s: %v, %v", name, fi, err)
		}
	}
	if names[0] == names[1] || names[1] == names[2] || names[0] == names[2] {
		t.Errorf("copies share names: %v", names)
	}
}

// TestDiskFullDoomsTheTransaction: after a database error the transaction
// commits nothing, even when the callback ignores the error and goes on
// (SQLite may have rolled it back already, and later statements would
// then commit one by one).
func TestDiskFullDoomsTheTransaction(t *testing.T) {
	ctx := context.Background()
	s, p, err := open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := p.writer.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer pool's one connection may grow the file by 3 pages.
	if _, err := p.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+3)); err != nil {
		t.Fatal(err)
	}
	var writeErr, afterErr error
	err = s.Update(ctx, 1, func(tx db.Tx) error {
		if err := tx.PutBSO("tabs", db.BSOUpdate{ID: "small", Payload: new(string)}); err != nil {
			return err
		}
		big := strings.Repeat("x", 100000)
		writeErr = tx.PostBSOs("tabs", []db.BSOUpdate{{ID: "big", Payload: &big}})
		afterErr = tx.PutBSO("tabs", db.BSOUpdate{ID: "after", Payload: new(string)})
		return nil // a handler reporting the failure per item
	})
	if !errors.Is(writeErr, db.ErrUnavailable) || !errors.Is(afterErr, db.ErrUnavailable) || !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("write %v, next write %v, Update %v; want db.ErrUnavailable for all", writeErr, afterErr, err)
	}
	if _, err := p.writer.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM bso").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d records committed (%v), want none", n, err)
	}
}
