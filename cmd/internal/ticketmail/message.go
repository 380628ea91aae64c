// Package ticketmail mails printable tickets for kidoctl send: the
// message (a Japanese and English text from a built-in template and the
// ticket's PDF) and an SMTP client that reports the server's exact answer
// and says when a message's fate is unknown.
//
// No holder name, address, event name or other text from the roster or
// the server can add a header or a MIME part: the one address a message
// goes to must parse (net/mail) as a bare address and nothing else, names
// in headers are written as RFC 2047 encoded words, and the text and the
// PDF are base64 inside a MIME boundary drawn at random.
package ticketmail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"text/template"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/ticketpdf"
)

// Ticket is what one message carries.
type Ticket struct {
	Event    kido.Event
	Serial   uint32
	Holder   string
	Tier     string // the tier's name
	OrderRef string
	PDF      []byte // the printable ticket
	PDFName  string // its file name, ASCII (manifest.PDFName)
}

// ParseAddress returns addr if it is one bare e-mail address (no display
// name, no list, no line break, no angle brackets), else an error.
func ParseAddress(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("ticketmail: no e-mail address")
	}
	if strings.ContainsAny(addr, "\r\n<>,;\" \t") {
		return "", fmt.Errorf("ticketmail: %q is not one bare e-mail address", addr)
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr || strings.Count(addr, "@") != 1 {
		return "", fmt.Errorf("ticketmail: %q is not one bare e-mail address", addr)
	}
	return addr, nil
}

var bodyTemplate = template.Must(template.New("body").Parse(`{{.Holder}} 様

{{.Event}} の電子チケットをお届けします。
添付の PDF を印刷するか、スマートフォンで QR コードを表示して、入場ゲートでお見せください。

日時: {{.When}}
会場: {{.Venue}}
券種: {{.Tier}}
{{if .OrderRef}}注文番号: {{.OrderRef}}
{{end}}チケット番号: {{.Serial}}

このチケットは {{.Holder}} 様のものです。QR コードを他の人に渡したり、SNS に載せたりしないでください。
お一人様一回限り有効です。

----

Dear {{.Holder}},

Your ticket for {{.Event}} is attached. Print the PDF, or show its QR code on your phone at the gate.

Date: {{.When}}
Venue: {{.Venue}}
Tier: {{.Tier}}
{{if .OrderRef}}Order: {{.OrderRef}}
{{end}}Ticket No.: {{.Serial}}

This ticket is yours: do not share its QR code or post it online. It admits as its tier allows, and no more.
`))

// Subject is the subject line of t's message, before encoding.
func Subject(t Ticket) string {
	return fmt.Sprintf("【%s】電子チケットのお届け / Your ticket for %s", t.Event.Name, t.Event.Name)
}

// Body is the text of t's message, in Japanese then English.
func Body(t Ticket) (string, error) {
	var b strings.Builder
	err := bodyTemplate.Execute(&b, map[string]any{
		"Holder": t.Holder, "Event": t.Event.Name, "Venue": t.Event.Venue, "When": ticketpdf.When(t.Event),
		"Tier": t.Tier, "OrderRef": t.OrderRef, "Serial": fmt.Sprintf("%08d", t.Serial),
	})
	return b.String(), err
}

// Message returns the message mailing t from from to to, dated now, with
// Message-ID <id@domain of from>. to must pass ParseAddress.
func Message(from *mail.Address, to string, t Ticket, now time.Time, id string) ([]byte, error) {
	if _, err := ParseAddress(to); err != nil {
		return nil, err
	}
	if _, err := ParseAddress(from.Address); err != nil {
		return nil, fmt.Errorf("ticketmail: sender: %w", err)
	}
	for _, c := range t.PDFName {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return nil, fmt.Errorf("ticketmail: attachment name %q", t.PDFName)
		}
	}
	body, err := Body(t)
	if err != nil {
		return nil, fmt.Errorf("ticketmail: body: %w", err)
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("ticketmail: boundary: %w", err)
	}
	// A random boundary: no text inside a base64 part can hold it anyway,
	// but nothing need be argued about.
	boundary := "kido-" + hex.EncodeToString(rnd[:])
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", addressHeader(from.Name, from.Address))
	header("To", addressHeader(t.Holder, to))
	header("Subject", mime.BEncoding.Encode("UTF-8", Subject(t)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "--%s\r\n", boundary)
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	writeBase64(&b, []byte(body))
	fmt.Fprintf(&b, "--%s\r\n", boundary)
	header("Content-Type", `application/pdf; name="`+t.PDFName+`"`)
	header("Content-Disposition", `attachment; filename="`+t.PDFName+`"`)
	header("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	writeBase64(&b, t.PDF)
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// addressHeader writes name and addr (which passed ParseAddress) as one
// address. A name of printable ASCII is quoted by net/mail; any other is
// one or more base64 encoded words (RFC 2047), which hold no character a
// header or an address list could break on. (net/mail's own choice, Q
// encoding, leaves a backslash bare, which its parser then refuses.)
func addressHeader(name, addr string) string {
	for i := 0; i < len(name); i++ {
		if name[i] < ' ' || name[i] > '~' {
			return mime.BEncoding.Encode("UTF-8", strings.ToValidUTF8(name, "\uFFFD")) + " <" + addr + ">"
		}
	}
	return (&mail.Address{Name: name, Address: addr}).String()
}

// writeBase64 writes data in base64 lines of 76 characters (RFC 2045).
func writeBase64(b *bytes.Buffer, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteString("\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
