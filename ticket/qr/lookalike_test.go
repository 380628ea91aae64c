package qr_test

import (
	"errors"
	"flag"
	"image"
	"image/draw"
	"math/rand/v2"
	"slices"
	"testing"

	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

var sweepTickets = flag.Int("qr.tickets", 0,
	"TestDecodeFinderLookalikes decodes the tickets of event 1001, tier 1, serials 0 to `n`-1 in every transformation instead of its usual sample (2000: about 3 minutes on two cores, half an hour with -race)")

// lookalikeTransforms are pictures of a code that a gate meets, each with
// the serials of event 1001's tier 1 tickets, among serials 0 to 1999, that
// Decode could not read in it before it had decodeFinderLookalike (found with
// -qr.tickets=2000): their data modules look like a finder pattern when
// scanned in the orientation of the picture.
var lookalikeTransforms = []struct {
	name       string
	f          func(image.Image) image.Image
	lookalikes []uint32
}{
	{"embedded", func(img image.Image) image.Image { return embed(img) },
		[]uint32{16, 25, 572, 636, 702, 949, 1032, 1105, 1581, 1856}},
	{"scaled 5/8", func(img image.Image) image.Image { return scale(img, 5.0/8) }, nil},
	{"scaled 5/8, embedded", func(img image.Image) image.Image { return embed(scale(img, 5.0/8)) },
		[]uint32{25, 572, 636, 702, 949, 1032, 1105, 1581, 1856}},
	{"scaled 3/8, embedded", func(img image.Image) image.Image { return embed(scale(img, 3.0/8)) }, nil},
	{"scaled 7/16, rotated 90°, embedded", func(img image.Image) image.Image { return embed(rotate90(scale(img, 7.0/16))) },
		[]uint32{63, 394, 1029}},
	{"rotated 90°", func(img image.Image) image.Image { return rotate90(img) },
		[]uint32{63, 128, 348, 394, 523, 562, 709, 850, 853, 932, 1029, 1082, 1190, 1275, 1580, 1615, 1715, 1910}},
	{"rotated 90°, embedded", func(img image.Image) image.Image { return embed(rotate90(img)) },
		[]uint32{63, 128, 348, 394, 523, 562, 709, 850, 853, 932, 973, 1029, 1082, 1190, 1275, 1580, 1615, 1715, 1910}},
	{"noisy", func(img image.Image) image.Image { return noise(img, 60, 0.03) },
		[]uint32{16, 25, 572, 636, 949, 1032, 1105, 1581, 1856}},
	{"scaled 1/2, rotated 90°, embedded, noisy", func(img image.Image) image.Image {
		return noise(embed(rotate90(scale(img, 0.5))), 40, 0.02)
	}, []uint32{63}},
}

// TestDecodeFinderLookalikes: in every transformation, Decode reads its
// lookalikes and a random sample of tickets (with -qr.tickets, a range of
// serials instead of the sample). It must report each lookalike read by
// decodeFinderLookalike, so that the lists keep testing it should the
// encoder's output change. The transformations run in parallel, which also
// tests Decode's safety for concurrent use under -race.
func TestDecodeFinderLookalikes(t *testing.T) {
	key, _ := issuer(t)
	r := rand.New(rand.NewPCG(21, 22))
	var sample []uint32
	for range 4 {
		sample = append(sample, r.Uint32())
	}
	if *sweepTickets > 0 {
		sample = sample[:0]
		for s := range uint32(*sweepTickets) {
			sample = append(sample, s)
		}
	}
	for _, tr := range lookalikeTransforms {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			serials := slices.Clone(sample)
			for _, s := range tr.lookalikes {
				if !slices.Contains(serials, s) {
					serials = append(serials, s)
				}
			}
			var failed []uint32
			rescued := 0
			for _, s := range serials {
				text := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: s, Tier: 1}).String()
				got, viaRescue, err := qr.DecodeRescued(tr.f(decodePNG(t, render(t, text))))
				switch {
				case got != text || err != nil:
					failed = append(failed, s)
				case viaRescue:
					rescued++
				case slices.Contains(tr.lookalikes, s):
					t.Errorf("serial %d was read without decodeFinderLookalike: not a lookalike", s)
				}
			}
			t.Logf("%d of %d tickets not read, %d read by decodeFinderLookalike", len(failed), len(serials), rescued)
			if len(failed) > 0 {
				t.Errorf("Decode did not read serials %v", failed)
			}
		})
	}
}

