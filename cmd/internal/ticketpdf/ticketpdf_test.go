package ticketpdf

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/ticket/qr"
)

func font(tb testing.TB) *Font {
	tb.Helper()
	f, err := LoadFont("")
	if errors.Is(err, ErrNoFont) {
		tb.Skip("no Japanese font: install fonts-ipaexfont (.ci/run does)")
	}
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("%s not found: install poppler-utils (.ci/run does)", name)
	}
	return p
}

func fixture(tb testing.TB, n int) []Ticket {
	fx := gatetest.New(n, gatetest.GateBoth, time.Date(2027, 8, 1, 12, 0, 0, 0, time.UTC))
	jst := time.FixedZone("JST", 9*3600)
	ev := kido.Event{ID: gatetest.EventID, Name: "夏フェス 2027 Summer Fes", Venue: "幕張メッセ Makuhari Messe",
		Start: time.Date(2027, 8, 1, 10, 0, 0, 0, jst), End: time.Date(2027, 8, 1, 21, 0, 0, 0, jst), TimeZone: "Asia/Tokyo"}
	var ts []Ticket
	for s := uint32(1); s <= uint32(n); s++ {
		ts = append(ts, Ticket{Event: ev, Tier: "ＶＩＰ 指定席", Holder: "山田 太郎", OrderRef: "A-1", Serial: s, Text: fx.Ticket(s)})
	}
	return ts
}

// TestPrintedTicket writes a ticket, reads its text back with pdftotext and
// its QR code from a page rendered by pdftoppm: what a holder prints is
// what a gate scans.
func TestPrintedTicket(t *testing.T) {
	f := font(t)
	pdftotext, pdftoppm := tool(t, "pdftotext"), tool(t, "pdftoppm")
	dir := t.TempDir()
	ts := fixture(t, 2)
	ts[1].Holder = "Jo Smith 🎫"
	path := filepath.Join(dir, "t.pdf")
	var b bytes.Buffer
	if err := Write(&b, f, ts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	pages := strings.Split(string(out), "\f")
	for _, want := range []string{"夏フェス 2027 Summer Fes", "幕張メッセ Makuhari Messe", "2027-08-01 (日 Sun) 10:00–21:00 JST", "山田 太郎", "ＶＩＰ 指定席", "A-1", "No. 00000001"} {
		if !strings.Contains(pages[0], want) {
			t.Errorf("page 1 text lacks %q:\n%s", want, pages[0])
		}
	}
	if len(pages) < 2 || !strings.Contains(pages[1], "Jo Smith 〓") || !strings.Contains(pages[1], "No. 00000002") {
		t.Errorf("page 2 is not the second ticket:\n%s", out)
	}
	for page, want := range []string{ts[0].Text, ts[1].Text} {
		prefix := filepath.Join(dir, "p")
		if out, err := exec.Command(pdftoppm, "-png", "-r", "150", "-singlefile", "-f", itoa(page+1), "-l", itoa(page+1), path, prefix).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, out)
		}
		got, err := qr.DecodeFile(prefix + ".png")
		if err != nil || got != want {
			t.Errorf("page %d decodes as %q, %v; want the ticket %q", page+1, got, err, want)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestSameBytes: a re-render gives the very same file, from the whole font
// or from a subset cut again. fpdf writes some objects in map order (images
// once did), so each is written several times.
func TestSameBytes(t *testing.T) {
	full := font(t)
	ts := fixture(t, 3)
	texts := []string{ts[0].Event.Name, ts[0].Event.Venue, ts[0].Holder, ts[0].Tier, ts[0].OrderRef, When(ts[0].Event)}
	var first []byte
	for i := range 8 {
		f := full
		if i > 0 {
			var err error
			if f, err = full.Subset(texts); err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		if err := Write(&b, f, ts); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
		case 1:
			first = b.Bytes()
		default:
			if !bytes.Equal(b.Bytes(), first) {
				t.Fatalf("render %d differs from the first of the subset", i)
			}
		}
	}
}

func TestLoadFontRejects(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "font.ttf")
	os.WriteFile(text, []byte("not a font at all"), 0o600)
	trunc := filepath.Join(dir, "trunc.ttf")
	os.WriteFile(trunc, []byte{0, 1, 0, 0, 0, 9, 1, 2}, 0o600)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.ttf"), "no such file"},
		{text, "not a TrueType font"},
		{trunc, "cannot be embedded"},
	} {
		_, err := LoadFont(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "hint: ") {
			t.Errorf("LoadFont(%s) = %v, want an error with %q and a hint", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestNoFont(t *testing.T) {
	saved := DefaultFonts
	DefaultFonts = []string{filepath.Join(t.TempDir(), "none.ttf")}
	defer func() { DefaultFonts = saved }()
	_, err := LoadFont("")
	if !errors.Is(err, ErrNoFont) || !strings.Contains(err.Error(), "fonts-ipaexfont") {
		t.Errorf("got %v, want ErrNoFont naming the package fonts-ipaexfont", err)
	}
}

func TestWhen(t *testing.T) {
	jst := time.FixedZone("", 9*3600)
	for _, c := range []struct {
		ev   kido.Event
		want string
	}{
		{kido.Event{Start: time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC), End: time.Date(2027, 8, 1, 12, 0, 0, 0, time.UTC), TimeZone: "Asia/Tokyo"}, "2027-08-01 (日 Sun) 10:00–21:00 JST"},
		{kido.Event{Start: time.Date(2027, 8, 1, 18, 0, 0, 0, jst), End: time.Date(2027, 8, 2, 2, 0, 0, 0, jst)}, "2027-08-01 (日 Sun) 18:00 – 2027-08-02 (月 Mon) 02:00 UTC+09:00"},
	} {
		if got := When(c.ev); got != c.want {
			t.Errorf("When = %q, want %q", got, c.want)
		}
	}
}

// BenchmarkTicket is the cost of one single-ticket PDF, what kidoctl issue
// pays per ticket on top of its PNG.
func BenchmarkTicket(b *testing.B) {
	f := font(b)
	ts := fixture(b, 1)
	for b.Loop() {
		if err := Write(io_discard{}, f, ts); err != nil {
			b.Fatal(err)
		}
	}
}

type io_discard struct{}

func (io_discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkTicketSubset is BenchmarkTicket with the font cut to a batch's
// characters, as kidoctl issue uses it.
func BenchmarkTicketSubset(b *testing.B) {
	ts := fixture(b, 1)
	f, err := font(b).Subset([]string{ts[0].Event.Name, ts[0].Event.Venue, ts[0].Holder, ts[0].Tier, ts[0].OrderRef, When(ts[0].Event)})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := Write(io_discard{}, f, ts); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzWrite: whatever a roster holds as a name or order reference, the
// ticket is written (characters fpdf cannot set become 〓), never a panic
// or a refused batch.
func FuzzWrite(f *testing.F) {
	full := font(f)
	for _, s := range []string{"山田 太郎", "🎫", "\x00\xff", "\u202e", strings.Repeat("長", 300)} {
		f.Add(s)
	}
	base := fixture(f, 1)[0]
	f.Fuzz(func(t *testing.T, s string) {
		tk := base
		tk.Holder, tk.OrderRef = s, s
		sub, err := full.Subset([]string{s})
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(io_discard{}, sub, []Ticket{tk}); err != nil {
			t.Fatalf("holder %q: %v", s, err)
		}
	})
}
