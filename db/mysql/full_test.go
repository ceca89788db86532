package mysql

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestIsFull: the errors MariaDB and MySQL answer when the disk or a
// table is full are the ones sqldb turns into db.ErrFull (503 with
// Retry-After); others are not.
func TestIsFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1114, Message: "The table 'bso' is full"}, true},
		{&mysql.MySQLError{Number: 1021, Message: "Disk full (/var/tmp/#sql_1.MAI); waiting for someone to free some space..."}, true},
		{fmt.Errorf("commit: %w", &mysql.MySQLError{Number: 1030, Message: `Got error 28 "No space left on device" from storage engine InnoDB`}), true},
		{&mysql.MySQLError{Number: 3, Message: `Error writing file '/tmp/MYfd=40' (Errcode: 28 "No space left on device")`}, true},
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}, false},
		{&mysql.MySQLError{Number: 1030, Message: `Got error 1 "Operation not permitted" from storage engine InnoDB`}, false},
		{errors.New("database or disk is full"), false},
	} {
		if got := isFull(tc.err); got != tc.want {
			t.Errorf("isFull(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
