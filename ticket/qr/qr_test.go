package qr_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

var now = time.Date(2026, 6, 1, 18, 30, 0, 0, time.UTC)

// issuer returns a deterministic key and the keyring that trusts it for
// event 1001.
func issuer(tb testing.TB) (ticket.PrivateKey, *ticket.Keyring) {
	tb.Helper()
	seed := sha256.Sum256([]byte("kido qr test key"))
	key, err := ticket.NewPrivateKeyFromSeed(seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return key, ticket.NewKeyring(ticket.Key{Public: key.Public(), Event: 1001})
}

func render(tb testing.TB, text string) []byte {
	tb.Helper()
	p, err := qr.Render(text)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func decodePNG(tb testing.TB, p []byte) image.Image {
	tb.Helper()
	img, err := png.Decode(bytes.NewReader(p))
	if err != nil {
		tb.Fatalf("the rendered PNG does not decode with image/png: %v", err)
	}
	return img
}

// TestVersion proves on the real encoder's output that every ticket fits
// QR version 5 at level M.
func TestVersion(t *testing.T) {
	key, _ := issuer(t)
	claims := []ticket.Claims{{}, {Event: 1<<32 - 1, Serial: 1<<32 - 1, Tier: 255}}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		claims = append(claims, ticket.Claims{Event: r.Uint32(), Serial: r.Uint32(), Tier: uint8(r.UintN(256))})
	}
	for _, c := range claims {
		text := ticket.Sign(key, c).String()
		v, err := qr.Version(text)
		if err != nil {
			t.Fatal(err)
		}
		if v > qr.MaxVersion {
			t.Fatalf("ticket %+v needs QR version %d at M, more than %d", c, v, qr.MaxVersion)
		}
		// The PNG itself must show the same: side = (17+4v + 2·quiet) modules.
		side := decodePNG(t, render(t, text)).Bounds().Dx()
		modules := side/qr.ModulePixels - 2*qr.QuietZone
		if got := (modules - 17) / 4; got != v || side%qr.ModulePixels != 0 {
			t.Fatalf("PNG is %d px: %d modules, version %d; Version said %d", side, modules, got, v)
		}
	}
	text := ticket.Sign(key, claims[1]).String()
	v, _ := qr.Version(text)
	t.Logf("a %d-digit ticket needs QR version %d at error correction M (%d×%d modules, %d×%d px PNG)",
		len(text), v, 17+4*v, 17+4*v, (17+4*v+2*qr.QuietZone)*qr.ModulePixels, (17+4*v+2*qr.QuietZone)*qr.ModulePixels)

	if _, err := qr.Version(strings.Repeat("7", 8000)); err == nil {
		t.Error("Version accepted 8000 digits, beyond QR version 40")
	}
}

// TestRenderMatchesLibrary compares the hand-written PNG pixel by pixel
// with go-qrcode's own rendering of the same code at 8 px per module.
func TestRenderMatchesLibrary(t *testing.T) {
	key, _ := issuer(t)
	text := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 42, Tier: 1}).String()
	got := decodePNG(t, render(t, text))
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	want := code.Image(-qr.ModulePixels)
	if got.Bounds() != want.Bounds() {
		t.Fatalf("bounds %v, library renders %v", got.Bounds(), want.Bounds())
	}
	b := got.Bounds()
	quiet := qr.QuietZone * qr.ModulePixels
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g, w := color.GrayModel.Convert(got.At(x, y)), color.GrayModel.Convert(want.At(x, y))
			if g != w {
				t.Fatalf("pixel (%d,%d) is %v, library has %v", x, y, g, w)
			}
			inQuiet := x < quiet || y < quiet || x >= b.Max.X-quiet || y >= b.Max.Y-quiet
			if inQuiet && g.(color.Gray).Y != 0xff {
				t.Fatalf("pixel (%d,%d) in the quiet zone is not white", x, y)
			}
		}
	}
	if p, ok := got.(*image.Paletted); !ok || len(p.Palette) != 2 {
		t.Errorf("decoded as %T, want a two-colour paletted image", got)
	}
}

// TestModules: the modules given for vector drawing are the ones Render
// paints, module for module.
func TestModules(t *testing.T) {
	key, _ := issuer(t)
	text := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 42, Tier: 1}).String()
	dark, err := qr.Modules(text)
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, render(t, text))
	if n := len(dark) + 2*qr.QuietZone; n*qr.ModulePixels != img.Bounds().Dx() {
		t.Fatalf("%d modules with the quiet zone, image is %d px wide", n, img.Bounds().Dx())
	}
	for y, row := range dark {
		for x, d := range row {
			px := (x+qr.QuietZone)*qr.ModulePixels + qr.ModulePixels/2
			py := (y+qr.QuietZone)*qr.ModulePixels + qr.ModulePixels/2
			if got := color.GrayModel.Convert(img.At(px, py)).(color.Gray).Y == 0; got != d {
				t.Fatalf("module (%d,%d): Render dark %v, Modules dark %v", x, y, got, d)
			}
		}
	}
}

