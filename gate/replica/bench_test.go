package replica

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkApplyChanges applies feed answers of 1,000 admissions made at
// another gate, as a gate catching up after an outage does; ns/op is per
// answer, applied in one transaction, and admissions/s is reported. The
// JSON answer carries each admission whole (its hash is checked against
// its text); the compact one (version 2) carries a check only.
func BenchmarkApplyChanges(b *testing.B) {
	for _, enc := range []string{"json", "compact"} {
		b.Run(enc, func(b *testing.B) {
			r, f := newReplica(b, 50, gatetest.GateBoth)
			at := time.Date(2027, 8, 1, 10, 0, 0, 0, time.UTC)
			const per = 1000
			text := f.Ticket(3) // a real ticket text's length and bytes
			seq := uint64(0)
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cs := make([]wire.Change, per)
				for j := range cs {
					seq++
					a := kido.Admission{Gate: 9, Seq: seq, Serial: uint32(seq*7919) % 1_000_000, Tier: gatetest.TierOf(uint32(seq)), Kind: kido.KindEntry, At: at, Corrected: at.Add(time.Duration(seq) * time.Millisecond), Text: text}
					a.Hash = wire.AdmissionHash(a)
					cs[j] = wire.Change{Kind: wire.ChangeAdmission, Admission: &a}
				}
				ch := changesOf(fmt.Sprintf("%d.00", seq), cs...)
				if enc == "compact" {
					body, err := wire.MarshalFeed(ch)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					cpu -= processCPU()
					// Decoding is part of what the gate does with a page.
					if ch, err = wire.UnmarshalFeed(body); err != nil {
						b.Fatal(err)
					}
				} else {
					b.StartTimer()
					cpu -= processCPU()
				}
				ap, err := r.ApplyChanges(context.Background(), ch)
				cpu += processCPU()
				if err != nil || ap.Admissions.Added != per {
					b.Fatalf("applied %+v, %v", ap, err)
				}
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "admissions/s")
			// The machine is shared: CPU time says more than the wall.
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N*per), "cpu-µs/admission")
		})
	}
}

// BenchmarkScan scans fresh single-entry tickets, each admitted, on a
// replica of 100,000 tickets: ns/op is one decide-and-record, fsync'd
// commit included.
func BenchmarkScan(b *testing.B) {
	const roster = 100_000
	r, f := newReplica(b, roster, gatetest.GateBoth)
	var texts []string
	for s := uint32(roster); s > 0 && len(texts) < b.N; s-- {
		if gatetest.TierOf(s) == gatetest.TierGA && s != gatetest.RevokedSerial {
			texts = append(texts, f.Ticket(s))
		}
	}
	if len(texts) < b.N {
		b.Fatalf("a roster of %d has fewer than %d single-entry tickets", roster, b.N)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d := scan(b, r, texts[i], false); !d.Admit {
			b.Fatalf("scan %d: %s %s", i, d.Reason, d.Detail)
		}
	}
}

// BenchmarkFind searches a roster of 1,000,000 tickets, the Japanese names
// with their readings, as a steward does at the gate: ns/op is one Find
// (goal: under 50 ms for any query). A name, reading or order reference
// typed from its start is served by a B-tree index; a query found only
// inside names and readings by the word index (search.go).
func BenchmarkFind(b *testing.B) {
	const roster = 1_000_000
	f := gatetest.New(roster, gatetest.GateBoth, time.Now())
	readings := map[string]string{"佐藤 花子": "サトウ ハナコ", "鈴木 一郎": "スズキ イチロウ"}
	for i := range f.Snapshot.Roster {
		e := &f.Snapshot.Roster[i]
		if rd, ok := readings[gatetest.Holders[e.Serial%uint32(len(gatetest.Holders))]]; ok {
			e.Reading = fmt.Sprintf("%s %d", rd, e.Serial)
		}
	}
	r, err := Create(b.TempDir()+"/replica.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if err := r.Apply(context.Background(), &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, q string
		found   bool
	}{
		{"name", "たなか じろう 99997", true}, // ﾀﾅｶ ｼﾞﾛｳ 99997 typed in hiragana
		{"name-many", "佐藤", true},       // 166,667 match; the first 50 are returned
		{"reading", "すずき いちろう 99995", true},
		{"order", "ORD-000123", true},
		{"inside-name", "じろう 99997", true},
		{"inside-reading", "はなこ 99996", true},
		{"inside-latin", "martin 12344", true},
		{"inside-one-char", "郎", true},
		{"inside-none", "花子 1000001", false}, // every pair common, together in no name
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu := -processCPU()
			for b.Loop() {
				ms, err := r.Find(context.Background(), c.q, 50)
				if err != nil || (len(ms) > 0) != c.found {
					b.Fatalf("Find(%q) = %d matches, %v", c.q, len(ms), err)
				}
			}
			cpu += processCPU()
			// The machine is shared: CPU time says more than the wall.
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkLearntIndex builds the index by serial of 500,000 learnt
// admissions from their pages, as the first decision of a process does:
// ns/op is one build.
func BenchmarkLearntIndex(b *testing.B) {
	r, _ := newReplica(b, 50, gatetest.GateBoth)
	at := time.Date(2027, 8, 1, 10, 0, 0, 0, time.UTC)
	const pages, per = 500, 1000
	for p := range pages {
		cs := make([]wire.Change, per)
		for j := range cs {
			seq := uint64(p*per + j + 1)
			a := kido.Admission{Gate: 9, Seq: seq, Serial: uint32(seq*7919) % 1_000_000, Tier: gatetest.TierOf(uint32(seq)), Kind: kido.KindEntry,
				Corrected: at.Add(time.Duration(seq) * time.Millisecond), Hash: fmt.Sprintf("%016x", seq)}
			cs[j] = wire.Change{Kind: wire.ChangeAdmission, Admission: &a}
		}
		if _, err := r.ApplyChanges(context.Background(), changesOf(fmt.Sprint(p), cs...)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		r.learnt = nil
		if err := r.refreshLearnt(context.Background(), r.conn); err != nil || len(r.learnt.pos) != pages*per {
			b.Fatalf("indexed %d, %v", len(r.learnt.pos), err)
		}
	}
}
