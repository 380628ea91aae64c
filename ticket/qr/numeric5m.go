package qr

import "math/bits"

// This file encodes the one kind of code kido renders in bulk — decimal
// digits in numeric mode at QR version 5, error correction level M — with
// tables built once, where go-qrcode rebuilds the symbol, its Reed–Solomon
// generator and eight masked copies from scratch for every ticket. It
// reproduces go-qrcode module for module, including go-qrcode's own penalty
// scores for choosing the mask (which differ slightly from ISO/IEC 18004
// §7.8.3), so that go-qrcode stays the encoder of record:
// TestNumeric5MMatchesGoQRCode and TestNumeric5MLengths compare both on
// 2,000 tickets and on every length the fast path accepts, and
// TestLinePenalties compares the penalty rules on 200,000 lines. Any other
// text goes to go-qrcode.

const (
	side5 = 17 + 4*5 // modules per side at version 5

	// Version 5-M: two blocks of 43 data and 24 error correction codewords,
	// then 7 remainder bits (ISO/IEC 18004 Tables 1 and 9).
	blocks5M     = 2
	dataPerBlock = 43
	ecPerBlock   = 24
	dataBits5M   = blocks5M * dataPerBlock * 8
	totalBits5M  = blocks5M*(dataPerBlock+ecPerBlock)*8 + 7

	// minDigits5M and maxDigits5M bound the texts of digits go-qrcode puts at
	// version 5-M: 149 digits still fit version 4 (512 data bits), 203 need
	// version 6. A kido ticket is 188.
	minDigits5M = 150
	maxDigits5M = 202
)

// fastNumeric5M reports whether text is decimal digits that go-qrcode
// encodes at version 5-M, the case encodeNumeric5M handles.
func fastNumeric5M(text string) bool {
	if len(text) < minDigits5M || len(text) > maxDigits5M {
		return false
	}
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			return false
		}
	}
	return true
}

// symbol5 is a version 5 symbol as bit rows: bit x of rows[y] is the module
// at column x, row y, set for dark. cols is the same symbol transposed, so
// that the column penalties read a column as one word.
type symbol5 struct {
	rows, cols [side5]uint64
}

// encodeNumeric5M returns the symbol go-qrcode makes for text, which must
// satisfy fastNumeric5M.
func encodeNumeric5M(text string) symbol5 {
	var cw [blocks5M * (dataPerBlock + ecPerBlock)]byte
	numericCodewords(text, cw[:blocks5M*dataPerBlock])
	interleave5M(&cw)

	// The codeword bits in their cells, before masking; the remainder bits
	// after the last codeword are light.
	var data symbol5
	for i := range len(cw) * 8 {
		if cw[i>>3]&(0x80>>(i&7)) != 0 {
			c := layout5.cells[i]
			data.rows[c.y] |= 1 << c.x
			data.cols[c.x] |= 1 << c.y
		}
	}

	var best, s symbol5
	bestPenalty := 0
	for m := range layout5.masked {
		base := &layout5.masked[m]
		for i := range side5 {
			s.rows[i] = base.rows[i] ^ data.rows[i]
			s.cols[i] = base.cols[i] ^ data.cols[i]
		}
		// The first mask with the lowest score wins, as in go-qrcode.
		if p := s.penalty(); m == 0 || p < bestPenalty {
			best, bestPenalty = s, p
		}
	}
	return best
}

// numericCodewords writes text's data codewords: mode indicator 0001, a
// 10-bit character count, 10 bits per three digits (7 or 4 for the last
// one or two), a terminator of up to four zero bits, zero bits to a byte
// boundary, then the pad codewords 0xec and 0x11 in turn.
func numericCodewords(text string, out []byte) {
	w := bitWriter{out: out}
	w.write(0b0001, 4)
	w.write(uint64(len(text)), 10)
	for i := 0; i < len(text); i += 3 {
		v, n := uint64(0), uint(1)
		for j := i; j < i+3 && j < len(text); j++ {
			v = v*10 + uint64(text[j]-'0')
			n += 3
		}
		w.write(v, n)
	}
	w.write(0, uint(min(4, dataBits5M-w.n)))
	w.write(0, uint(-w.n&7))
	for pad := byte(0xec); w.n < dataBits5M; pad ^= 0xec ^ 0x11 {
		w.write(uint64(pad), 8)
	}
}

