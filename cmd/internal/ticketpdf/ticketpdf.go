// Package ticketpdf lays out printable tickets as PDF (github.com/go-pdf/fpdf):
// one A4 page per ticket with the event, venue, date and time in the event's
// zone, holder, tier, order reference, serial and the ticket's QR code,
// 60 mm wide so that it scans from paper. Text is set in a TrueType font
// embedded as a subset, so Japanese renders wherever the PDF is opened.
//
// The same tickets and font give the same bytes: the document dates are
// fixed and the catalogue sorted, so a re-render can be compared with the
// first one.
package ticketpdf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/evtime"
	"kido.dev/kido/ticket/qr"
)

// DefaultFonts are the font files tried, in order, when no font is named:
// IPAexGothic as Debian's fonts-ipaexfont installs it.
var DefaultFonts = []string{
	"/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
	"/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
}

// ErrNoFont is returned by LoadFont when no font is named and none of
// DefaultFonts exists.
var ErrNoFont = errors.New("ticketpdf: no Japanese font found")

// Font is a TrueType font read once and embedded in every document.
type Font struct {
	Path string
	data []byte
}

// LoadFont reads the font at path, or the first of DefaultFonts that exists
// when path is empty, and checks that it can be embedded.
func LoadFont(path string) (*Font, error) {
	if path == "" {
		for _, p := range DefaultFonts {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("%w (looked for %s)\nhint: install Debian's fonts-ipaexfont (apt-get install fonts-ipaexfont), or give -font FILE.ttf", ErrNoFont, strings.Join(DefaultFonts, ", "))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ticketpdf: font: %w\nhint: give -font a TrueType (.ttf) file, or install Debian's fonts-ipaexfont", err)
	}
	f := &Font{Path: path, data: data}
	// fpdf panics on some malformed fonts; find out now, once, with a clear
	// message rather than mid-batch.
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Font) check() (err error) {
	if len(f.data) < 4 || !(bytes.Equal(f.data[:4], []byte{0, 1, 0, 0}) || string(f.data[:4]) == "true") {
		return fmt.Errorf("ticketpdf: font %s is not a TrueType font\nhint: give -font a .ttf file with TrueType outlines (OpenType CFF .otf is not supported), such as ipaexg.ttf from fonts-ipaexfont", f.Path)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ticketpdf: font %s cannot be embedded: %v\nhint: give -font another .ttf file, such as ipaexg.ttf from fonts-ipaexfont", f.Path, r)
		}
	}()
	pdf := newDoc(f)
	pdf.AddPage()
	pdf.Text(10, 10, "チケット Ticket")
	if err := pdf.Output(io.Discard); err != nil {
		return fmt.Errorf("ticketpdf: font %s cannot be embedded: %w\nhint: give -font another .ttf file, such as ipaexg.ttf from fonts-ipaexfont", f.Path, err)
	}
	return nil
}

// Ticket is what one printed ticket shows.
type Ticket struct {
	Event    kido.Event
	Tier     string // the tier's name
	Holder   string
	OrderRef string
	Serial   uint32
	Text     string // exactly what the QR code holds
}

// epoch is every document's creation date: a fixed one keeps a re-render
// byte for byte the same.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const family = "kido"

func newDoc(f *Font) *fpdf.Fpdf {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(epoch)
	pdf.SetModificationDate(epoch)
	pdf.SetCatalogSort(true)
	pdf.SetProducer("kido", false)
	pdf.SetAutoPageBreak(false, 0)
	pdf.AddUTF8FontFromBytes(family, "", f.data)
	return pdf
}

// Write writes one PDF document to w with a page per ticket, in order.
func Write(w io.Writer, f *Font, tickets []Ticket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ticketpdf: %v", r)
		}
	}()
	pdf := newDoc(f)
	if len(tickets) == 1 {
		pdf.SetTitle(printable(tickets[0].Event.Name)+" "+strconv.FormatUint(uint64(tickets[0].Serial), 10), true)
	}
	for i := range tickets {
		if err := page(pdf, &tickets[i]); err != nil {
			return err
		}
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("ticketpdf: %w", err)
	}
	return nil
}

// The ticket's box on the page, in mm: a main part and a stub with the QR
// code, split by a dashed tear line.
const (
	boxX, boxY, boxW, boxH = 15.0, 20.0, 180.0, 95.0
	stubW                  = 80.0
	qrSize                 = 60.0
	pad                    = 8.0
)

