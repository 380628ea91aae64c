package qr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"sync"
)

// writePNG writes an n×n module symbol as a 1-bit indexed PNG with
// ModulePixels pixels per module and a QuietZone border; fillRow paints the
// dark modules of row y into px (with paintModule), which is white on entry.
// It is hand-written rather than built on image/png because, with eight
// pixels per module and one bit per pixel, every module is exactly one byte
// (0x00 or 0xff) and every repeated pixel row is one PNG "Up" filter byte
// followed by zeros: this takes a few microseconds where filling an
// image.Paletted and running image/png took half a millisecond, which
// matters when a promoter issues 100,000 tickets.
func writePNG(n int, fillRow func(y int, px []byte)) ([]byte, error) {
	const bytesPerModule = ModulePixels / 8 // one bit per pixel
	modules := n + 2*QuietZone
	side := modules * ModulePixels
	rowLen := 1 + modules*bytesPerModule // filter byte + pixels

	z := pngPool.Get().(*pngScratch)
	defer pngPool.Put(z)
	raw := slices.Grow(z.raw[:0], side*rowLen)[:side*rowLen]
	z.raw = raw
	clear(raw) // filter None, all white
	for y := range modules {
		band := raw[y*ModulePixels*rowLen : (y+1)*ModulePixels*rowLen]
		if y >= QuietZone && y < QuietZone+n {
			fillRow(y-QuietZone, band[1+QuietZone*bytesPerModule:rowLen-QuietZone*bytesPerModule])
		}
		for i := 1; i < ModulePixels; i++ {
			band[i*rowLen] = 2 // filter Up: same as the row above
		}
	}
	z.buf.Reset()
	z.w.Reset(&z.buf)
	if _, err := z.w.Write(raw); err != nil {
		return nil, err
	}
	if err := z.w.Close(); err != nil {
		return nil, err
	}

	out := make([]byte, 0, 8+25+18+12+z.buf.Len()+12)
	out = append(out, "\x89PNG\r\n\x1a\n"...)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(side))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(side))
	ihdr[8] = 1 // bit depth
	ihdr[9] = 3 // colour type: indexed; compression, filter, interlace 0
	out = appendChunk(out, "IHDR", ihdr[:])
	out = appendChunk(out, "PLTE", []byte{0xff, 0xff, 0xff, 0, 0, 0}) // 0 white, 1 black
	out = appendChunk(out, "IDAT", z.buf.Bytes())
	return appendChunk(out, "IEND", nil), nil
}

// darkModule is one module's pixel bytes; ModulePixels is a multiple of 8.
var darkModule = bytes.Repeat([]byte{0xff}, ModulePixels/8)

// paintModule paints module x dark in the pixel bytes of a symbol row.
func paintModule(px []byte, x int) {
	copy(px[x*len(darkModule):], darkModule)
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

// pngScratch is writePNG's working memory.
type pngScratch struct {
	raw []byte       // the filtered scanlines
	buf bytes.Buffer // raw, compressed
	w   *zlib.Writer
}

// pngPool keeps writePNG's buffers and compressor, whose state is tens of
// kilobytes, across calls.
var pngPool = sync.Pool{New: func() any {
	z := new(pngScratch)
	z.w, _ = zlib.NewWriterLevel(&z.buf, pngCompression) // the level is valid
	return z
}}

// pngCompression is zlib's fastest level. Measured on a ticket's 16.9 kB
// of scanlines (Render, one core): BestSpeed 789 B in about 50 µs,
// HuffmanOnly 2.3 kB in 85 µs, DefaultCompression 649 B in 160 µs,
// BestCompression 557 B in 2.3 ms.
const pngCompression = zlib.BestSpeed
