// Package faultproxy is a fault-injecting TCP proxy for end-to-end tests
// of kido's sync protocol (docs/sync-protocol.md) over loopback. A Proxy
// listens on 127.0.0.1, forwards every connection to one target, and can be
// switched at run time between passing traffic and the network faults a
// gate meets in the field: new connections dropped, added latency, reset
// connections, one-way black holes and a full partition.
//
// It guarantees that a mode switch applies to connections already open as
// well as to new ones (except Drop, which by definition spares them), that
// it is safe for concurrent use, that it holds at most MaxConns
// connections, and that Close stops every goroutine it started before it
// returns.
package faultproxy
