// Package ticket defines what a kido ticket is: a compact Ed25519-signed
// record of (key id, event, serial, tier), carried in a QR code as a string
// of decimal digits so that it survives keyboard-wedge scanners set to any
// keyboard layout.
//
// The byte layout, the exact bytes that are signed, the key text forms, the
// text encoding, the rejection rules and their order are specified in
// docs/ticket-format.md at the root of the module, which binds this package;
// the test vectors in testdata/vectors, described there, let another
// implementation check itself. In short:
//
//   - [Parse] accepts the one canonical text form only: anything else,
//     including a value that decodes to the same bytes by another route, is
//     rejected with [ErrMalformed] or [ErrUnsupportedVersion]. Whatever Parse
//     accepts, [Ticket.String] gives back exactly.
//   - [Keyring.Verify] checks the signature with crypto/ed25519 (whose
//     verification does not branch on secret data; nothing else here handles
//     secrets) and reports every failure as one of the sentinel errors below,
//     so a gate can tell staff the exact reason.
//   - Signatures cover a domain-separation string followed by the unsigned
//     ticket bytes, so a kido signature can never be mistaken for a
//     signature over any other Ed25519 message.
//
// A ticket is 78 bytes and 188 digits, which fit QR version 5 at error
// correction level M; package kido.dev/kido/ticket/qr renders and reads the
// QR images. The event's validity window and entry rules are not in the
// ticket; they live in the gate's replica.
package ticket
