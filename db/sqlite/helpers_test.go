package sqlite_test

import "syncserver/db/sqldb"

type sqliteStore = sqldb.Store
