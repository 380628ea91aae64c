// Package safecsv writes CSV that a spreadsheet opens as text, never as
// formulas: every CSV file kido writes goes through it.
//
// A cell that begins with = + - @, a tab or a carriage return is one that
// Excel, LibreOffice and Google Sheets may evaluate (OWASP "CSV Injection"):
// a buyer named =HYPERLINK("http://evil","x") would become a live link in
// the promoter's spreadsheet. Such a cell is written with a leading
// apostrophe, the spreadsheets' own "this is text" mark, which they hide on
// display. A cell that already begins with an apostrophe gets one more, so
// that Cell is reversible by Uncell and a name that truly begins with one
// reads the same in a spreadsheet.
package safecsv

import (
	"encoding/csv"
	"io"
)

// Cell returns s as it is written into a CSV cell: unchanged unless its first
// byte could start a formula (or is the apostrophe that marks text).
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// Uncell undoes Cell, for kido's own readers of the files it wrote.
func Uncell(s string) string {
	if len(s) >= 2 && s[0] == '\'' {
		return s[1:]
	}
	return s
}

// Writer is a csv.Writer whose every cell goes through Cell.
type Writer struct {
	w   *csv.Writer
	row []string
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: csv.NewWriter(w)}
}

// Write writes one record, each cell neutralised by Cell. The record
// passed in is not modified.
func (w *Writer) Write(record []string) error {
	w.row = w.row[:0]
	for _, s := range record {
		w.row = append(w.row, Cell(s))
	}
	return w.w.Write(w.row)
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }
