// Package syncer is a kido gate's sync loop: it uploads the gate's
// admissions and audit records and follows the server's delta feed, as
// docs/sync-protocol.md specifies (§3, §4, §7.1, §8).
//
// What it guarantees:
//
//   - Two independent loops, the uploader and the puller, each with its own
//     backoff: exponential with full jitter (uniform in [0, min(Cap, Base ×
//     2^attempt))), Retry-After honoured on 429 and 503 (plus up to one
//     second of jitter), a random delay before the first request, and, when
//     connectivity returns on one loop, the other's backoff cut to a random
//     moment within StartDelay. Every wait is bounded by Cap, or by the
//     server's Retry-After.
//   - A record committed to the replica by another process (kido-gate scan
//     or admit beside kido-gate run) is uploaded at once, as one of this
//     process is after [Syncer.Nudge]: a watcher polls the replica's data
//     version every [Config].Watch and nudges the uploader when another
//     connection committed and records wait. Scans pay nothing for it.
//   - A record is never dropped by the gate: the uploader sends from the
//     acknowledgement the server last gave, lower ones included, and
//     records every answer (200 or 409) in the replica before sending again.
//   - Each feed answer is applied with its cursor in one replica
//     transaction; a resnapshot is applied in short steps so scanning goes
//     on.
//   - Scanning never waits for sync: the loops use the replica only through
//     short transactions.
//   - On 401 gate_revoked, and only then, both loops stop and the replica
//     and the credential are deleted.
//
// Time and randomness are injected ([Config].Clock, [Config].Jitter), so
// tests drive every wait without sleeping.
package syncer
