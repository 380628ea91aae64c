package safecsv

import (
	"bytes"
	"encoding/csv"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCell(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"山田 太郎", "山田 太郎"},
		{"Smith, Jo", "Smith, Jo"},
		{"12", "12"},
		{`=HYPERLINK("http://evil","x")`, `'=HYPERLINK("http://evil","x")`},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"+1", "'+1"},
		{"-1+2", "'-1+2"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"'quoted", "''quoted"},
		{"a=b", "a=b"},
		{"＝全角", "＝全角"}, // full-width equals is text to every spreadsheet
	} {
		if got := Cell(c.in); got != c.want {
			t.Errorf("Cell(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Uncell(Cell(c.in)); got != c.in {
			t.Errorf("Uncell(Cell(%q)) = %q", c.in, got)
		}
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	rec := []string{"7", "=cmd|' /C calc'!A0", "VIP"}
	w.Write(rec)
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if want := "7,'=cmd|' /C calc'!A0,VIP\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if rec[1] != "=cmd|' /C calc'!A0" {
		t.Errorf("Write changed its argument: %q", rec[1])
	}
}

// FuzzCell checks that no written cell can start a formula once read back
// by a CSV reader, and that Uncell gives back exactly what was written.
func FuzzCell(f *testing.F) {
	for _, s := range []string{"", "=1+1", "'", "''", "-", "\t", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.Write([]string{s, "x"})
		w.Flush()
		if w.Error() != nil {
			return // invalid UTF-8 and the like: csv refuses, nothing written
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil || len(recs) != 1 {
			return // csv itself does not round-trip \r; not this package's concern
		}
		got := recs[0][0]
		if got != "" {
			switch got[0] {
			case '=', '+', '-', '@', '\t', '\r':
				t.Fatalf("cell %q read back as %q, a formula", s, got)
			}
		}
		if Uncell(got) != s && Uncell(Cell(s)) != s {
			t.Fatalf("Uncell(Cell(%q)) = %q", s, Uncell(Cell(s)))
		}
	})
}

var rawWriter = regexp.MustCompile(`\bcsv\.NewWriter\(`)

// TestOnlyWriter keeps every CSV writer of the module on this package: a
// csv.NewWriter anywhere else would write cells raw.
func TestOnlyWriter(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		seen++
		if filepath.Dir(path) == filepath.Join(root, "internal", "safecsv") {
			return nil // this package
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rawWriter.Match(src) {
			t.Errorf("%s calls csv.NewWriter; write CSV through kido.dev/kido/internal/safecsv", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 50 {
		t.Fatalf("walked %d Go files from %s; expected the whole module", seen, root)
	}
}
