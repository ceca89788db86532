package sqlite_test

import (
	"slices"
	"testing"

	"syncserver/db/sqldb"
	"syncserver/db/sqlite"
)

// TestCopyCoversTheSchema: migrate-db copies every table of the schema; a
// migration that adds a table must add it to sqldb's copy list too.
func TestCopyCoversTheSchema(t *testing.T) {
	_, path := openFile(t, nil, sqlite.Options{Synchronous: "OFF"})
	var tables []string
	for _, row := range rawQuery(t, path, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT IN ('syncserver_schema', 'sqlite_sequence') ORDER BY name`) {
		tables = append(tables, row[0].(string))
	}
	copied := slices.Sorted(slices.Values(sqldb.CopyTables()))
	if !slices.Equal(tables, copied) {
		t.Errorf("schema tables %v, copied %v", tables, copied)
	}
}