// Image transformations a gate camera meets.

func toGray(img image.Image) *image.Gray {
	g := image.NewGray(img.Bounds())
	draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	return g
}

// scale resizes by area averaging, which blurs module edges as a camera
// does.
func scale(img image.Image, f float64) *image.Gray {
	src := toGray(img)
	sw := src.Bounds().Dx()
	dw := int(float64(sw) * f)
	dst := image.NewGray(image.Rect(0, 0, dw, dw))
	for y := range dw {
		for x := range dw {
			x0, x1 := int(float64(x)/f), int(float64(x+1)/f)
			y0, y1 := int(float64(y)/f), int(float64(y+1)/f)
			sum, n := 0, 0
			for sy := y0; sy < max(y1, y0+1); sy++ {
				for sx := x0; sx < max(x1, x0+1); sx++ {
					sum += int(src.GrayAt(sx, sy).Y)
					n++
				}
			}
			dst.SetGray(x, y, color.Gray{uint8(sum / n)})
		}
	}
	return dst
}

func rotate90(img image.Image) *image.Gray {
	src := toGray(img)
	b := src.Bounds()
	dst := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.SetGray(b.Max.Y-1-y, x-b.Min.X, src.GrayAt(x, y))
		}
	}
	return dst
}

// embed places img in a larger, busy picture: a grey gradient with dark
// blocks, as on a phone screen or a printed page.
func embed(img image.Image) *image.Gray {
	bg := background()
	bg.Pix = slices.Clone(bg.Pix)
	at := image.Pt(413, 217)
	draw.Draw(&bg, img.Bounds().Add(at), img, img.Bounds().Min, draw.Src)
	return &bg
}

// background is embed's picture, drawn once: the tests embed thousands of
// codes.
var background = sync.OnceValue(func() image.Gray {
	bg := image.NewGray(image.Rect(0, 0, 1100, 800))
	for y := range 800 {
		for x := range 1100 {
			bg.SetGray(x, y, color.Gray{uint8(150 + (x+y)%90)})
		}
	}
	for _, r := range []image.Rectangle{image.Rect(40, 40, 200, 120), image.Rect(900, 600, 1060, 760), image.Rect(60, 650, 400, 700)} {
		draw.Draw(bg, r, image.NewUniform(color.Gray{30}), image.Point{}, draw.Src)
	}
	return *bg
})

// noise adds uniform noise of ±amp to every pixel and flips a fraction of
// pixels to black or white, from a fixed seed.
func noise(img image.Image, amp int, flip float64) *image.Gray {
	g := toGray(img)
	r := rand.New(rand.NewPCG(5, 6))
	for i, v := range g.Pix {
		switch {
		case r.Float64() < flip:
			g.Pix[i] = uint8(255 * r.IntN(2))
		default:
			g.Pix[i] = uint8(min(255, max(0, int(v)+r.IntN(2*amp+1)-amp)))
		}
	}
	return g
}

func invert(img image.Image) *image.Gray {
	g := toGray(img)
	for i, v := range g.Pix {
		g.Pix[i] = 255 - v
	}
	return g
}

// TestRoundTrip: issue → PNG → (transform) → decode → parse → verify, with
// the real decoder.
func TestRoundTrip(t *testing.T) {
	key, ring := issuer(t)
	want := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 4242, Tier: 3})
	img := decodePNG(t, render(t, want.String()))
	tests := []struct {
		name string
		img  image.Image
	}{
		{"as rendered", img},
		{"scaled to 3 px per module", scale(img, 3.0/8)},
		{"scaled to 2 px per module", scale(img, 2.0/8)},
		{"rotated 90°", rotate90(img)},
		{"rotated 270°", rotate90(rotate90(rotate90(img)))},
		{"embedded in a larger picture", embed(img)},
		{"with noise", noise(img, 60, 0.03)},
		{"with heavy noise and speckles", noise(img, 90, 0.1)},
		{"light on dark", invert(img)},
		{"scaled, rotated, embedded and noisy", noise(embed(rotate90(scale(img, 0.5))), 40, 0.02)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := qr.Decode(tt.img)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ticket.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			if err := ring.Verify(got, now); err != nil {
				t.Fatal(err)
			}
			if *got != *want {
				t.Fatalf("decoded %+v, issued %+v", got, want)
			}
		})
	}
}

// readsBack renders text, decodes the PNG, and checks that the result is
// text and a ticket ring accepts.
func readsBack(t *testing.T, ring *ticket.Keyring, text string) {
	t.Helper()
	got, err := qr.DecodePNG(render(t, text))
	if err != nil || got != text {
		t.Fatalf("decoded %q, %v; want %q", got, err, text)
	}
	tk, err := ticket.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Verify(tk, now); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeFinderLookalike: in this ticket's code, data modules look
// enough like a finder pattern that gozxing's finder search fails even on
// the clean PNG; Decode reads it from the module grid instead.
func TestDecodeFinderLookalike(t *testing.T) {
	key, ring := issuer(t)
	readsBack(t, ring, ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 25, Tier: 1}).String())
}

