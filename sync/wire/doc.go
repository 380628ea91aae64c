// Package wire defines the JSON messages exchanged by kido-server, kido-gate
// and kidoctl. It is the contract described in docs/api.md and
// docs/sync-protocol.md: field names here are the field names on the wire,
// and a change here is a protocol change.
//
// Decoders on both sides reject unknown fields, so a message meant for one
// endpoint cannot be sent to another by mistake.
package wire