// TestDecodeFinderLookalikeNotTicket: decodeFinderLookalike prefers a
// kido ticket but reads other codes too; these two texts (188 digits, not
// tickets) have finder lookalikes when rotated and when embedded.
func TestDecodeFinderLookalikeNotTicket(t *testing.T) {
	tests := []struct {
		name, text string
		f          func(image.Image) image.Image
	}{
		{"rotated 90°", "96877519795569145327920140677617868223273835253727790814875839182224299991761826069030191457554098940511229466144372576565241968252994366211200937475339810011063206238371662756593956297967",
			func(img image.Image) image.Image { return rotate90(img) }},
		{"embedded", "92574673314411760155687447397219495058317589741098430786277316123389434939265834222395537941956449758971911738880095324407548624009527935914065907767298941298571596642649634450491777899000",
			func(img image.Image) image.Image { return embed(img) }},
	}
	for _, tt := range tests {
		got, rescued, err := qr.DecodeRescued(tt.f(decodePNG(t, render(t, tt.text))))
		if got != tt.text || err != nil || !rescued {
			t.Errorf("%s: decoded %q, %v, by decodeFinderLookalike %v; want %q by it", tt.name, got, err, rescued, tt.text)
		}
	}
}

// BenchmarkDecodeFinderLookalike is the rescue's cost: an embedded ticket
// that gozxing's single-code reader misreads in every binarizer first.
func BenchmarkDecodeFinderLookalike(b *testing.B) {
	key, _ := issuer(b)
	text := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 25, Tier: 1}).String()
	img := embed(decodePNG(b, render(b, text)))
	for b.Loop() {
		if got, err := qr.Decode(img); got != text || err != nil {
			b.Fatal(got, err)
		}
	}
}

// finderGrid returns a picture of rows×cols finder patterns, 4 px per
// module, 3 modules apart: a hostile picture for a search that tries
// triples of them.
func finderGrid(rows, cols int) *image.Gray {
	const m, pitch = 4, 10 // px per module, modules from one pattern to the next
	img := image.NewGray(image.Rect(0, 0, (cols*pitch+4)*m, (rows*pitch+4)*m))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for gy := range rows {
		for gx := range cols {
			for y := range 7 {
				for x := range 7 {
					ring := x == 0 || y == 0 || x == 6 || y == 6
					core := x >= 2 && x <= 4 && y >= 2 && y <= 4
					if ring || core {
						px := image.Rect(0, 0, m, m).Add(image.Pt((2+gx*pitch+x)*m, (2+gy*pitch+y)*m))
						draw.Draw(img, px, image.Black, image.Point{}, draw.Src)
					}
				}
			}
		}
	}
	return img
}

// BenchmarkDecodeNotFound: pictures without a code, which also go through
// decodeFinderLookalike: a busy one, and 4×6 and 16×16 finder patterns (the
// first within the candidates it considers, the second beyond).
func BenchmarkDecodeNotFound(b *testing.B) {
	for _, bc := range []struct {
		name string
		img  image.Image
	}{
		{"busy picture", embed(image.NewGray(image.Rect(0, 0, 0, 0)))},
		{"24 finder patterns", finderGrid(4, 6)},
		{"256 finder patterns", finderGrid(16, 16)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := qr.Decode(bc.img); !errors.Is(err, qr.ErrNotFound) {
					b.Fatalf("Decode = %v, want ErrNotFound", err)
				}
			}
		})
	}
}
