// Package qr renders kido tickets as QR code images and reads them back
// from screenshots, scans and photos.
//
// Every code is made at error correction level M, and a kido ticket's 188
// digits always fit QR version 5 (37×37 modules; see docs/ticket-format.md).
// [Render] writes a 1-bit PNG with [ModulePixels] pixels per module and the
// standard four-module quiet zone, ready to print; go-qrcode is the encoder
// of record, and the faster table-driven encoder Render uses for tickets is
// proven by tests to make exactly go-qrcode's symbol. [Decode] finds a code in
// any picture, at any rotation, with the pure-Go gozxing decoder, and never
// panics on hostile input; only when gozxing's usual search fails does it
// search again, which reads the codes (about one ticket in 70) whose data
// modules that search mistakes for a finder pattern. Decoding returns the
// text only: verifying it is the job of ticket.Parse and
// ticket.Keyring.Verify.
//
// Every function is safe for concurrent use.
package qr