func page(pdf *fpdf.Fpdf, t *Ticket) error {
	dark, err := qr.Modules(t.Text)
	if err != nil {
		return fmt.Errorf("ticketpdf: serial %d: %w", t.Serial, err)
	}
	pdf.AddPage()
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetLineWidth(0.5)
	pdf.RoundedRect(boxX, boxY, boxW, boxH, 4, "1234", "D")
	tear := boxX + boxW - stubW
	pdf.SetLineWidth(0.3)
	pdf.SetDashPattern([]float64{2, 1.5}, 0)
	pdf.Line(tear, boxY, tear, boxY+boxH)
	pdf.SetDashPattern(nil, 0)

	// Main part: what the holder and the steward read.
	x, w := boxX+pad, tear-boxX-2*pad
	y := boxY + pad + 4
	line := func(size float64, s string) {
		fitText(pdf, x, y, w, size, s)
		y += size*0.3528 + 3 // points to mm, plus leading
	}
	line(20, t.Event.Name)
	line(11, t.Event.Venue)
	line(13, When(t.Event))
	y += 4
	line(9, labelName)
	line(16, t.Holder)
	line(9, labelTier)
	line(14, t.Tier)
	if t.OrderRef != "" {
		line(9, labelOrder+t.OrderRef)
	}

	// Stub: the QR code and the serial under it.
	drawQR(pdf, dark, tear+(stubW-qrSize)/2, boxY+pad)
	serial := fmt.Sprintf(labelSerial, t.Serial)
	pdf.SetFont(family, "", 12)
	pdf.Text(tear+(stubW-pdf.GetStringWidth(serial))/2, boxY+pad+qrSize+7, serial)
	pdf.SetFont(family, "", 8)
	note := labelShowJA
	pdf.Text(tear+(stubW-pdf.GetStringWidth(note))/2, boxY+pad+qrSize+13, note)
	note = labelShowEN
	pdf.Text(tear+(stubW-pdf.GetStringWidth(note))/2, boxY+pad+qrSize+17, note)
	return pdf.Error()
}

// The fixed text of every ticket.
const (
	labelName   = "お名前 Name"
	labelTier   = "券種 Tier"
	labelOrder  = "注文番号 Order "
	labelSerial = "No. %08d"
	labelShowJA = "入場時にこのコードを提示してください"
	labelShowEN = "Show this code at the gate"
)

// labels are the characters every ticket may print besides its own text:
// a font subset holds them all.
var labels = []string{labelName, labelTier, labelOrder, "No. 0123456789…", labelShowJA, labelShowEN,
	"()–: -+UTC", "日月火水木金土", "SunMonTueWedThuFriSat"}

// drawQR draws the code as filled rectangles, one per run of dark modules
// in a row, in a qrSize square whose border of qr.QuietZone modules stays
// white. Vector modules print sharp at any resolution, and (unlike images,
// which fpdf writes in map order) give the same bytes every time.
func drawQR(pdf *fpdf.Fpdf, dark [][]bool, x, y float64) {
	m := qrSize / float64(len(dark)+2*qr.QuietZone)
	x, y = x+qr.QuietZone*m, y+qr.QuietZone*m
	pdf.SetFillColor(0, 0, 0)
	for r, row := range dark {
		for c := 0; c < len(row); {
			if !row[c] {
				c++
				continue
			}
			start := c
			for c < len(row) && row[c] {
				c++
			}
			// A hair of overlap downwards so that no seam shows between
			// rows when a viewer anti-aliases.
			pdf.Rect(x+float64(start)*m, y+float64(r)*m, float64(c-start)*m, m+0.02, "F")
		}
	}
}

// fitText writes s at (x, y) in the largest size up to size (and at least
// 7 pt) that fits width w, cutting it with an ellipsis when even that is
// too wide: a long name must not run over the QR code.
func fitText(pdf *fpdf.Fpdf, x, y, w, size float64, s string) {
	s = printable(s)
	pdf.SetFont(family, "", size)
	for size > 7 && pdf.GetStringWidth(s) > w {
		size -= 0.5
		pdf.SetFontSize(size)
	}
	if pdf.GetStringWidth(s) > w {
		for s != "" && pdf.GetStringWidth(s+"…") > w {
			_, n := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-n]
		}
		s += "…"
	}
	pdf.Text(x, y+size*0.3528, s)
}

// missing stands for a character fpdf cannot set: 〓 (geta), the mark
// Japanese typesetting uses for a character the type case lacks.
const missing = '〓'

// printable replaces what fpdf cannot set with missing: characters beyond
// the Basic Multilingual Plane (emoji such as 🎫), where fpdf's UTF-8 fonts
// stop (it indexes a 65,536-entry table by rune and would panic).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0xFFFF {
			return missing
		}
		return r
	}, s)
}

// Zone is where an event's times are shown, on tickets and in exports
// (evtime.Of): its time zone when it names one this machine knows, else
// the fixed offset its start carries. The label names it: the zone's name,
// or "UTC+09:00".
func Zone(e kido.Event) (loc *time.Location, label string) {
	z := evtime.Of(e, e.Start.Location())
	return z.Loc, z.Label
}

// When is the event's date and time as printed: in the event's time zone
// when it names one, else at the offset its start carries, with the zone
// shown, e.g. "2027-08-01 (日 Sun) 10:00–21:00 JST".
func When(e kido.Event) string {
	loc, _ := Zone(e)
	start, end := e.Start.In(loc), e.End.In(loc)
	day := func(t time.Time) string {
		return fmt.Sprintf("%s (%s %s)", t.Format("2006-01-02"), weekdayJA[t.Weekday()], t.Format("Mon"))
	}
	zone := start.Format("MST")
	if zone[0] == '+' || zone[0] == '-' {
		zone = "UTC" + start.Format("-07:00")
	}
	if start.YearDay() == end.YearDay() && start.Year() == end.Year() {
		return fmt.Sprintf("%s %s–%s %s", day(start), start.Format("15:04"), end.Format("15:04"), zone)
	}
	return fmt.Sprintf("%s %s – %s %s %s", day(start), start.Format("15:04"), day(end), end.Format("15:04"), zone)
}

var weekdayJA = [...]string{"日", "月", "火", "水", "木", "金", "土"}
