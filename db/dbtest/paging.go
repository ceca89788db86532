package dbtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"syncserver/db"
)

func testSorts(t *testing.T, e *env) {
	e.put(1, "bookmarks", db.BSOUpdate{ID: "x", Payload: Str("x"), SortIndex: Int(10)})
	e.clock.Advance(time.Second)
	e.put(1, "bookmarks", db.BSOUpdate{ID: "y", Payload: Str("y"), SortIndex: Int(-1)})
	e.clock.Advance(time.Second)
	e.put(1, "bookmarks",
		db.BSOUpdate{ID: "z", Payload: Str("z")},
		db.BSOUpdate{ID: "w", Payload: Str("w"), SortIndex: Int(10)},
		db.BSOUpdate{ID: "v", Payload: Str("v"), SortIndex: Int(34)})
	for _, c := range []struct {
		sort db.Sort
		want string
	}{
		{db.SortNone, "z w v y x"},
		{db.SortNewest, "z w v y x"},
		{db.SortOldest, "x y v w z"},
		// sortindex descending, NULL last, ties by id descending.
		{db.SortIndex, "v x w y z"},
	} {
		for _, full := range []bool{false, true} {
			got := strings.Join(e.ids(1, "bookmarks", db.Query{Sort: c.sort, Full: full}), " ")
			if got != c.want {
				t.Errorf("sort %d (full %v) = %s, want %s", c.sort, full, got, c.want)
			}
		}
	}
}

// pagingFixture writes 15 records at three timestamps (5 each), with
// sortindexes that tie and some NULLs, for the paging tests.
func pagingFixture(e *env) (t1, t2, t3 db.Timestamp) {
	var ts [3]db.Timestamp
	for g := range 3 {
		var ups []db.BSOUpdate
		for i := range 5 {
			u := db.BSOUpdate{ID: fmt.Sprintf("%c%d", "kfq"[g], (i*7)%5), Payload: Str(fmt.Sprint(g, i))}
			if (g+i)%4 != 0 {
				u.SortIndex = Int(int64((g + i) % 3))
			}
			ups = append(ups, u)
		}
		ts[g] = e.put(1, "history", ups...)
		e.clock.Advance(time.Second)
	}
	return ts[0], ts[1], ts[2]
}

func testPaging(t *testing.T, e *env) {
	t1, _, t3 := pagingFixture(e)
	filters := []struct {
		name string
		q    db.Query
	}{
		{"all", db.Query{}},
		{"newer", db.Query{Newer: t1}},
		{"older", db.Query{Older: t3, HasOlder: true}},
		{"newer and older", db.Query{Newer: t1, Older: t3 + 10, HasOlder: true}},
		{"ids", db.Query{IDs: []string{"k0", "k1", "f2", "q3", "q4", "q0", "nope"}}},
	}
	for _, sort := range []db.Sort{db.SortNone, db.SortNewest, db.SortOldest, db.SortIndex} {
		for _, f := range filters {
			base := f.q
			base.Sort = sort
			want := e.ids(1, "history", base)
			if len(want) < 3 {
				t.Fatalf("fixture too small for %s: %v", f.name, want)
			}
			for limit := 1; limit <= 7; limit++ {
				for _, full := range []bool{false, true} {
					q := base
					q.Limit, q.Full = limit, full
					got := pageThrough(t, e, q)
					if !slices.Equal(got, want) {
						t.Errorf("sort %d, %s, limit %d, full %v: paged %v, want %v", sort, f.name, limit, full, got, want)
					}
				}
			}
		}
	}
}

// pageThrough follows Next tokens from an empty offset to the end.
func pageThrough(t *testing.T, e *env, q db.Query) []string {
	t.Helper()
	var all []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("paging does not end: %v", all)
		}
		p := e.find(1, "history", q)
		if len(p.Items) > q.Limit {
			t.Fatalf("page of %d items for limit %d", len(p.Items), q.Limit)
		}
		all = append(all, idsOf(p.Items)...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) != q.Limit {
			t.Fatalf("short page (%d of %d) with a next offset %q", len(p.Items), q.Limit, p.Next)
		}
		off, err := db.ParseOffset(p.Next, q)
		if err != nil {
			t.Fatalf("ParseOffset(%q): %v", p.Next, err)
		}
		q.Offset = off
	}
}

