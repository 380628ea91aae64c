package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeFile reads camera photos too
	"image/png"
	"os"
	"slices"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// MaxPixels bounds the images Decode accepts (about 40 megapixels), so
// that a hostile or mistaken file cannot exhaust memory.
const MaxPixels = 40 << 20

var (
	// ErrNotFound: no readable QR code in the image.
	ErrNotFound = errors.New("qr: no readable QR code in the image")
	// ErrTooLarge: the image has more than MaxPixels pixels.
	ErrTooLarge = errors.New("qr: image too large")
)

const hintNotFound = "\nhint: use a sharper, evenly lit picture with the whole code and its white border in view"

// Decode finds one QR code in img (a screenshot, a scan or a photo; any
// rotation; dark on light or light on dark) and returns its text, which for a
// kido ticket is then given to ticket.Parse. It is safe for concurrent use.
func Decode(img image.Image) (text string, err error) {
	text, _, err = decode(img)
	return text, err
}

// decode is Decode, and also reports whether the text was read by
// decodeFinderLookalike.
func decode(img image.Image) (text string, rescued bool, err error) {
	b := img.Bounds()
	if err := checkSize(image.Config{Width: b.Dx(), Height: b.Dy()}); err != nil {
		return "", false, err
	}
	// The decoder is a third-party port reading untrusted pictures: turn a
	// panic deep inside it into a plain failure to read.
	defer func() {
		if r := recover(); r != nil {
			text, rescued, err = "", false, fmt.Errorf("%w: decoder failed: %v", ErrNotFound, r)
		}
	}()
	src := gozxing.NewLuminanceSourceFromImage(img)
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	var last error
	for _, bin := range binarizers(src) {
		bmp, err := gozxing.NewBinaryBitmap(bin())
		if err != nil {
			return "", false, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		res, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
		if err == nil {
			return res.GetText(), false, nil
		}
		last = err
		// Only after a failure, and on the black and white picture bmp
		// already holds.
		if text, ok := decodeFinderLookalike(bmp, hints); ok {
			return text, true, nil
		}
	}
	return "", false, fmt.Errorf("%w (%v)%s", ErrNotFound, last, hintNotFound)
}

// binarizers returns the ways Decode turns the picture into black and
// white, cheapest and most common first; each later one is tried only when
// the earlier ones found nothing.
func binarizers(src gozxing.LuminanceSource) []func() gozxing.Binarizer {
	bins := []func() gozxing.Binarizer{
		// Local thresholds: uneven lighting, shadows, glare.
		func() gozxing.Binarizer { return gozxing.NewHybridBinarizer(src) },
		// Light-on-dark codes (a phone in dark mode).
		func() gozxing.Binarizer { return gozxing.NewHybridBinarizer(src.Invert()) },
		// One global threshold: sensor noise, which local thresholds
		// mistake for detail in flat areas.
		func() gozxing.Binarizer { return gozxing.NewGlobalHistgramBinarizer(src) },
	}
	// Speckles (dust, print defects, salt-and-pepper noise) break the
	// finder patterns' run lengths: remove them first. The filter costs
	// about a second on a large photo, hence the bound.
	if src.GetWidth()*src.GetHeight() <= medianMaxPixels {
		bins = append(bins, func() gozxing.Binarizer { return gozxing.NewHybridBinarizer(median3(src)) })
	}
	return bins
}

// medianMaxPixels bounds the pictures median3 filters: 8 megapixels.
const medianMaxPixels = 8 << 20

// median3 returns src filtered by a 3×3 median, which removes isolated dark
// or light pixels but keeps the edges of modules two or more pixels wide.
func median3(src gozxing.LuminanceSource) gozxing.LuminanceSource {
	w, h := src.GetWidth(), src.GetHeight()
	in := src.GetMatrix()
	out := image.NewGray(image.Rect(0, 0, w, h))
	var win [9]byte
	for y := range h {
		for x := range w {
			n := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					// Clamp at the border: repeat the edge pixels.
					xx, yy := min(max(x+dx, 0), w-1), min(max(y+dy, 0), h-1)
					win[n] = in[yy*w+xx]
					n++
				}
			}
			slices.Sort(win[:])
			out.Pix[y*w+x] = win[4]
		}
	}
	return gozxing.NewLuminanceSourceFromImage(out)
}

// DecodePNG decodes a PNG image and returns the text of the QR code in it.
func DecodePNG(data []byte) (string, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("qr: read png: %w", err)
	}
	if err := checkSize(cfg); err != nil {
		return "", err
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("qr: read png: %w", err)
	}
	return Decode(img)
}

// DecodeFile reads a PNG or JPEG file and returns the text of the QR code in
// it.
func DecodeFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("qr: read %s: %w\nhint: give a PNG or JPEG picture", path, err)
	}
	if err := checkSize(cfg); err != nil {
		return "", err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("qr: read %s (%s): %w", path, format, err)
	}
	return Decode(img)
}

// checkSize refuses an empty or oversized image, before its pixels are
// allocated where the caller can.
func checkSize(cfg image.Config) error {
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fmt.Errorf("%w: the image is empty", ErrNotFound)
	}
	if cfg.Width > MaxPixels/cfg.Height {
		return fmt.Errorf("%w: %d×%d pixels, at most %d", ErrTooLarge, cfg.Width, cfg.Height, MaxPixels)
	}
	return nil
}