func TestDecodeFile(t *testing.T) {
	key, ring := issuer(t)
	text := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 7}).String()
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "ticket.png")
	if err := os.WriteFile(pngPath, render(t, text), 0o644); err != nil {
		t.Fatal(err)
	}
	var jb bytes.Buffer // a camera photo: lossy, scaled, in a larger picture
	if err := jpeg.Encode(&jb, embed(scale(decodePNG(t, render(t, text)), 0.6)), &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	jpgPath := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(jpgPath, jb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pngPath, jpgPath} {
		got, err := qr.DecodeFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tk, err := ticket.Parse(got)
		if err == nil {
			err = ring.Verify(tk, now)
		}
		if err != nil || got != text {
			t.Fatalf("%s: decoded %q (%v), want %q", path, got, err, text)
		}
	}

	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, []byte("01234"), 0o644)
	if _, err := qr.DecodeFile(notImage); err == nil || !strings.Contains(err.Error(), "hint: give a PNG or JPEG picture") {
		t.Errorf("DecodeFile(text file) = %v, want a hint naming PNG and JPEG", err)
	}
	if _, err := qr.DecodeFile(filepath.Join(dir, "missing.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DecodeFile(missing) = %v, want os.ErrNotExist", err)
	}
}

// hugePNG returns a valid PNG header claiming w×h pixels, with no pixels.
func hugePNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 1, 0, 0, 0, 0) // 1-bit greyscale
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

func TestDecodeRejects(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 300, 300))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	var blankPNG bytes.Buffer
	png.Encode(&blankPNG, blank)
	tests := []struct {
		name   string
		decode func() (string, error)
		want   error
	}{
		{"blank picture", func() (string, error) { return qr.Decode(blank) }, qr.ErrNotFound},
		{"empty picture", func() (string, error) { return qr.Decode(image.NewGray(image.Rect(0, 0, 0, 0))) }, qr.ErrNotFound},
		{"blank PNG", func() (string, error) { return qr.DecodePNG(blankPNG.Bytes()) }, qr.ErrNotFound},
		{"4×6 finder patterns", func() (string, error) { return qr.Decode(finderGrid(4, 6)) }, qr.ErrNotFound},
		{"16×16 finder patterns", func() (string, error) { return qr.Decode(finderGrid(16, 16)) }, qr.ErrNotFound},
		{"60000×60000 PNG header", func() (string, error) { return qr.DecodePNG(hugePNG(60000, 60000)) }, qr.ErrTooLarge},
	}
	for _, tt := range tests {
		text, err := tt.decode()
		if !errors.Is(err, tt.want) || text != "" {
			t.Errorf("%s: got %q, %v; want %v", tt.name, text, err, tt.want)
		}
	}
	if _, err := qr.DecodePNG([]byte("not a png")); err == nil || !strings.HasPrefix(err.Error(), "qr: ") {
		t.Errorf("DecodePNG(garbage) = %v, want a qr: error", err)
	}
	_, err := qr.Decode(blank)
	if !strings.Contains(err.Error(), "\nhint: ") {
		t.Errorf("not-found error %q has no hint", err)
	}
}

// TestRenderConcurrent: kidoctl renders on every core at once (run with
// -race).
func TestRenderConcurrent(t *testing.T) {
	key, _ := issuer(t)
	texts := make([]string, 16)
	want := make([][]byte, len(texts))
	for i := range texts {
		texts[i] = ticket.Sign(key, ticket.Claims{Event: 1001, Serial: uint32(i)}).String()
		want[i] = render(t, texts[i])
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, text := range texts {
				got, err := qr.Render(text)
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Errorf("concurrent Render(%d) differs from serial (err %v)", i, err)
				}
			}
		})
	}
	wg.Wait()
}

// FuzzDecodePNG: hostile files never make the decoder panic (it turns
// failures of the third-party decoder into ErrNotFound), and a code that
// decodes always decodes the same way.
func FuzzDecodePNG(f *testing.F) {
	key, _ := issuer(f)
	f.Add(render(f, ticket.Sign(key, ticket.Claims{Event: 1001}).String()))
	f.Add(render(f, "0123456789"))
	f.Add(hugePNG(1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err == nil && cfg.Width*cfg.Height > 1<<20 {
			return // valid but slow to scan; the size limit has its own test
		}
		text, err := qr.DecodePNG(data)
		if err != nil {
			if text != "" || !strings.HasPrefix(err.Error(), "qr: ") {
				t.Fatalf("DecodePNG = %q, %v", text, err)
			}
			return
		}
		if again, err := qr.DecodePNG(data); again != text || err != nil {
			t.Fatalf("decoded %q, then %q, %v", text, again, err)
		}
	})
}
