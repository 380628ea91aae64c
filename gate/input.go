package gate

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"unicode"
)

// MaxLine is the longest scan line kept: far above a ticket's 188 digits,
// far below anything that could hurt a gate's memory.
const MaxLine = 4096

// NormalizeScan removes what scanners and keyboards add around a ticket: a
// UTF-8 byte-order mark, carriage returns, spaces and other white space
// anywhere (including the ideographic space), and it folds full-width digits
// (typed by a JIS keyboard with the IME on) to ASCII. Everything else is kept,
// so anything that is not a ticket stays not a ticket.
func NormalizeScan(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\uFEFF' || unicode.IsSpace(r):
		case r >= '０' && r <= '９':
			b.WriteByte(byte('0' + r - '０'))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// A LineReader reads scanner lines of at most MaxLine bytes. A longer line
// is read to its end and discarded without being held in memory, and is
// reported as truncated so that it can be rejected as malformed.
type LineReader struct {
	r *bufio.Reader
}

// NewLineReader returns a LineReader reading from r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, MaxLine+1)}
}

// Line is one line read by a LineReader.
type Line struct {
	Text      string // the line without its newline; at most MaxLine bytes
	Truncated bool   // the line was longer than MaxLine; Text is its start
	Length    int64  // the full length of the line in bytes
}

// Next returns the next line, or io.EOF after the last one. A final line
// without a newline is returned like any other.
func (lr *LineReader) Next() (Line, error) {
	var l Line
	var buf []byte
	for {
		chunk, err := lr.r.ReadSlice('\n')
		l.Length += int64(len(chunk))
		if room := MaxLine + 1 - len(buf); room > 0 {
			buf = append(buf, chunk[:min(len(chunk), room)]...)
		}
		switch {
		case err == nil:
			l.Length--
			buf = bytesTrimNewline(buf)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if l.Length == 0 {
				return Line{}, io.EOF
			}
		default:
			return Line{}, err
		}
		if len(buf) > MaxLine || l.Length > MaxLine {
			l.Truncated = true
			buf = buf[:min(len(buf), MaxLine)]
		}
		l.Text = string(buf)
		return l, nil
	}
}

func bytesTrimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}
