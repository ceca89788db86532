package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"syncserver/db"
	"syncserver/db/sqlite"
	"syncserver/internal/testdb"
)

const writerProcessEnv = "SYNCSERVER_WRITER_PROCESS_DB"

// TestCacheSeesAnotherProcess: a store answers info/collections from its
// cache, and another process (this test binary, run again) writes the
// same user's records to the same file, one at a time, on request. After
// each write the first store's answer shows it: the cache noticed the
// other process's commit through the shared WAL-index.
func TestCacheSeesAnotherProcess(t *testing.T) {
	if path := os.Getenv(writerProcessEnv); path != "" {
		writerProcess(t, path)
		return
	}
	testdb.SkipShort(t, "starts a process")
	path := filepath.Join(t.TempDir(), "two.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, s, 1, "bookmarks", "a")

	cmd := exec.Command(os.Args[0], "-test.run=^TestCacheSeesAnotherProcess$")
	cmd.Env = append(os.Environ(), writerProcessEnv+"="+path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		cmd.Wait()
	}()
	replies := bufio.NewScanner(out)
	for i := range 20 {
		before, m := timestamps(t, s, 1)
		hitsBefore, _ := s.CacheStats()
		if again, _ := timestamps(t, s, 1); again != before {
			t.Fatalf("round %d: storage timestamp moved from %v to %v with no write", i, before, again)
		}
		if hits, _ := s.CacheStats(); hits == hitsBefore {
			t.Errorf("round %d: a read with no write in between was not answered from the cache", i)
		}
		coll := "c" + strconv.Itoa(i)
		fmt.Fprintln(in, coll)
		if !replies.Scan() || replies.Text() != "ok" {
			t.Fatalf("round %d: the writer process answered %q (%v)", i, replies.Text(), replies.Err())
		}
		after, m2 := timestamps(t, s, 1)
		if _, ok := m2[coll]; !ok || after <= before || len(m2) != len(m)+1 {
			t.Fatalf("round %d: after the other process wrote %s: %v %v, before %v %v", i, coll, after, m2, before, m)
		}
	}
}

// writerProcess is the other process: for each collection name read from
// stdin, it writes one record of user 1 there and answers "ok".
func writerProcess(t *testing.T, path string) {
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for sc := bufio.NewScanner(os.Stdin); sc.Scan(); {
		coll := sc.Text()
		if coll == "" {
			continue
		}
		err := s.Update(context.Background(), 1, func(tx db.Tx) error {
			return tx.PutBSO(coll, db.BSOUpdate{ID: "x", Payload: ptr("p")})
		})
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println("ok")
	}
}

func ptr(s string) *string { return &s }
