// Package postgres is the server.Store kept in a PostgreSQL database
// (through github.com/jackc/pgx/v5 and its connection pool), the store for
// several kido-server instances behind one load balancer.
//
// It guarantees: every method is one transaction (writes in READ
// COMMITTED, reads in one REPEATABLE READ snapshot); the schema is created
// and upgraded by versioned migrations run under an advisory lock, so
// instances starting at once apply each step exactly once; every change a
// gate must learn of is appended to its event's change log at the end of
// the transaction that makes it, at a position taken under that event's
// feed_head row lock, so positions become visible in position order and
// the feed skips nothing however many instances commit at once (feed.go
// and docs/sync-protocol.md §4.4 give the argument); and every such commit
// sends a notification that wakes the long-polls of every instance
// (WatchChanges). Private keys arrive sealed and are stored as given. The
// schema is in schema.go.
package postgres
