package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/db"
	"syncserver/db/dbtest"
	"syncserver/db/sqlite"

	"syncserver/internal/testdb"
)

const (
	crashEnv       = "SYNCSERVER_CRASH_TEST_DB"
	crashBatches   = 12
	crashBatchSize = 2000
)

// TestCrashDuringBatchCommits kills a process (SIGKILL) while it commits
// large batches one after the other, and checks that each batch is either
// committed entirely (and gone from staging) or not at all (and still
// staged).
func TestCrashDuringBatchCommits(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashWorker(path)
		return
	}
	testdb.SkipShort(t, "starts a process")
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringBatchCommits$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it shortly after its second commit, in the middle of another.
	committed := make(chan bool, 1)
	go func() {
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			if sc.Text() == "committed 2" {
				committed <- true
			}
		}
		close(committed)
	}()
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		t.Error("the worker did not commit 2 batches in 30 s")
	}
	time.Sleep(time.Duration(time.Now().UnixNano()%15) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := 0
	for k := range crashBatches {
		coll := fmt.Sprintf("c%d", k)
		var count int64
		err := s.View(context.Background(), 1, func(tx db.Tx) error {
			u, err := tx.CollectionUsage()
			count = u[coll].Count
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		staged := rawQuery(t, path, `SELECT COUNT(*) FROM batch_upload_items i JOIN batch_uploads b
			ON b.batch = i.batch AND b.userid = i.userid JOIN collections c ON c.collectionid = b.collection
			WHERE c.name = ?`, coll)[0][0].(int64)
		switch {
		case count == crashBatchSize && staged == 0:
			done++
		case count == 0 && staged == crashBatchSize:
		default:
			t.Errorf("batch %d: %d records committed, %d still staged", k, count, staged)
		}
	}
	if done < 2 || done == crashBatches {
		t.Errorf("%d batches committed; the kill did not land among the commits", done)
	}
	t.Logf("%d of %d batches committed before the kill", done, crashBatches)
}

// crashWorker stages crashBatches batches, one collection each, then
// commits them one after the other until it is killed.
func crashWorker(path string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "NORMAL"})
	if err != nil {
		panic(err)
	}
	ids := make([]int64, crashBatches)
	for k := range ids {
		coll := fmt.Sprintf("c%d", k)
		err := s.Update(ctx, 1, func(tx db.Tx) error {
			var err error
			if ids[k], err = tx.CreateBatch(coll); err != nil {
				return err
			}
			var ups []db.BSOUpdate
			for i := range crashBatchSize {
				ups = append(ups, dbtest.Rec(fmt.Sprint(i), strings.Repeat("p", 300)))
			}
			return tx.AppendBatch(coll, ids[k], ups)
		})
		if err != nil {
			panic(err)
		}
	}
	for k, id := range ids {
		err := s.Update(ctx, 1, func(tx db.Tx) error { return tx.CommitBatch(fmt.Sprintf("c%d", k), id) })
		if err != nil {
			panic(err)
		}
		fmt.Printf("committed %d\n", k+1)
	}
	time.Sleep(time.Minute) // wait for the kill
}
