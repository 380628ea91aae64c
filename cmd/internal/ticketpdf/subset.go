package ticketpdf

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Subset returns the font cut down to the characters of texts and of the
// ticket's own labels. fpdf parses the whole font for every document it
// writes, which for IPAexGothic (12,000 glyphs, 4 MB) is nearly all of the
// cost of a one-ticket PDF; a batch's subset holds a few hundred glyphs and
// parses many times faster. The subset is the one fpdf itself embeds, taken
// from a document set in every character once.
func (f *Font) Subset(texts []string) (*Font, error) {
	runes := map[rune]bool{missing: true}
	for _, s := range append(texts, labels...) {
		for _, r := range printable(s) {
			runes[r] = true
		}
	}
	all := make([]rune, 0, len(runes))
	for r := range runes {
		all = append(all, r)
	}
	slices.Sort(all) // the same texts give the same subset, byte for byte
	var doc bytes.Buffer
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		pdf := newDoc(f)
		pdf.AddPage()
		pdf.SetFont(family, "", 10)
		pdf.Text(10, 10, string(all))
		return pdf.Output(&doc)
	}()
	if err != nil {
		return nil, fmt.Errorf("ticketpdf: subset font %s: %w", f.Path, err)
	}
	data, err := fontFile(doc.Bytes())
	if err != nil {
		return nil, fmt.Errorf("ticketpdf: subset font %s: %w", f.Path, err)
	}
	return &Font{Path: f.Path, data: data}, nil
}

var fontFileRef = regexp.MustCompile(`/FontFile2 (\d+) 0 R`)

// fontFile returns the decompressed FontFile2 stream of a document fpdf
// wrote with one embedded TrueType font.
func fontFile(doc []byte) ([]byte, error) {
	m := fontFileRef.FindSubmatch(doc)
	if m == nil {
		return nil, fmt.Errorf("no embedded font in the document")
	}
	obj := []byte("\n" + string(m[1]) + " 0 obj\n")
	i := bytes.Index(doc, obj)
	if i < 0 {
		return nil, fmt.Errorf("font object %s not found", m[1])
	}
	rest := doc[i+len(obj):]
	start := bytes.Index(rest, []byte("stream\n"))
	if start < 0 {
		return nil, fmt.Errorf("font object %s has no stream", m[1])
	}
	r, err := zlib.NewReader(bytes.NewReader(rest[start+len("stream\n"):]))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if n := lengthOne(rest[:start]); n >= 0 && n != len(data) {
		return nil, fmt.Errorf("font stream holds %d bytes, its dictionary says %d", len(data), n)
	}
	return data, nil
}

// lengthOne reads /Length1 from a stream dictionary, -1 when absent.
func lengthOne(dict []byte) int {
	s := string(dict)
	i := strings.Index(s, "/Length1 ")
	if i < 0 {
		return -1
	}
	s = s[i+len("/Length1 "):]
	j := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if j < 0 {
		return -1
	}
	n, err := strconv.Atoi(s[:j])
	if err != nil {
		return -1
	}
	return n
}
