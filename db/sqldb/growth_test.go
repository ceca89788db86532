package sqldb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"syncserver/db"
	"syncserver/db/sqldb"
	"syncserver/internal/testdb"
)

// growthSizes are the collection sizes BenchmarkGrowth compares: a page of
// the large one should cost about what it costs on the small one.
var growthSizes = []int{2_000, 200_000}

// growthTxRecords is how many records one fill transaction writes: they
// share its timestamp, as the records of one large batch upload do.
const growthTxRecords = 500

// growthPayload is a record the size of a typical encrypted history item.
func growthPayload(i int) string {
	p := fmt.Sprintf(`{"ciphertext":"%d`, i)
	return p + strings.Repeat("x", 450-len(p)-2) + `"}`
}

// fillHistory writes n records to uid's history through the store's API,
// growthTxRecords per transaction, and returns the timestamp of every
// transaction, oldest first.
func fillHistory(tb testing.TB, s *sqldb.Store, uid db.UID, n int) []db.Timestamp {
	tb.Helper()
	ctx := context.Background()
	var stamps []db.Timestamp
	for done := 0; done < n; {
		ups := make([]db.BSOUpdate, min(growthTxRecords, n-done))
		for i := range ups {
			p := growthPayload(done + i)
			si := int64((done + i) % 1000)
			ups[i] = db.BSOUpdate{ID: fmt.Sprintf("rec%09d", done+i), Payload: &p, SortIndex: &si}
		}
		var ts db.Timestamp
		if err := s.Update(ctx, uid, func(tx db.Tx) error {
			ts = tx.Timestamp()
			return tx.PostBSOs("history", ups)
		}); err != nil {
			tb.Fatal(err)
		}
		stamps = append(stamps, ts)
		done += len(ups)
	}
	return stamps
}

// growthQueries are the pages Firefox asks for. newer is the timestamp
// below the newest 1,000 records; each "paged" query follows the
// X-Weave-Next-Offset tokens through those 1,000 records, one page per
// benchmark iteration, and starts again at the end.
func growthQueries(newer db.Timestamp) []struct {
	name  string
	q     db.Query
	paged bool
} {
	return []struct {
		name  string
		q     db.Query
		paged bool
	}{
		{"newest100", db.Query{Full: true, Sort: db.SortNewest, Limit: 100}, false},
		{"newer_newest_paged100", db.Query{Full: true, Sort: db.SortNewest, Limit: 100, Newer: newer}, true},
		{"newer_oldest_paged100", db.Query{Full: true, Sort: db.SortOldest, Limit: 100, Newer: newer}, true},
		{"newer_index100", db.Query{Full: true, Sort: db.SortIndex, Limit: 100, Newer: newer}, false},
		{"newer_ids", db.Query{Sort: db.SortNewest, Limit: -1, Newer: newer}, false},
	}
}

// BenchmarkGrowth reads pages of a 2,000-record and of a 200,000-record
// history, in one database of each backend (sqlite, and MySQL and
// PostgreSQL when their test servers are configured): the time of a page
// should not grow with the collection. The collections are built once per
// backend, through the store's API, before any timing.
func BenchmarkGrowth(b *testing.B) {
	for _, backend := range testdb.Backends {
		b.Run(backend, func(b *testing.B) {
			s := testdb.Open(b, backend, testdb.Options{})
			ctx := context.Background()
			for i, size := range growthSizes {
				uid := db.UID(i + 1)
				stamps := fillHistory(b, s, uid, size)
				newer := stamps[len(stamps)-1-1000/growthTxRecords]
				for _, gq := range growthQueries(newer) {
					b.Run(fmt.Sprintf("%s/n=%d", gq.name, size), func(b *testing.B) {
						q := gq.q
						b.ReportAllocs()
						for b.Loop() {
							var page db.Page
							if err := s.View(ctx, uid, func(tx db.Tx) error {
								var err error
								page, err = tx.FindBSOs("history", q)
								return err
							}); err != nil {
								b.Fatal(err)
							}
							if len(page.Items) == 0 {
								b.Fatalf("%+v: empty page", q)
							}
							q.Offset = db.Offset{}
							if gq.paged && page.Next != "" {
								off, err := db.ParseOffset(page.Next, q)
								if err != nil {
									b.Fatal(err)
								}
								q.Offset = off
							}
						}
					})
				}
			}
		})
	}
}
