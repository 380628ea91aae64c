package qr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"sync"
)

// writePNG writes a square module bitmap (bits[y][x] true for dark) as a
// 1-bit indexed PNG with ModulePixels pixels per module and a QuietZone
// border. It is hand-written rather than built on image/png because, with
// eight pixels per module and one bit per pixel, every module is exactly one
// byte (0x00 or 0xff) and every repeated pixel row is one PNG "Up" filter
// byte followed by zeros: this takes a few microseconds where filling an
// image.Paletted and running image/png took half a millisecond, which
// matters when a promoter issues 100,000 tickets.
func writePNG(bits [][]bool) ([]byte, error) {
	const bytesPerModule = ModulePixels / 8 // one bit per pixel
	n := len(bits) + 2*QuietZone
	side := n * ModulePixels
	rowLen := 1 + n*bytesPerModule // filter byte + pixels

	z := zlibPool.Get().(*zlibWriter)
	defer zlibPool.Put(z)
	z.buf.Reset()
	z.w.Reset(&z.buf)

	row := make([]byte, rowLen)    // filter None, all white
	repeat := make([]byte, rowLen) // filter Up: same as the row above
	repeat[0] = 2
	writeRows := func() error {
		if _, err := z.w.Write(row); err != nil {
			return err
		}
		for i := 1; i < ModulePixels; i++ {
			if _, err := z.w.Write(repeat); err != nil {
				return err
			}
		}
		return nil
	}
	for y := -QuietZone; y < len(bits)+QuietZone; y++ {
		clear(row)
		if y >= 0 && y < len(bits) {
			for x, dark := range bits[y] {
				if dark {
					i := 1 + (QuietZone+x)*bytesPerModule
					copy(row[i:i+bytesPerModule], darkModule)
				}
			}
		}
		if err := writeRows(); err != nil {
			return nil, err
		}
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

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

type zlibWriter struct {
	buf bytes.Buffer
	w   *zlib.Writer
}

// zlibPool keeps compressors, whose state is tens of kilobytes, across
// calls.
var zlibPool = sync.Pool{New: func() any {
	z := new(zlibWriter)
	z.w, _ = zlib.NewWriterLevel(&z.buf, zlib.BestSpeed) // the level is valid
	return z
}}
