package ticketmail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
)

var testEvent = kido.Event{ID: 1, Name: "夏フェス 2027", Venue: "幕張メッセ", TimeZone: "Asia/Tokyo",
	Start: time.Date(2027, 8, 1, 10, 0, 0, 0, time.FixedZone("", 9*3600)), End: time.Date(2027, 8, 1, 21, 0, 0, 0, time.FixedZone("", 9*3600))}

var sender = &mail.Address{Name: "Summer Fes", Address: "tickets@example.jp"}

// parsed is a message read back as a mail reader would.
type parsed struct {
	header  mail.Header
	to      []*mail.Address
	subject string
	body    string
	pdf     []byte
	pdfName string
}

func readBack(t testing.TB, msg []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, msg)
	}
	p := parsed{header: m.Header}
	if p.to, err = m.Header.AddressList("To"); err != nil {
		t.Fatalf("To %q: %v", m.Header.Get("To"), err)
	}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			if i != 2 {
				t.Fatalf("%d parts, want 2", i)
			}
			return p
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if i == 0 {
			p.body = string(b)
		} else {
			p.pdf, p.pdfName = b, part.FileName()
		}
	}
}

func TestMessage(t *testing.T) {
	tk := Ticket{Event: testEvent, Serial: 7, Holder: "山田 太郎", Tier: "VIP", OrderRef: "ORD-1", PDF: []byte("%PDF-1.4 seven"), PDFName: "e1-00000007.pdf"}
	msg, err := Message(sender, "taro@example.jp", tk, time.Date(2027, 7, 1, 12, 0, 0, 0, time.UTC), "run1.1.7")
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg)
	if len(p.to) != 1 || p.to[0].Address != "taro@example.jp" || p.to[0].Name != "山田 太郎" {
		t.Errorf("To = %v", p.to)
	}
	if p.subject != "【夏フェス 2027】電子チケットのお届け / Your ticket for 夏フェス 2027" {
		t.Errorf("Subject = %q", p.subject)
	}
	for _, want := range []string{"山田 太郎 様", "Dear 山田 太郎,", "2027-08-01 (日 Sun) 10:00–21:00 JST", "幕張メッセ", "VIP", "ORD-1", "00000007"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.body)
		}
	}
	if string(p.pdf) != "%PDF-1.4 seven" || p.pdfName != "e1-00000007.pdf" {
		t.Errorf("attachment %q named %q", p.pdf, p.pdfName)
	}
	if got := p.header.Get("Message-Id"); got != "<run1.1.7@example.jp>" {
		t.Errorf("Message-ID %q", got)
	}
}

// TestNoHeaderInjection: a holder name, event name or order reference
// carrying CR/LF and header text adds no header; an address that is more
// than one bare address is refused.
func TestNoHeaderInjection(t *testing.T) {
	ev := testEvent
	ev.Name = "Fes\r\nBcc: evil@example.net"
	tk := Ticket{Event: ev, Serial: 1, Holder: "Jo\r\nBcc: evil@example.net\r\n\r\n--x", OrderRef: "A\r\nX-Evil: 1", Tier: "GA", PDF: []byte("pdf"), PDFName: "e1-00000001.pdf"}
	msg, err := Message(sender, "jo@example.com", tk, time.Now(), "r.1.1")
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg)
	keys := make([]string, 0, len(p.header))
	for k := range p.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}; !slices.Equal(keys, want) {
		t.Errorf("headers %v, want %v", keys, want)
	}
	if len(p.to) != 1 || p.to[0].Address != "jo@example.com" || p.to[0].Name != tk.Holder {
		t.Errorf("To = %+v", p.to)
	}
	for _, addr := range []string{"", "jo@example.com\r\nBcc: evil@example.net", "Jo <jo@example.com>", "jo@example.com, evil@example.net",
		"jo@example.com\n", "<jo@example.com>", "jo", "a@b@c", "jo@example.com;evil@example.net", "\"a b\"@example.com"} {
		if _, err := Message(sender, addr, tk, time.Now(), "r.1.1"); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
}

// FuzzMessage: whatever the holder and the address, a message is either
// refused or has exactly its headers, one recipient (the address given)
// and the holder's name as given.
func FuzzMessage(f *testing.F) {
	f.Add("山田 太郎", "taro@example.jp")
	f.Add("Jo\r\nBcc: x@y", "jo@example.com")
	f.Add("\"Smith, Jo\" <admin@evil>", "a.b+c@example.co.jp")
	f.Add("=?UTF-8?B?QmNjOiB4?=", "x@y")
	f.Fuzz(func(t *testing.T, holder, addr string) {
		tk := Ticket{Event: testEvent, Serial: 1, Holder: holder, Tier: "GA", PDF: []byte("pdf"), PDFName: "e1-00000001.pdf"}
		msg, err := Message(sender, addr, tk, time.Now(), "r.1.1")
		if err != nil {
			return
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("unreadable message for %q %q: %v", holder, addr, err)
		}
		if len(m.Header) != 7 || len(m.Header["To"]) != 1 {
			t.Fatalf("headers %v for %q %q", m.Header, holder, addr)
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != addr {
			t.Fatalf("To %q for %q %q: %v %v", m.Header.Get("To"), holder, addr, to, err)
		}
		if strings.ToValidUTF8(holder, "\uFFFD") == holder && to[0].Name != holder {
			t.Fatalf("name %q, want %q", to[0].Name, holder)
		}
	})
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"250 2.0.0 OK: queued":     "250 2.0.0 OK: queued",
		"550 no\nsuch user\r\n":    "550 no / such user",
		"250 ok\x1b[31m\u202eevil": "250 ok[31mevil",
		strings.Repeat("あ", 400):   strings.Repeat("あ", 300) + "…",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
		if err := kido.CheckText(OneLine(in)); err != nil {
			t.Errorf("OneLine(%q) refused: %v", in, err)
		}
	}
}
