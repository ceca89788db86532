package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"
)

// payload450 is a record the size of a typical encrypted history item.
func payload450(i int) string {
	p := fmt.Sprintf(`{"ciphertext":"%d`, i)
	return p + strings.Repeat("x", 450-len(p)-2) + `"}`
}

func benchUpdates(n, round int) []db.BSOUpdate {
	ups := make([]db.BSOUpdate, n)
	for i := range ups {
		ups[i] = db.BSOUpdate{ID: fmt.Sprintf("r%04d-%06d", i, round%1000), Payload: dbtest.Str(payload450(i)), SortIndex: dbtest.Int(int64(i))}
	}
	return ups
}

// BenchmarkPost100 is one POST of 100 records: one Update with PostBSOs.
func BenchmarkPost100(b *testing.B) {
	for _, sync := range []string{"FULL", "OFF"} {
		b.Run(sync, func(b *testing.B) {
			s, _ := openFile(b, nil, sqlite.Options{Synchronous: sync})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ups := benchUpdates(100, i)
				i++
				if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PostBSOs("history", ups) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPostVaried is uploads of the sizes Firefox sends, 1 to 100
// records (sizes cycle through 20 primes, so that no two in a row are
// alike), plain (one Update with PostBSOs) and batched (each upload
// appended to an open batch, which is committed every fifth upload).
// Unlike BenchmarkPost100, whose one size lets every statement be
// cached, it counts what statements of changing sizes cost.
func BenchmarkPostVaried(b *testing.B) {
	sizes := []int{23, 97, 41, 3, 71, 59, 13, 89, 31, 67, 2, 83, 47, 19, 61, 7, 79, 37, 53, 100}
	for _, mode := range []string{"plain", "batched"} {
		b.Run(mode, func(b *testing.B) {
			s, _ := openFile(b, nil, sqlite.Options{Synchronous: "OFF"})
			ctx := context.Background()
			b.ReportAllocs()
			var batch int64
			i, records := 0, 0
			for b.Loop() {
				ups := benchUpdates(sizes[i%len(sizes)], i)
				records += len(ups)
				i++
				err := s.Update(ctx, 1, func(tx db.Tx) error {
					if mode == "plain" {
						return tx.PostBSOs("history", ups)
					}
					if batch == 0 {
						var err error
						if batch, err = tx.CreateBatch("history"); err != nil {
							return err
						}
					}
					if err := tx.AppendBatch("history", batch, ups); err != nil {
						return err
					}
					if i%5 != 0 {
						return nil
					}
					defer func() { batch = 0 }()
					return tx.CommitBatch("history", batch)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		})
	}
}

// BenchmarkRawInsert100 is the floor for BenchmarkPost100: a plain
// database/sql transaction inserting 100 rows with one prepared statement
// into the same kind of file (WAL, same synchronous setting).
func BenchmarkRawInsert100(b *testing.B) {
	for _, sync := range []string{"FULL", "OFF"} {
		b.Run(sync, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "raw.db")
			raw, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous="+sync+"&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			raw.SetMaxOpenConns(1)
			if _, err := raw.Exec(`CREATE TABLE bso (userid INTEGER NOT NULL, collection INTEGER NOT NULL, id VARCHAR(64) NOT NULL, sortindex INTEGER, modified BIGINT NOT NULL, payload TEXT NOT NULL, payload_size INTEGER DEFAULT 0 NOT NULL, ttl INTEGER DEFAULT 2100000000 NOT NULL, PRIMARY KEY (userid, collection, id));
				CREATE INDEX bso_ttl_idx ON bso (ttl); CREATE INDEX bso_usr_col_mod_id_idx ON bso (userid, collection, modified, id);`); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ups := benchUpdates(100, i)
				i++
				tx, err := raw.Begin()
				if err != nil {
					b.Fatal(err)
				}
				stmt, err := tx.Prepare("INSERT OR REPLACE INTO bso (userid, collection, id, sortindex, modified, payload, payload_size, ttl) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
				if err != nil {
					b.Fatal(err)
				}
				for _, u := range ups {
					if _, err := stmt.Exec(1, 4, u.ID, *u.SortIndex, int64(i), *u.Payload, u.PayloadSize(), db.NeverExpires); err != nil {
						b.Fatal(err)
					}
				}
				stmt.Close()
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFindBSOs100Of20000 reads a page of 100 ids, newest first, deep
// into a history of 20,000 records (a client paging through history).
func BenchmarkFindBSOs100Of20000(b *testing.B) {
	clock := dbtest.NewClock(dbtest.StartTime())
	s, _ := openFile(b, clock.Now, sqlite.Options{Synchronous: "OFF"})
	ctx := context.Background()
	for round := range 200 {
		ups := make([]db.BSOUpdate, 100)
		for i := range ups {
			ups[i] = db.BSOUpdate{ID: fmt.Sprintf("h%03d%03d", round, i), Payload: dbtest.Str(payload450(i))}
		}
		if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PostBSOs("history", ups) }); err != nil {
			b.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	// The offset a client holds after 150 pages of 100.
	q := db.Query{Sort: db.SortNewest, Limit: 100}
	for range 150 {
		var p db.Page
		if err := s.View(ctx, 1, func(tx db.Tx) error {
			var err error
			p, err = tx.FindBSOs("history", q)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		off, err := db.ParseOffset(p.Next, q)
		if err != nil {
			b.Fatal(err)
		}
		q.Offset = off
	}
	for _, full := range []bool{false, true} {
		b.Run(fmt.Sprintf("full=%v", full), func(b *testing.B) {
			q := q
			q.Full = full
			b.ReportAllocs()
			for b.Loop() {
				err := s.View(ctx, 1, func(tx db.Tx) error {
					p, err := tx.FindBSOs("history", q)
					if err == nil && (len(p.Items) != 100 || p.Next == "") {
						err = fmt.Errorf("page of %d, next %q", len(p.Items), p.Next)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCollectionTimestampsCached is info/collections of a user whose
// data did not change: answered from memory after one PRAGMA data_version.
// The uncached variant reads the database every time, for comparison.
func BenchmarkCollectionTimestampsCached(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := openFile(b, nil, sqlite.Options{Synchronous: "OFF", CacheSize: c.size})
			ctx := context.Background()
			for _, coll := range []string{"bookmarks", "history", "tabs", "forms", "prefs", "passwords", "clients", "crypto", "meta", "addons"} {
				if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PutBSO(coll, dbtest.Rec("x", "y")) }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, m, err := s.CollectionTimestamps(ctx, 1); err != nil || len(m) != 10 {
					b.Fatal(m, err)
				}
			}
			b.StopTimer()
			if hits, _ := s.CacheStats(); c.size == 0 && hits == 0 {
				b.Fatal("no cache hits")
			}
		})
	}
}

// BenchmarkDeleteCollection50000 deletes a 50,000-record collection of one
// user while another user reads and writes without pause, and reports the
// delete's time and the other user's slowest request (other-max-ms): a
// long delete transaction holds the write lock, and every other writer
// waits for it. other-idle-max-ms is that user's slowest request over as
// long a time without the delete: what the machine and the disk give
// anyway, so that a busy machine is not mistaken for a blocking delete.
// The collection is refilled, untimed, before each delete.
func BenchmarkDeleteCollection50000(b *testing.B) {
	s, _ := openFile(b, nil, sqlite.Options{})
	ctx := context.Background()
	const n = 50_000
	fill := func() {
		for done := 0; done < n; done += 1000 {
			ups := make([]db.BSOUpdate, 1000)
			for i := range ups {
				ups[i] = db.BSOUpdate{ID: fmt.Sprintf("f%06d", done+i), Payload: dbtest.Str(payload450(i)), SortIndex: dbtest.Int(int64(i))}
			}
			if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.PostBSOs("forms", ups) }); err != nil {
				b.Fatal(err)
			}
		}
	}
	// other keeps user 2 reading and writing until the returned function
	// is called, which answers the slowest request.
	other := func() func() time.Duration {
		stop := make(chan struct{})
		slowest := make(chan time.Duration)
		go func() {
			var max time.Duration
			for i := 0; ; i++ {
				select {
				case <-stop:
					slowest <- max
					return
				default:
				}
				start := time.Now()
				var err error
				if i%2 == 0 {
					err = s.Update(ctx, 2, func(tx db.Tx) error { return tx.PutBSO("tabs", dbtest.Rec("t", "x")) })
				} else {
					err = s.View(ctx, 2, func(tx db.Tx) error { _, err := tx.FindBSOs("tabs", db.Query{Limit: 10}); return err })
				}
				if err != nil {
					b.Error(err)
				}
				max = maxDur(max, time.Since(start))
			}
		}()
		return func() time.Duration { close(stop); return <-slowest }
	}
	var worst, idle, total time.Duration
	for b.Loop() {
		b.StopTimer()
		fill()
		done := other()
		time.Sleep(20 * time.Millisecond) // the other user is busy
		b.StartTimer()
		start := time.Now()
		if err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.DeleteCollection("forms") }); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		total += took
		b.StopTimer()
		time.Sleep(20 * time.Millisecond)
		worst = maxDur(worst, done())
		var page db.Page
		if err := s.View(ctx, 1, func(tx db.Tx) error {
			var err error
			page, err = tx.FindBSOs("forms", db.Query{Limit: 1})
			return err
		}); err != nil || len(page.Items) != 0 {
			b.Fatalf("after the delete: %d records, %v", len(page.Items), err)
		}
		done = other()
		time.Sleep(took + 40*time.Millisecond)
		idle = maxDur(idle, done())
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "delete-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "other-max-ms")
	b.ReportMetric(float64(idle.Microseconds())/1000, "other-idle-max-ms")
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
