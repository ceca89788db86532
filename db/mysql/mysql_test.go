package mysql_test

import (
	"testing"

	"syncserver/internal/testdb"
)

// TestBackend runs the conformance suite, the shared-database tests,
// compaction and outages on the server of SYNCSERVER_TEST_MYSQL_URI.
func TestBackend(t *testing.T) { testdb.RunServerBackend(t, "mysql") }
