// Package gate decides whether a presented ticket lets its holder through a
// gate. It is the pure part of kido-gate: no I/O, no SQLite, no clock (it
// is given trusted time, kido.Clock's), and no network code.
//
// Given what the gate's replica knows about one ticket (its roster row and
// every passage recorded for it), [Decide] returns a [Decision] with one of
// the stable [Reason] identifiers (ok, already_used, revoked, bad_signature,
// unknown_key, key_revoked, wrong_event, wrong_tier, not_yet_valid, expired,
// malformed, exit_recorded, plus fault for a replica that cannot be used).
// The identifiers are part of kido-gate's JSON output and of docs/replica.md;
// they never change meaning.
//
// What it guarantees:
//
//   - Decide admits only a ticket that parses, is for the gate's event, is
//     signed by a trusted, unrevoked key valid at the trusted time, is not
//     revoked, is inside the event window (with leeway), is of a tier the gate
//     takes, and whose tier's entry rule allows one more entry given the
//     recorded passages (kido.EntryRule); what a scan records follows the
//     gate's direction (kido.Gate.Passage). Checks run in that order and the
//     first failure is the reason.
//   - Decide does not record anything: recording, in the same transaction
//     as the reads it was given, is the replica's job (package gate/replica),
//     which is what makes "admit" durable and exclusive.
//   - [NormalizeScan] and [LineReader] turn what a keyboard-wedge scanner
//     typed into a candidate ticket text with bounded memory, whatever the
//     input.
package gate
