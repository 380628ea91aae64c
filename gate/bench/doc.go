// Package bench measures the gate's scan decision against its irreducible
// parts on a replica of realistic size (issue 4, docs/benchmarks.md). It is
// the library behind the scan row of kido-bench.
//
// A scan is everything kido-gate does for one ticket (replica.Scan):
// normalise, parse, verify the signature, read the roster row and passages,
// decide, write the admission and the audit row, and commit with
// synchronous=FULL. Its irreducible parts are one ed25519.Verify and one
// fsync'd SQLite commit of a one-row insert in a database beside the
// replica. [MeasureScans] interleaves the three for every ticket, so all
// of them see the same disk at the same moment and their percentiles can be
// compared within one run.
//
// The package only measures and reports durations; it asserts no timing.
package bench