// bitWriter appends bits most significant first to a zeroed buffer.
type bitWriter struct {
	out []byte
	n   int // bits written
}

func (w *bitWriter) write(v uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		if v>>i&1 != 0 {
			w.out[w.n>>3] |= 0x80 >> (w.n & 7)
		}
		w.n++
	}
}

// interleave5M computes each block's error correction codewords from the
// data codewords at the start of cw and rewrites cw in transmission order:
// the blocks' data codewords interleaved, then their error correction
// codewords interleaved.
func interleave5M(cw *[blocks5M * (dataPerBlock + ecPerBlock)]byte) {
	var data [blocks5M][dataPerBlock]byte
	var ec [blocks5M][ecPerBlock]byte
	for b := range blocks5M {
		copy(data[b][:], cw[b*dataPerBlock:])
		ec[b] = rsRemainder(&data[b])
	}
	for i := range dataPerBlock {
		for b := range blocks5M {
			cw[i*blocks5M+b] = data[b][i]
		}
	}
	for i := range ecPerBlock {
		for b := range blocks5M {
			cw[blocks5M*dataPerBlock+i*blocks5M+b] = ec[b][i]
		}
	}
}

// GF(256) with the QR polynomial x⁸+x⁴+x³+x²+1, as log and antilog tables;
// exp is doubled so that a sum of two logs needs no reduction.
var gfExp, gfLog = func() (exp [510]byte, log [256]byte) {
	x := 1
	for i := range 255 {
		exp[i], exp[i+255] = byte(x), byte(x)
		log[x] = byte(i)
		if x <<= 1; x >= 256 {
			x ^= 0x11d
		}
	}
	return exp, log
}()

// rsGenLog holds the logs of the coefficients of the generator polynomial
// ∏(x − αⁱ), i < ecPerBlock, highest degree first, its leading 1 left out.
var rsGenLog = func() (g [ecPerBlock]byte) {
	poly := []byte{1} // highest degree first
	for i := range ecPerBlock {
		next := make([]byte, len(poly)+1)
		for j, c := range poly {
			next[j] ^= c
			if c != 0 {
				next[j+1] ^= gfExp[int(gfLog[c])+i]
			}
		}
		poly = next
	}
	for i := range g {
		g[i] = gfLog[poly[i+1]] // every coefficient of this generator is non-zero
	}
	return g
}()

// rsRemainder returns the Reed–Solomon error correction codewords of one
// block: the remainder of data·x²⁴ divided by the generator.
func rsRemainder(data *[dataPerBlock]byte) (ec [ecPerBlock]byte) {
	for _, d := range data {
		f := d ^ ec[0]
		copy(ec[:], ec[1:])
		ec[ecPerBlock-1] = 0
		if f == 0 {
			continue
		}
		lf := int(gfLog[f])
		for j, g := range rsGenLog {
			ec[j] ^= gfExp[lf+int(g)]
		}
	}
	return ec
}

// layout5 is everything about a version 5-M symbol that does not depend on
// the text.
var layout5 = newLayout5()

type cell struct{ x, y uint8 }

type layout5M struct {
	// cells lists the data modules in the order codeword bits fill them,
	// as go-qrcode walks them: two columns at a time from the bottom right,
	// up and down in turn, skipping function patterns and the vertical
	// timing column.
	cells [totalBits5M]cell
	// masked[m] is the symbol with mask m and no data: function patterns,
	// format information for level M and mask m, and mask m's dark modules
	// in the data area. XOR with the data bits gives the masked symbol.
	masked [8]symbol5
}

