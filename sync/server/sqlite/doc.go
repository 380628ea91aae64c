// Package sqlite is the server.Store kept in one SQLite database file
// (github.com/mattn/go-sqlite3), the default store of kido-server.
//
// It guarantees: the database runs in WAL mode with synchronous=FULL, so a
// method that returned has its change on disk; every method is one
// transaction (writes take the write lock up front with BEGIN IMMEDIATE on
// a single writer connection, reads run on a separate read-only pool and
// see one consistent state); and every change a gate must learn of is
// appended to the changes table in the transaction that makes it, at a seq
// that orders it after every change committed before it (feed.go says why
// SQLite makes that so), so the feed never skips one. Private
// keys arrive sealed and are stored as given. The schema is in schema.go.
package sqlite
