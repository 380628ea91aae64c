package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompactPage encodes a page of 1,000 stored admission changes
// (as the change log holds them, ticket text included) in version 2 and
// compresses it: the server's cost of building one page, store read
// aside. ns/op is per page.
func BenchmarkCompactPage(b *testing.B) {
	at, p := storedPage()
	for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression} {
		b.Run(map[int]string{gzip.BestSpeed: "gzip1", gzip.DefaultCompression: "gzip6", gzip.BestCompression: "gzip9"}[level], func(b *testing.B) {
			var size int
			cpu0 := processCPU()
			for b.Loop() {
				body, err := compactPage(p, at)
				if err != nil {
					b.Fatal(err)
				}
				var gz bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&gz, level)
				zw.Write(body)
				zw.Close()
				size = gz.Len()
			}
			b.ReportMetric(float64(size)/maxChanges, "B/admission")
			// The machine is shared: CPU time says more than the wall.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkJSONPage is BenchmarkCompactPage for a version 1 (JSON) page,
// what a gate of before version 2 gets: the stored changes written as
// they are, compressed at the level the server uses.
func BenchmarkJSONPage(b *testing.B) {
	at, p := storedPage()
	var size int
	cpu0 := processCPU()
	for b.Loop() {
		body := jsonPage(p, at)
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		zw.Write(body)
		zw.Close()
		size = gz.Len()
	}
	b.ReportMetric(float64(size)/maxChanges, "B/admission")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// storedPage returns a page of 1,000 stored admission changes as the
// change log holds them (ticket text included), and its build time.
func storedPage() (time.Time, FeedPage) {
	at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	var p FeedPage
	for i := range maxChanges {
		a := kido.Admission{Gate: uint32(1 + i/500), Seq: uint64(1 + i%500), Serial: uint32(i * 7919 % 500000), Tier: 1, Kind: kido.KindEntry,
			At: at.Add(time.Duration(i) * time.Millisecond), Corrected: at.Add(time.Duration(i)*time.Millisecond + 12345), Text: strings.Repeat("7", 188)}
		a.Hash = wire.AdmissionHash(a)
		raw, _ := json.Marshal(wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
		p.Changes = append(p.Changes, raw)
	}
	p.Next = Cursor{Pos: 1000, Tag: "0123456789abcdef"}
	return at, p
}
