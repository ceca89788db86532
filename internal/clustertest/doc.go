// Package clustertest holds no code that ships: its tests run syncserver
// the way a large deployment does, as one token server and several
// storage nodes on a three-member MariaDB Galera cluster, all real
// processes on loopback, and break parts of it under load (a member
// killed with SIGKILL and restarted, a storage node taken out of
// service, the token server restarted) to check that no write
// acknowledged to a client is lost. Another test switches a PostgreSQL
// primary and its streaming replica over under writers.
//
// The tests need root (mariadbd runs as the mysql user, with data
// directories of its own), Debian's mariadb-server, galera-4 and rsync
// (the state transfer of a joining member). Without them they skip,
// unless SYNCSERVER_TEST_REQUIRE lists "galera" (or "pgreplica", for
// the PostgreSQL test, which needs Debian's postgresql): then they fail.
package clustertest