func newLayout5() *layout5M {
	const n = side5
	var used, dark [n][n]bool // [y][x]
	set := func(x, y int, v bool) { used[y][x], dark[y][x] = true, v }

	// Finder patterns with their light separators, in go-qrcode's order.
	finder := func(x0, y0 int) {
		for y := range 7 {
			for x := range 7 {
				ring := max(abs(x-3), abs(y-3))
				set(x0+x, y0+y, ring != 2)
			}
		}
	}
	finder(0, 0)
	for i := range 8 {
		set(i, 7, false)
		set(7, i, false)
	}
	finder(n-7, 0)
	for i := range 8 {
		set(n-8+i, 7, false)
		set(n-8, i, false)
	}
	finder(0, n-7)
	for i := range 8 {
		set(i, n-8, false)
		set(7, n-8+i, false)
	}
	// Alignment patterns centred on every pair of {6, 30} not already taken:
	// only (30, 30) at version 5.
	for _, cx := range []int{6, 30} {
		for _, cy := range []int{6, 30} {
			if used[cy][cx] {
				continue
			}
			for y := -2; y <= 2; y++ {
				for x := -2; x <= 2; x++ {
					set(cx+x, cy+y, max(abs(x), abs(y)) != 1)
				}
			}
		}
	}
	for i := 8; i < n-7; i++ {
		set(i, 6, i%2 == 0)
		set(6, i, i%2 == 0)
	}
	// Format information: reserve its cells; each mask fills them below.
	formatCells := formatCells5()
	for _, c := range formatCells {
		set(int(c.x), int(c.y), false)
	}
	set(8, n-8, true) // the dark module

	l := new(layout5M)
	xOffset, up, x, y := 1, true, n-2, n-1
	for i := range l.cells {
		l.cells[i] = cell{uint8(x + xOffset), uint8(y)}
		used[y][x+xOffset] = true
		if i == len(l.cells)-1 {
			break
		}
		for {
			if xOffset == 1 {
				xOffset = 0
			} else {
				xOffset = 1
				switch {
				case up && y > 0:
					y--
				case !up && y < n-1:
					y++
				default:
					up = !up
					x -= 2
				}
			}
			if x == 5 {
				x--
			}
			if !used[y][x+xOffset] {
				break
			}
		}
	}

	for m := range l.masked {
		s := &l.masked[m]
		put := func(x, y int) {
			s.rows[y] |= 1 << x
			s.cols[x] |= 1 << y
		}
		for y := range n {
			for x := range n {
				if dark[y][x] {
					put(x, y)
				}
			}
		}
		f := formatInfoM(m)
		for i, c := range formatCells {
			if f>>formatBit5[i]&1 != 0 {
				put(int(c.x), int(c.y))
			}
		}
		for _, c := range l.cells {
			if maskDark(m, int(c.x), int(c.y)) {
				put(int(c.x), int(c.y))
			}
		}
	}
	return l
}

func abs(v int) int { return max(v, -v) }

// formatCells5 returns the cells of the two copies of the format
// information, in the order of formatBit5.
func formatCells5() []cell {
	const n = side5
	var c []cell
	for i := range 8 { // bits 0–7 under the top right finder pattern
		c = append(c, cell{uint8(n - 1 - i), 8})
	}
	for i := range 6 { // bits 0–5 right of the top left finder pattern
		c = append(c, cell{8, uint8(i)})
	}
	c = append(c, cell{8, 7}, cell{8, 8}, cell{7, 8}) // bits 6–8
	for i := 9; i <= 14; i++ {                        // under the top left finder pattern
		c = append(c, cell{uint8(14 - i), 8})
	}
	for i := 8; i <= 14; i++ { // right of the bottom left finder pattern
		c = append(c, cell{8, uint8(n - 15 + i)})
	}
	return c
}

// formatBit5 is the bit of the format information, least significant 0,
// that each of formatCells5 shows.
var formatBit5 = [...]uint{
	0, 1, 2, 3, 4, 5, 6, 7,
	0, 1, 2, 3, 4, 5,
	6, 7, 8,
	9, 10, 11, 12, 13, 14,
	8, 9, 10, 11, 12, 13, 14,
}

// formatInfoM returns the 15-bit format information for level M (00) and
// mask m: the five data bits, their BCH(15,5) remainder by
// x¹⁰+x⁸+x⁵+x⁴+x²+x+1, XORed with 101010000010010 (ISO/IEC 18004 §7.9.1).
func formatInfoM(m int) uint {
	d := uint(m) << 10
	r := d
	for i := 14; i >= 10; i-- {
		if r>>i&1 != 0 {
			r ^= 0x537 << (i - 10)
		}
	}
	return (d | r) ^ 0x5412
}

