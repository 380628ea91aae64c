package qr

import (
	"cmp"
	"math"
	"slices"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	zxdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	zxdetector "github.com/makiuchi-d/gozxing/qrcode/detector"

	"kido.dev/kido/ticket"
)

// decodeFinderLookalike reads a code that gozxing's QR reader missed
// because data modules looked like a finder pattern: in about one ticket in
// 70 they do, in some orientation, and the reader samples the grid from the
// one triple of finder pattern candidates it likes best, by a measure that
// favours small triangles, and gives up when that fails.
//
// A picture that is nothing but the code and its quiet zone, upright (a
// rendered file, a cropped screenshot), is read straight from the module
// grid. In any other, every candidate in the picture is collected, and the
// triples laid out like a QR code's finder patterns are sampled and decoded,
// most regular first, until one gives a kido ticket; failing that, the first
// other code read is returned.
func decodeFinderLookalike(bmp *gozxing.BinaryBitmap, hints map[gozxing.DecodeHintType]any) (string, bool) {
	pure := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
	if res, err := zxqr.NewQRCodeReader().Decode(bmp, pure); err == nil {
		return res.GetText(), true
	}
	matrix, err := bmp.GetBlackMatrix()
	if err != nil {
		return "", false
	}
	det, dec := zxdetector.NewDetector(matrix), zxdecoder.NewDecoder()
	other := ""
	for _, t := range finderTriples(finderCandidates(matrix)) {
		grid, err := det.ProcessFinderPatternInfo(t.info)
		if err != nil {
			continue
		}
		res, err := dec.Decode(grid.GetBits(), hints)
		if err != nil {
			continue
		}
		if _, err := ticket.Parse(res.GetText()); err == nil {
			return res.GetText(), true
		}
		if other == "" {
			other = res.GetText()
		}
	}
	return other, other != ""
}

// maxFinderCandidates bounds the finder pattern candidates
// decodeFinderLookalike considers, and with them its time: a ticket's
// picture has its three and a few lookalikes, while a hostile picture of 256
// finder patterns has millions of triples, and gozxing's multi-code reader,
// which tries them all, took 20 s on one.
const maxFinderCandidates = 24

// finderCandidates returns the finder pattern candidates in every third row
// of matrix, as gozxing's reader finds them but without stopping once it
// has three, or nil if there are more than maxFinderCandidates.
func finderCandidates(matrix *gozxing.BitMatrix) []*zxdetector.FinderPattern {
	f := zxdetector.NewFinderPatternFinder(matrix, nil)
	w, h := matrix.GetWidth(), matrix.GetHeight()
	state := make([]int, 5) // runs of dark, light, dark, light, dark pixels
	found := func(i, j int) bool {
		return zxdetector.FinderPatternFinder_foundPatternCross(state) && f.HandlePossibleCenter(state, i, j)
	}
	for i := zxdetector.FinderPatternFinder_MIN_SKIP - 1; i < h; i += zxdetector.FinderPatternFinder_MIN_SKIP {
		clear(state)
		run := 0
		for j := range w {
			switch dark := matrix.Get(j, i); {
			case dark && run&1 == 1: // a light run ends
				run++
				state[run]++
			case dark || run&1 == 1:
				state[run]++
			case run < 4: // a dark run ends
				run++
				state[run]++
			case found(i, j):
				clear(state)
				run = 0
			default: // not a finder pattern: keep its last dark, light, dark runs
				zxdetector.FinderPatternFinder_ShiftCounts2(state)
				run = 3
			}
		}
		found(i, w)
		if len(f.GetPossibleCenters()) > maxFinderCandidates {
			return nil
		}
	}
	return f.GetPossibleCenters()
}

// finderTriple is three finder pattern candidates as the top-left, top-right
// and bottom-left patterns of a code, with how far they are from a right
// isosceles triangle (0 for a perfect one).
type finderTriple struct {
	info       *zxdetector.FinderPatternInfo
	distortion float64
}

// finderTriples returns the triples of candidates that can be a code's
// finder patterns, most regular first: similar module sizes, two equal
// sides at a right angle, within 10%.
func finderTriples(c []*zxdetector.FinderPattern) []finderTriple {
	var out []finderTriple
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			for k := j + 1; k < len(c); k++ {
				sizes := []float64{c[i].GetEstimatedModuleSize(), c[j].GetEstimatedModuleSize(), c[k].GetEstimatedModuleSize()}
				if slices.Max(sizes) > 1.4*slices.Min(sizes) {
					continue
				}
				bl, tl, tr := gozxing.ResultPoint_OrderBestPatterns(c[i], c[j], c[k])
				a, b := gozxing.ResultPoint_Distance(tl, bl), gozxing.ResultPoint_Distance(tl, tr)
				diag := gozxing.ResultPoint_Distance(tr, bl)
				sides := math.Abs(a-b) / min(a, b)
				angle := math.Abs(diag-math.Hypot(a, b)) / diag
				if sides >= 0.1 || angle >= 0.1 {
					continue
				}
				info := zxdetector.NewFinderPatternInfo(
					bl.(*zxdetector.FinderPattern), tl.(*zxdetector.FinderPattern), tr.(*zxdetector.FinderPattern))
				out = append(out, finderTriple{info, sides + angle})
			}
		}
	}
	slices.SortStableFunc(out, func(x, y finderTriple) int { return cmp.Compare(x.distortion, y.distortion) })
	return out
}
