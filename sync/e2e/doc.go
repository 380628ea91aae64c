// Package e2e holds kido's end-to-end sync tests (issue 5, "Proof"): the
// real kido-server, kido-gate and kidoctl binaries, built once per test
// run, talk over loopback only, while the tests kill the server or the
// gates mid-upload with SIGKILL and put a fault-injecting proxy
// (sync/faultproxy) between them.
//
// After every scenario heals, the tests assert exactly what
// docs/sync-protocol.md §1 guarantees: every admission is on the server
// once (report counts, per-gate acknowledgements, and the admissions a
// freshly enrolled gate downloads), nothing is quarantined, every gate's
// replica holds every admission, and a ticket admitted at two gates cut
// off from each other is exactly one double entry carrying both records.
//
// The package has no code of its own outside its tests. Every loop in it is
// bounded, and each test stops every process it started.
package e2e
