package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/internal/testcert"
	"kido.dev/kido/sync/server/servertest"
	"kido.dev/kido/sync/wire"
)

// mailServer is an SMTP server on loopback (emersion/go-smtp) that takes
// mail only over STARTTLS after AUTH PLAIN, and keeps what it accepted.
type mailServer struct {
	addr   string
	caFile string

	mu       sync.Mutex
	got      []received
	rejectTo map[string]bool // RCPT answered 550
	dropOnce map[string]bool // the message kept, then the connection cut before the answer to its end
}

type received struct {
	from, to string
	data     []byte
}

const smtpUser, smtpPass = "promoter", "s3cret pass"

func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	cert, _ := testcert.New(t, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ms := &mailServer{rejectTo: map[string]bool{}, dropOnce: map[string]bool{}}
	ms.caFile, _ = testcert.WriteFiles(t, cert)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{ms: ms, conn: c}, nil }))
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.AllowInsecureAuth = false // AUTH only after STARTTLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ms
}

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return slices.Clone(ms.got)
}

type mailSession struct {
	ms       *mailServer
	conn     *smtp.Conn
	authed   bool
	from, to string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != smtpUser || pass != smtpPass {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	if s.ms.rejectTo[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	s.to = to
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.got = append(s.ms.got, received{s.from, s.to, b})
	if s.ms.dropOnce[s.to] {
		delete(s.ms.dropOnce, s.to)
		s.conn.Conn().Close()
	}
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", "" }
func (s *mailSession) Logout() error { return nil }

// kidoctlAt runs kidoctl against srv and returns its standard output.
func kidoctlAt(srv *servertest.Server, args ...string) (string, error) {
	var stdout, stderr strings.Builder
	getenv := func(k string) string {
		return map[string]string{"KIDO_SERVER": srv.URL, "KIDO_TOKEN": srv.Token}[k]
	}
	err := run(context.Background(), args, env{getenv: getenv, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return stdout.String(), err
}

// TestSend mails tickets through STARTTLS and AUTH PLAIN: each accepted
// ticket once, a rejected recipient listed and sent again by the next
// run, a revoked ticket never, a ticket of unknown outcome only with
// -retake; -dry-run sends and records nothing.
func TestSend(t *testing.T) {
	srv := servertest.Start(t)
	ms := startMailServer(t)
	dir := t.TempDir()
	must := func(args ...string) string {
		t.Helper()
		out, err := kidoctlAt(srv, args...)
		if err != nil {
			t.Fatalf("kidoctl %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	roster := filepath.Join(dir, "roster.csv")
	os.WriteFile(roster, []byte("name,email,tier,order_ref\n"+
		"山田 太郎,taro@example.jp,,ORD-1\n"+
		"\"Smith, Jo \"\"x\"\" <admin@evil.example>\",jo@example.com,,ORD-2\n"+
		"Bounce,bounce@example.jp,,ORD-3\n"+
		"Revoked,rev@example.jp,,ORD-4\n"+
		"佐藤 花子,hanako@example.jp,,ORD-5\n"+
		"No Mail,,,ORD-6\n"+
		"Dropped,drop@example.jp,,ORD-7\n"), 0o600)
	must("event", "create", "-name", "夏フェス", "-venue", "幕張メッセ", "-start", "2027-08-01T10:00:00+09:00", "-end", "2027-08-01T21:00:00+09:00", "-tz", "Asia/Tokyo")
	must("tier", "add", "-event", "1", "-name", "GA")
	out := filepath.Join(dir, "out")
	must("issue", "-event", "1", "-tier", "GA", "-roster", roster, "-out", out, "-batch", "b1", "-pdf=false")
	for serial := uint32(1); serial <= 7; serial++ {
		os.WriteFile(filepath.Join(out, manifest.PDFName(1, serial)), []byte(fmt.Sprintf("%%PDF-1.4 ticket %d", serial)), 0o600)
	}
	must("revoke", "-event", "1", "4")
	// Another run claimed ticket 5 and stopped before recording its outcome.
	if _, err := srv.Admin.Deliver(context.Background(), 1, wire.DeliveryRequest{Run: "otherrunotherrun", Claim: []uint32{5}}); err != nil {
		t.Fatal(err)
	}
	ms.rejectTo["bounce@example.jp"] = true
	// The connection drops after ticket 7's message went whole: it arrived,
	// but kidoctl cannot know.
	ms.dropOnce["drop@example.jp"] = true
	pass := filepath.Join(dir, "smtp.pass")
	os.WriteFile(pass, []byte(smtpPass+"\n"), 0o600)
	send := func(extra ...string) (string, error) {
		return kidoctlAt(srv, append([]string{"send", "-event", "1", "-dir", out, "-smtp", ms.addr, "-smtp-ca", ms.caFile,
			"-from", "Summer Fes <tickets@example.jp>", "-user", smtpUser, "-password-file", pass}, extra...)...)
	}
	mailState := func() map[uint32]string {
		ts, err := srv.Admin.Tickets(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		m := map[uint32]string{}
		for _, tk := range ts {
			if tk.Mail != nil {
				m[tk.Serial] = tk.Mail.State + " " + tk.Mail.Answer
			}
		}
		return m
	}
	wantLines := func(out string, lines ...string) {
		t.Helper()
		squeeze := func(s string) string { return strings.Join(strings.Fields(s), " ") }
		for _, l := range lines {
			if !strings.Contains(squeeze(out), squeeze(l)) {
				t.Errorf("output lacks %q:\n%s", l, out)
			}
		}
	}

	stdout, err := send("-dry-run")
	if err == nil {
		t.Errorf("dry run with a ticket of unknown outcome: no error")
	}
	wantLines(stdout, "would send         1  山田 太郎 <taro@example.jp>  e1-00000001.pdf", "would send         3  Bounce",
		"revoked           4", "UNKNOWN            5", "no-address        6", "would send 7 Dropped", "dry run: 4 would be sent")
	if len(ms.received()) != 0 || len(mailState()) != 1 {
		t.Fatalf("dry run sent %d, records %v", len(ms.received()), mailState())
	}

	stdout, err = send()
	if err == nil || !strings.Contains(err.Error(), "3 of 7 tickets were not sent") {
		t.Errorf("first run: %v, want 3 of 7 not sent (3 rejected, 5 and 7 unknown)", err)
	}
	wantLines(stdout, "sent               1  山田 太郎 <taro@example.jp>: 250 2.0.0 OK: queued",
		"FAILED 3 Bounce <bounce@example.jp>: RCPT: 550 5.1.1 no such user here", "revoked           4", "UNKNOWN            5", "UNKNOWN 7 Dropped <drop@example.jp>: end of message:")
	got := ms.received()
	if len(got) != 3 || got[0].to != "taro@example.jp" || got[1].to != "jo@example.com" || got[2].to != "drop@example.jp" {
		t.Fatalf("received %d messages: %+v", len(got), got)
	}
	checkMail(t, got[0], "山田 太郎", "taro@example.jp", "%PDF-1.4 ticket 1")
	checkMail(t, got[1], `Smith, Jo "x" <admin@evil.example>`, "jo@example.com", "%PDF-1.4 ticket 2")
	st := mailState()
	if st[1] != "sent 250 2.0.0 OK: queued" || !strings.HasPrefix(st[3], "failed RCPT: 550") || st[4] != "" || !strings.HasPrefix(st[5], "sending") || !strings.HasPrefix(st[7], "sending") {
		t.Errorf("records after the first run: %v", st)
	}

	// The recipient is still refused: only ticket 3 is tried again.
	if _, err := send(); err == nil {
		t.Errorf("second run: no error")
	}
	if n := len(ms.received()); n != 3 {
		t.Errorf("second run: %d messages in all, want 3", n)
	}
	ms.mu.Lock()
	delete(ms.rejectTo, "bounce@example.jp")
	ms.mu.Unlock()
	stdout, err = send()
	if err == nil {
		t.Errorf("third run, with 5 of unknown outcome: no error")
	}
	got = ms.received()
	if len(got) != 4 || got[3].to != "bounce@example.jp" {
		t.Fatalf("third run: %+v", got)
	}
	wantLines(stdout, "sent 1, already sent before 2")

	// The promoter decides to send 5 and 7 again (7 arrives twice: what
	// -retake is for is that choice, made knowingly); then nothing is left.
	if _, err := send("-retake"); err != nil {
		t.Errorf("-retake: %v", err)
	}
	got = ms.received()
	if len(got) != 6 || got[4].to != "hanako@example.jp" || got[5].to != "drop@example.jp" {
		t.Fatalf("-retake: %+v", got)
	}
	stdout, err = send()
	if err != nil || len(ms.received()) != 6 {
		t.Errorf("last run: %v, %d messages", err, len(ms.received()))
	}
	wantLines(stdout, "sent 0, already sent before 5")

	// The export shows each ticket's record, its time in the event's zone.
	csv := must("export", "1", "-what", "tickets")
	wantLines(csv, "1,1,GA,山田 太郎,,taro@example.jp,ORD-1,b1,valid,,,sent,taro@example.jp,250 2.0.0 OK: queued,",
		"4,1,GA,Revoked,,rev@example.jp,ORD-4,b1,revoked,,,,,,", "mailed (Asia/Tokyo)")
}

// checkMail reads a received message as a mail reader would: one
// recipient with the holder's name as given, and the ticket's PDF.
func checkMail(t *testing.T, r received, holder, to, pdf string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(r.data))
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := m.Header.AddressList("To")
	if err != nil || len(addrs) != 1 || addrs[0].Address != to || addrs[0].Name != holder {
		t.Errorf("To %q: %v %v; want %s <%s>", m.Header.Get("To"), addrs, err, holder, to)
	}
	if r.from != "tickets@example.jp" || m.Header.Get("Bcc") != "" || m.Header.Get("Cc") != "" {
		t.Errorf("from %q, Bcc %q, Cc %q", r.from, m.Header.Get("Bcc"), m.Header.Get("Cc"))
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		parts = append(parts, b)
	}
	if len(parts) != 2 || string(parts[1]) != pdf || !strings.Contains(string(parts[0]), holder+" 様") {
		t.Errorf("parts %q", parts)
	}
}
