// Package mesh keeps the gates of one event informed of each other's
// admissions directly, peer to peer over the venue's LAN, with or without
// the server: the venue mesh of docs/mesh.md, which binds it.
//
// A [Node] listens for peers (by default on [DefaultListen]) and dials the
// peers its [Store] lists and those given by hand. Peers authenticate each
// other by mutual TLS 1.3, each presenting a self-signed certificate made
// from its gate's Ed25519 key, and each checking that the other's key is
// the one its replica holds for the gate the certificate names, of this
// event and not revoked. Over that connection they run anti-entropy: each
// exchange carries the sender's version vector (per origin gate, the
// highest seq up to which it holds every signed record) and the records
// the other lacks, in bounded batches.
//
// What it guarantees:
//
//   - Every record a peer sends is handed to [Store.MeshLearn], which
//     verifies its signature against its origin gate's key; the mesh adds
//     no record itself, and a refused record is logged and changes nothing.
//   - A new admission is pushed to every reachable peer as soon as the gate
//     calls [Node.Poke] (one round trip), and every peer is pulled from
//     every [Config].PullEvery (with jitter), so records missed while a
//     peer was down or the mesh split arrive once it heals.
//   - Every read and write is bounded in size and time; a peer that does
//     not answer delays only its own exchanges.
//
// The mesh never replaces the upload: each gate still uploads its own
// records to the server.
package mesh
