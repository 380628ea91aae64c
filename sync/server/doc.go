// Package server is the core of kido-server: the domain rules of events,
// tiers, signing keys, tickets, tokens and gates, the Store interface that
// keeps them, and the HTTP handlers of the JSON API described in
// docs/api.md. Implementations of Store live in subpackages named after
// what they wrap (sqlite).
//
// Guarantees:
//
//   - Private keys (ticket-signing keys and the server identity key) are
//     handed to a Store only sealed with XChaCha20-Poly1305 under a master
//     key the Store never sees, and no handler ever writes one.
//   - Every call but GET /v1/health, POST /v1/enroll and POST /v1/identity
//     needs a bearer token; the server keeps only SHA-256 hashes of tokens.
//     A missing or unknown token is 401, a token whose scope does not cover
//     the call 403, both with a wire.Error body.
//   - Every change a gate must learn of (tiers, keys, tickets issued or
//     revoked, gate settings) is appended to the store's change log in the
//     same transaction as the change itself, and a snapshot's cursor is the
//     change-log position it reflects.
//   - Bad input is refused with a wire.Error and changes nothing.
//   - Sync (docs/sync-protocol.md, which binds this package): an upload is
//     stored under its (gate, seq) keys in one transaction and answered
//     only after the commit; a retry with the same content is a duplicate,
//     the same key with other content is quarantined and answered 409,
//     never dropped or overwritten. A gate uploads only as itself and reads
//     only its own event; a revoked gate is told so (401 gate_revoked).
//     An uploaded admission is stored only if its text is the one the
//     server issued for its serial or its signature verifies under a key
//     of the event.
//   - The delta feed never skips a change: cursors name a change-log row
//     by position and random tag, a cursor whose row is gone or differs is
//     answered with a resnapshot, and long-polls of an event are woken
//     after every commit that changed it.
//   - Uploads, long-polls and snapshots have bounded budgets, shed with
//     429/503 and a Retry-After before the body is read; health, metrics
//     and operator calls draw on none of them. While uploads queue,
//     long-polls yield to them (answering later, never failing).
package server
