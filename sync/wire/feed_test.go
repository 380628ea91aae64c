package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/sync/wire/internal/feedvectors"
)

const feedDir = "testdata/feed"

// TestFeedVectors reads every version 2 page of testdata/feed: a sound one
// reads as its page header says and writes back to the same bytes; a bad
// one is refused with ErrBadFeed.
func TestFeedVectors(t *testing.T) {
	entries, err := os.ReadDir(feedDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 10 {
		t.Fatalf("%d vectors in %s", len(entries), feedDir)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(feedDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			v, err := feedvectors.Parse(e.Name(), data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.UnmarshalFeed(v.Body)
			if v.Expect == feedvectors.Bad {
				if !errors.Is(err, wire.ErrBadFeed) {
					t.Fatalf("read %+v, %v; want ErrBadFeed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j, _ := json.Marshal(got); string(j) != v.Page {
				t.Errorf("read\n%s\nwant\n%s", j, v.Page)
			}
			if again, err := wire.MarshalFeed(got); err != nil || !bytes.Equal(again, v.Body) {
				t.Errorf("written back: %x, %v\nwant %x", again, err, v.Body)
			}
			// The same page as JSON (version 1) passes the strict decoder
			// and reads the same.
			var v1 wire.Changes
			if err := wire.Decode(strings.NewReader(v.Page), &v1, 1<<20); err != nil {
				t.Fatalf("version 1 of the page: %v", err)
			}
			if j, _ := json.Marshal(v1); string(j) != v.Page {
				t.Errorf("version 1 read\n%s\nwant\n%s", j, v.Page)
			}
		})
	}
}

// TestFeedFilesUpToDate proves the files are exactly what the generator
// makes.
func TestFeedFilesUpToDate(t *testing.T) {
	want := map[string][]byte{}
	for _, v := range feedvectors.Generate() {
		want[v.Name] = v.Marshal()
	}
	diffs, err := vectorfiles.Diff(feedDir, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("%s; run: go generate ./sync/wire/internal/feedvectors", d)
	}
}

// TestFeedCarriesWhatGatesNeed: a page written from full admissions reads
// back with every field a gate decides with and the check, and without
// what it does not need.
func TestFeedCarriesWhatGatesNeed(t *testing.T) {
	at := time.Date(2027, 8, 1, 1, 2, 3, 5, time.UTC)
	a := kido.Admission{Gate: 4, Seq: 99, Serial: 1 << 30, Tier: 255, Kind: kido.KindExit, At: at.Add(time.Hour), Corrected: at, Text: "x", Reason: ""}
	a.Hash = wire.AdmissionHash(a)
	b, err := wire.MarshalFeed(&wire.Changes{Changes: []wire.Change{{Kind: wire.ChangeAdmission, Admission: &a}}, Cursor: "5.0000000000000005", ServerTime: at})
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.UnmarshalFeed(b)
	if err != nil {
		t.Fatal(err)
	}
	g := *got.Changes[0].Admission
	want := kido.Admission{Gate: 4, Seq: 99, Serial: 1 << 30, Tier: 255, Kind: kido.KindExit, Corrected: at, Hash: a.Hash[:16]}
	if !reflect.DeepEqual(g, want) || !wire.IsCheckOnly(g) || !wire.SameRecord(g.Hash, a.Hash) || got.Cursor != "5.0000000000000005" || !got.ServerTime.Equal(at) {
		t.Errorf("read %+v (page %+v), want %+v", g, got, want)
	}
}

// FuzzUnmarshalFeed: whatever the bytes, reading never panics, and a page
// that reads writes back to exactly its bytes (one canonical encoding).
func FuzzUnmarshalFeed(f *testing.F) {
	for _, v := range feedvectors.Generate() {
		f.Add(v.Body)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := wire.UnmarshalFeed(b)
		if err != nil {
			if !errors.Is(err, wire.ErrBadFeed) {
				t.Fatalf("error %v does not wrap ErrBadFeed", err)
			}
			return
		}
		again, err := wire.MarshalFeed(ch)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("read %x, wrote back %x, %v", b, again, err)
		}
	})
}
