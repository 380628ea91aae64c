// Package replica is a kido gate's local SQLite replica: the event, its
// tiers and entry rules, trusted keys, the roster, every admission known to
// the gate (its own and other gates'), an audit log of every scan, and the
// sync state. Its schema is specified in docs/replica.md, which binds it.
//
// What it guarantees:
//
//   - Decide-and-record is one SQLite write transaction (BEGIN IMMEDIATE):
//     the ticket's roster row and passages are read, [gate.Decide] runs, and
//     the admission (with this gate's next sequence number) and the audit row
//     are written, all under the database's write lock. Two scanners in one
//     process, or two processes on one replica, can therefore never both
//     admit a single-entry ticket.
//   - The database runs in WAL mode with synchronous=FULL, and Scan and
//     Admit return only after the commit: a decision the caller shows is on
//     disk, and a power cut cannot resurrect a used ticket.
//   - A rejected scan writes its audit row and nothing else.
//   - Admissions are never deleted or overwritten, by scans or by snapshots.
//   - A replica that is missing, corrupt, locked, read-only or on a full disk
//     is reported as an error wrapping the matching gate.Err… fault, and
//     nothing is admitted.
package replica