// maskDark reports whether mask m darkens the data module at column x,
// row y (ISO/IEC 18004 Table 10).
func maskDark(m, x, y int) bool {
	switch m {
	case 0:
		return (y+x)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (y+x)%3 == 0
	case 4:
		return (y/2+x/3)%2 == 0
	case 5:
		return (y*x)%2+(y*x)%3 == 0
	case 6:
		return ((y*x)%2+(y*x)%3)%2 == 0
	default:
		return ((y+x)%2+(y*x)%3)%2 == 0
	}
}

// penalty is go-qrcode's score of a masked symbol: lower is better.
func (s *symbol5) penalty() int {
	p := 0
	dark := 0
	for i := range side5 {
		p += runPenalty(s.rows[i]) + runPenalty(s.cols[i])
		p += finderPenalty(s.rows[i]) + finderPenalty(s.cols[i])
		dark += bits.OnesCount64(s.rows[i])
	}
	// 3 for every 2×2 block of one colour.
	const inner = 1<<(side5-1) - 1 // the left column of each 2×2
	for y := 1; y < side5; y++ {
		a, b := s.rows[y-1], s.rows[y]
		same := ^(a ^ b) & ^(a ^ a>>1) & ^(b ^ b>>1) & inner
		p += 3 * bits.OnesCount64(same)
	}
	// 10 for every full 5% the dark share strays from half.
	const total = side5 * side5
	return p + 10*(abs(total/2-dark)/(total/20))
}

// runPenalty scores runs of one colour in a line as go-qrcode does: a run
// of k ≥ 6 modules costs k − 2 (ISO/IEC 18004 already charges runs of 5).
func runPenalty(line uint64) int {
	const pairs = 1<<(side5-1) - 1
	same := ^(line ^ line>>1) & pairs // bit i: modules i and i+1 match
	// A run of k modules is k−1 consecutive set bits in same, which hold
	// k−5 windows of five set bits: count those, and 3 more for each run
	// that has any.
	five := same & (same >> 1) & (same >> 2) & (same >> 3) & (same >> 4)
	if five == 0 {
		return 0
	}
	starts := five &^ (five << 1)
	return bits.OnesCount64(five) + 3*bits.OnesCount64(starts)
}

// finderPenalty scores a line for patterns like a finder's, dark light
// dark dark dark light dark next to four light modules, exactly as
// go-qrcode does: 40 for each, reading an 11-module window from the start
// of the line (light before it), and after each find treating the last
// eight modules as dark.
func finderPenalty(line uint64) int {
	// Without a first find, the window is the line itself after light
	// modules: rule that out with word operations, which is the usual case.
	const m = 1<<side5 - 1
	l := line & m
	// Bit x of l is module x; a window ending at x reads modules x−10..x
	// from the most significant bit, so 0x05d ending at x means modules
	// x−6..x are 1011101 and x−10..x−7 light; 0x5d0 means x−10..x−4 are
	// 1011101 and x−3..x light.
	core := l & (l >> 2) & (l >> 3) & (l >> 4) & (l >> 6) &^ (l >> 1) &^ (l >> 5)
	// core bit j: modules j..j+6 read 1011101 (symmetric, so either way).
	lightBefore := ^(l<<1 | l<<2 | l<<3 | l<<4)   // bit j: modules j−4..j−1 light or before the line
	lightAfter := ^(l>>7 | l>>8 | l>>9 | l>>10) & // bit j: modules j+7..j+10 light
		(1<<(side5-10) - 1)
	atEnd := uint64(1) << (side5 - 7) // go-qrcode also counts a pattern that ends the line
	if core&(lightBefore|lightAfter|atEnd) == 0 {
		return 0
	}
	p := 0
	var buf uint
	for x := range side5 {
		buf = buf<<1 | uint(line>>x&1)
		switch w := buf & 0x7ff; {
		case w == 0x05d || w == 0x5d0:
			p += 40
			buf = 0xff
		case x == side5-1 && buf&0x7f == 0x5d:
			p += 40
			buf = 0xff
		}
	}
	return p
}
