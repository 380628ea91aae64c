package qr

import (
	"fmt"
	"math/bits"

	qrcode "github.com/skip2/go-qrcode"
)

const (
	// ModulePixels is the side of one QR module in a rendered PNG. Eight
	// pixels make a version 5 code with its quiet zone 360×360 px: 30.5 mm
	// (0.68 mm per module) when printed at 300 dpi, twice the 0.33 mm
	// module commonly recommended as a minimum for printed codes, yet small
	// enough for a ticket stub or a phone screen.
	// A whole number of pixels per module keeps every module the same size,
	// which resampled renderings do not.
	ModulePixels = 8

	// QuietZone is the white border, in modules, around every rendered code;
	// ISO/IEC 18004 requires four.
	QuietZone = 4

	// MaxVersion is the largest QR version a kido ticket may need at error
	// correction level M (docs/ticket-format.md): 37×37 modules.
	MaxVersion = 5
)

// newCode encodes text at error correction level M, the level every kido
// QR code uses: it repairs about 15% damage, where L (7%) is too little for
// cracked screens and Q would push a ticket past version 5.
func newCode(text string) (*qrcode.QRCode, error) {
	c, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr: encode %d characters: %w", len(text), err)
	}
	return c, nil
}

// Version returns the QR version (1 to 40) the encoder chooses for text at
// error correction level M. A kido ticket needs at most MaxVersion.
func Version(text string) (int, error) {
	c, err := newCode(text)
	if err != nil {
		return 0, err
	}
	return c.VersionNumber, nil
}

// Modules returns the symbol Render draws for text, without its quiet zone:
// dark[y][x] is true for a dark module. It is for drawing the code at any
// size as vector graphics, in a printable ticket.
func Modules(text string) (dark [][]bool, err error) {
	c, err := newCode(text)
	if err != nil {
		return nil, err
	}
	c.DisableBorder = true
	return c.Bitmap(), nil
}

// Render returns text as a QR code at error correction level M in a 1-bit
// PNG, ModulePixels per module with a QuietZone border. It is safe for
// concurrent use.
//
// A kido ticket (digits that make a version 5 code) takes the table-driven
// encodeNumeric5M, which makes exactly go-qrcode's symbol several times
// faster; any other text is encoded by go-qrcode itself.
func Render(text string) ([]byte, error) {
	if fastNumeric5M(text) {
		s := encodeNumeric5M(text)
		return writePNG(side5, func(y int, px []byte) {
			for row := s.rows[y]; row != 0; row &= row - 1 {
				paintModule(px, bits.TrailingZeros64(row))
			}
		})
	}
	return renderGoQRCode(text)
}

// renderGoQRCode is Render with go-qrcode's encoder, for any text.
func renderGoQRCode(text string) ([]byte, error) {
	c, err := newCode(text)
	if err != nil {
		return nil, err
	}
	c.DisableBorder = true // the border is drawn by writePNG, at a fixed width
	bitmap := c.Bitmap()
	return writePNG(len(bitmap), func(y int, px []byte) {
		for x, dark := range bitmap[y] {
			if dark {
				paintModule(px, x)
			}
		}
	})
}
