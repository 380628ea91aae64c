package server_test

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"kido.dev/kido/sync/wire"
)

// BenchmarkFeedCatchUp: one gate reads the whole feed of 10,000 uploaded
// admissions from its snapshot's cursor, page after page, every page built
// for it (the cache emptied first), as an old gate (JSON) and as a gate of
// version 2 (compact). The server runs in this process over loopback;
// cpu-µs/admission is the process's CPU (server and the reading client)
// per admission served. Profile with -cpuprofile.
func BenchmarkFeedCatchUp(b *testing.B) {
	f := newFixture(b)
	ev := f.event(b)
	g := f.gate(b, ev, "Reader")
	up := f.gate(b, ev, "Uploader")
	const n = 10_000
	tks := f.issue(b, ev, "b1", n)
	cur := g.snapshotCursor(b)
	up.uploadEntries(b, tks)
	for _, enc := range []struct {
		name, accept string
		sign         func(uint32, string, []byte) []byte
		next         func([]byte) (string, int)
	}{
		{"json", "application/json", wire.ChangesSignedMessage, func(body []byte) (string, int) {
			var ch wire.Changes
			json.Unmarshal(body, &ch)
			return ch.Cursor, len(ch.Changes)
		}},
		{"compact", wire.FeedV2Type, wire.ChangesV2SignedMessage, func(body []byte) (string, int) {
			ch, _ := wire.UnmarshalFeed(body)
			return ch.Cursor, len(ch.Changes)
		}},
	} {
		b.Run(enc.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				f.server.ForgetPages()
				cpu -= selfCPU()
				c, got := cur, 0
				for got < n {
					a := g.getPage(b, c, enc.accept, enc.sign)
					next, k := enc.next(a.body)
					if k == 0 {
						b.Fatalf("the feed ended after %d of %d admissions", got, n)
					}
					c, got = next, got+k
				}
				cpu += selfCPU()
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*n), "cpu-µs/admission")
		})
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
