package qr

// Internals the external tests compare with go-qrcode.

var (
	RenderGoQRCode = renderGoQRCode
	RunPenalty     = runPenalty
	FinderPenalty  = finderPenalty
	DecodeRescued  = decode
)

const (
	Side5       = side5
	MinDigits5M = minDigits5M
	MaxDigits5M = maxDigits5M
)

// Numeric5M returns the symbol the fast encoder makes for text as
// bitmap[y][x] read from its rows and from its columns (which the penalties
// use), and false if text does not take the fast path.
func Numeric5M(text string) (fromRows, fromCols [][]bool, ok bool) {
	if !fastNumeric5M(text) {
		return nil, nil, false
	}
	s := encodeNumeric5M(text)
	fromRows, fromCols = make([][]bool, side5), make([][]bool, side5)
	for y := range side5 {
		fromRows[y], fromCols[y] = make([]bool, side5), make([]bool, side5)
		for x := range side5 {
			fromRows[y][x] = s.rows[y]>>x&1 != 0
			fromCols[y][x] = s.cols[x]>>y&1 != 0
		}
	}
	return fromRows, fromCols, true
}
