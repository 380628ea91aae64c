package server

import (
	"strconv"
	"strings"

	"kido.dev/kido/sync/wire"
)

// Cursor is a position in the change log with the tag stored in the row at
// that position (docs/sync-protocol.md §4.4). Gates see it only as the
// opaque text "<position>.<tag>"; "0.0" is the start of the log.
type Cursor struct {
	Pos int64
	Tag string // 16 lowercase hex digits; empty for position 0
}

// String returns the cursor as gates carry it.
func (c Cursor) String() string {
	if c.Pos == 0 {
		return "0.0"
	}
	return strconv.FormatInt(c.Pos, 10) + "." + c.Tag
}

// ParseCursor reads a cursor in the form String writes, and only that form.
func ParseCursor(s string) (Cursor, error) {
	bad := codeErrorf(ErrInvalid, wire.CodeBadCursor, "send the cursor exactly as the last snapshot or changes answer gave it", "bad cursor %q", s)
	if s == "0.0" {
		return Cursor{}, nil
	}
	pos, tag, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(pos, 10, 64)
	if !ok || err != nil || n <= 0 || strconv.FormatInt(n, 10) != pos || len(tag) != 16 {
		return Cursor{}, bad
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Cursor{}, bad
		}
	}
	return Cursor{Pos: n, Tag: tag}, nil
}
