// Package kido holds the domain of kido, the offline-capable e-ticket gate
// verifier: the types every part shares (events, tiers, keys, gates,
// tickets' roster entries, admissions) and the rules that the gate and the
// server must apply alike, so that each rule is written once:
//
//   - the entry rule ([EntryRule] and [Excess]): for a ticket's passages in
//     their canonical order ([SortPassages]), which one is one too many;
//   - the direction policy ([Gate.Passage]): what a gate records when a
//     scan asks for an entry or an exit;
//   - trusted time ([Clock]): a clock that the device cannot move back past
//     a time the server vouched for.
//   - what counts from a stolen gate: a manual admission needs a staff
//     reason ([HasReason]), and an operator's [Void] takes a revoked gate's
//     passages out of every count ([Void.Covers], [Counted]).
//
// The package does no I/O and imports no network code: the gate's pure
// decision (package gate) builds on it, and a test keeps it that way. The
// JSON envelopes of the protocol are in package sync/wire; the specs are
// docs/sync-protocol.md and docs/replica.md.
package kido