func testPagingNumericOffset(t *testing.T, e *env) {
	pagingFixture(e)
	for _, sort := range []db.Sort{db.SortNewest, db.SortOldest, db.SortIndex} {
		want := e.ids(1, "history", db.Query{Sort: sort})
		q := db.Query{Sort: sort, Limit: 3, Offset: db.Offset{Skip: 2}}
		if got := pageThrough(t, e, q); !slices.Equal(got, want[2:]) {
			t.Errorf("sort %d from offset 2: %v, want %v", sort, got, want[2:])
		}
	}
}

func testLimitZero(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "x"))
	for _, sort := range []db.Sort{db.SortNone, db.SortNewest, db.SortOldest, db.SortIndex} {
		p := e.find(1, "bookmarks", db.Query{Limit: 0, Sort: sort})
		if len(p.Items) != 0 || p.Next != "0" {
			t.Errorf("sort %d, limit 0: %+v, want no items and next \"0\"", sort, p)
		}
	}
	for _, q := range []db.Query{{Limit: 0, IDs: []string{"nope"}}, {Limit: 0, Newer: e.now() + 1000}} {
		if p := e.find(1, "bookmarks", q); len(p.Items) != 0 || p.Next != "" {
			t.Errorf("limit 0, nothing matching: %+v", p)
		}
	}
	if p := e.find(1, "missing", db.Query{Limit: 0}); len(p.Items) != 0 || p.Next != "" {
		t.Errorf("limit 0 on a missing collection: %+v", p)
	}
	p := e.find(1, "bookmarks", db.Query{Limit: 1})
	if len(p.Items) != 1 || p.Next != "" {
		t.Errorf("limit equal to the count: %+v, want no next offset", p)
	}
}

func testIDsFilter(t *testing.T, e *env) {
	e.put(1, "bookmarks", Rec("a", "1"), Rec("b", "2"), Rec("c", "3"), Rec("-dash-", "4"), Rec("{guid with space}", "5"))
	if got := e.ids(1, "bookmarks", db.Query{IDs: []string{"a", "c", "zz", "{guid with space}"}, Sort: db.SortOldest}); !equalStrings(got, []string{"a", "c", "{guid with space}"}) {
		t.Errorf("ids filter = %v", got)
	}
	if got := e.ids(1, "bookmarks", db.Query{IDs: []string{}}); len(got) != 0 {
		t.Errorf("empty ids filter = %v", got)
	}
	if got := e.ids(1, "bookmarks", db.Query{}); len(got) != 5 {
		t.Errorf("no filter = %v", got)
	}
	many := []string{"-dash-"}
	for i := range 99 {
		many = append(many, fmt.Sprintf("missing%d", i))
	}
	if got := e.ids(1, "bookmarks", db.Query{IDs: many}); !equalStrings(got, []string{"-dash-"}) {
		t.Errorf("100 ids = %v", got)
	}
}

func testNewerOlder(t *testing.T, e *env) {
	t1 := e.put(1, "bookmarks", Rec("r1", "1"))
	e.clock.Advance(time.Second)
	t2 := e.put(1, "bookmarks", Rec("r2", "2"))
	e.clock.Advance(time.Second)
	t3 := e.put(1, "bookmarks", Rec("r3", "3"))
	for _, c := range []struct {
		q    db.Query
		want string
	}{
		{db.Query{Newer: t1}, "r3 r2"},
		{db.Query{Older: t3, HasOlder: true}, "r2 r1"},
		{db.Query{Newer: t1, Older: t3, HasOlder: true}, "r2"},
		{db.Query{Newer: t2 - 10, Older: t2 + 10, HasOlder: true}, "r2"},
		{db.Query{Newer: t3}, ""},
		{db.Query{Older: t1, HasOlder: true}, ""},
		{db.Query{Older: 0, HasOlder: true}, ""},
	} {
		if got := strings.Join(e.ids(1, "bookmarks", c.q), " "); got != c.want {
			t.Errorf("%+v: %q, want %q", c.q, got, c.want)
		}
	}
}
