package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/cmd/internal/ticketmail"
	"kido.dev/kido/cmd/internal/ticketpdf"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// maxDialFailures is how many connections to the SMTP server in a row may
// fail before a run stops: the server is down, and every further ticket
// would fail the same way.
const maxDialFailures = 3

func runSend(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "send", "send [-event] ID -dir DIR -smtp HOST:PORT -from ADDR [-user U -password-file F] [-starttls=true] [-dry-run] [-retake]",
		`Mails each holder of the tickets a manifest in DIR lists their printable ticket
(the PDF kidoctl issue or render wrote), with a subject and text in Japanese and
English, to the e-mail address of the roster.

Each ticket is claimed on the server before it is sent and its outcome recorded
there with the SMTP server's answer, so promoters sending from several machines
share one record: a ticket accepted by the SMTP server is never sent again, a
run sends only what is not yet accepted, and a revoked ticket is never sent.
Every ticket not sent is listed with why, and the exit status is 1 when one
failed. A ticket whose sending was cut off after the message went (its outcome
unknown) is not sent again until you check it did not arrive and add -retake.
-dry-run lists what would go and sends nothing. kidoctl export -what tickets
shows the record of every ticket.`,
		"kidoctl send -event 1 -dir tickets/ -smtp smtp.example.jp:587 -from 'Summer Fes <tickets@example.jp>' -user tickets@example.jp -password-file smtp.pass")
	ev := fs.Uint("event", 0, "event `id`")
	dir := fs.String("dir", "", "`directory` holding the manifest and the PDFs")
	name := fs.String("manifest", manifest.Issued, "the manifest's file `name` in DIR: "+manifest.Issued+" or "+manifest.Reissued)
	smtpAddr := fs.String("smtp", "", "SMTP submission server `host:port`")
	from := fs.String("from", "", "sender `address`, e.g. 'Summer Fes <tickets@example.jp>'")
	user := fs.String("user", "", "SMTP AUTH PLAIN `user` (needs -password-file)")
	passFile := fs.String("password-file", "", "`file` holding the SMTP password")
	startTLS := fs.Bool("starttls", true, "require STARTTLS (false only for a server on this machine)")
	smtpCA := fs.String("smtp-ca", "", "trust the CA certificates in `file` (PEM) for the SMTP server, instead of the system's")
	dryRun := fs.Bool("dry-run", false, "list what would be sent; send nothing, record nothing")
	retake := fs.Bool("retake", false, "send also the tickets whose earlier sending was cut off with its outcome unknown")
	event, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if *dir == "" {
		return usagef("-dir DIR is required: the directory kidoctl issue wrote")
	}
	if *name != manifest.Issued && *name != manifest.Reissued {
		return usagef("-manifest %q: give %s or %s, the name of a manifest in DIR", *name, manifest.Issued, manifest.Reissued)
	}
	var cfg ticketmail.Config
	var sender *mail.Address
	if !*dryRun {
		if *smtpAddr == "" {
			return usagef("-smtp HOST:PORT is required (or -dry-run)")
		}
		if *from == "" {
			return usagef("-from ADDR is required: the address holders see and may answer")
		}
		if sender, err = mail.ParseAddress(*from); err != nil {
			return usagef("-from %q: %v", *from, err)
		}
		if _, err := ticketmail.ParseAddress(sender.Address); err != nil {
			return usagef("-from %q: %v", *from, err)
		}
		if (*user == "") != (*passFile == "") {
			return usagef("-user and -password-file go together")
		}
		cfg = ticketmail.Config{Addr: *smtpAddr, StartTLS: *startTLS, User: *user}
		if *passFile != "" {
			b, err := os.ReadFile(*passFile)
			if err != nil {
				return fmt.Errorf("password file: %w", err)
			}
			cfg.Password = strings.TrimRight(string(b), "\r\n")
		}
		if *smtpCA != "" {
			pem, err := os.ReadFile(*smtpCA)
			if err != nil {
				return fmt.Errorf("-smtp-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("-smtp-ca %s: no PEM certificate in it", *smtpCA)
			}
			cfg.TLS = &tls.Config{RootCAs: pool}
		}
	}

	rows, err := readManifest(*dir, *name, event, "nothing was sent")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	detail, err := cl.Event(ctx, event)
	if err != nil {
		return err
	}
	tiers := map[uint8]string{}
	for _, t := range detail.Tiers {
		tiers[t.ID] = t.Name
	}
	records, err := cl.Tickets(ctx, event)
	if err != nil {
		return err
	}
	bySerial := map[uint32]wire.TicketRecord{}
	for _, r := range records {
		bySerial[r.Serial] = r
	}

	// The plan: what goes, and every ticket that does not with why.
	loc, zone := ticketpdf.Zone(detail.Event)
	s := sendRun{w: e.stdout, loc: loc, zone: zone}
	var todo []mailJob
	for _, row := range rows {
		rec, ok := bySerial[row.Serial]
		switch {
		case !ok:
			s.fail(row.Serial, row.Holder, "", "not a ticket of event %d on this server", event)
		case rec.Revoked:
			s.note("revoked", row.Serial, rec.Holder, rec.Email, "revoked: never sent")
		case rec.Mail != nil && rec.Mail.State == wire.MailSent:
			s.alreadySent++
		case rec.Email == "":
			s.note("no-address", row.Serial, rec.Holder, "", "no e-mail address in the roster: hand or post the printed ticket")
		case rec.Mail != nil && rec.Mail.State == wire.MailSending && !*retake:
			s.unknown(row.Serial, rec.Holder, rec.Email, *rec.Mail)
		default:
			if _, err := ticketmail.ParseAddress(rec.Email); err != nil {
				s.fail(row.Serial, rec.Holder, rec.Email, "%v", err)
				continue
			}
			pdf := filepath.Join(*dir, manifest.PDFName(event, row.Serial))
			b, err := os.ReadFile(pdf)
			if err != nil {
				s.fail(row.Serial, rec.Holder, rec.Email, "no PDF: %v (kidoctl render -event %d -dir %s writes it)", err, event, *dir)
				continue
			}
			todo = append(todo, mailJob{rec: rec, t: ticketmail.Ticket{Event: detail.Event, Serial: row.Serial, Holder: rec.Holder,
				Tier: tiers[rec.Tier], OrderRef: rec.OrderRef, PDF: b, PDFName: manifest.PDFName(event, row.Serial)}})
		}
	}
	if *dryRun {
		for _, j := range todo {
			fmt.Fprintf(e.stdout, "would send  %8d  %s <%s>  %s (%d KiB)\n", j.rec.Serial, j.rec.Holder, j.rec.Email, j.t.PDFName, (len(j.t.PDF)+1023)/1024)
		}
		fmt.Fprintf(e.stdout, "dry run: %d would be sent, %d already sent, %d not sent (listed above); nothing was sent\n", len(todo), s.alreadySent, s.failed+s.noted)
		return s.verdict(len(rows))
	}
	if err := s.send(ctx, cl, event, cfg, sender, todo, *retake); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "sent %d, already sent before %d, not sent %d (listed above)\n", s.sent, s.alreadySent, s.failed+s.noted)
	return s.verdict(len(rows))
}

type mailJob struct {
	rec wire.TicketRecord
	t   ticketmail.Ticket
}

// sendRun counts and lists what became of each ticket.
type sendRun struct {
	loc                              *time.Location
	zone                             string
	w                                io.Writer
	sent, alreadySent, failed, noted int
}

func (s *sendRun) line(label string, serial uint32, holder, to, format string, args ...any) {
	addr := ""
	if to != "" {
		addr = " <" + to + ">"
	}
	fmt.Fprintf(s.w, "%-10s %8d  %s%s: %s\n", label, serial, holder, addr, fmt.Sprintf(format, args...))
}

func (s *sendRun) fail(serial uint32, holder, to, format string, args ...any) {
	s.failed++
	s.line("FAILED", serial, holder, to, format, args...)
}

func (s *sendRun) note(label string, serial uint32, holder, to, format string, args ...any) {
	s.noted++
	s.line(label, serial, holder, to, format, args...)
}

func (s *sendRun) unknown(serial uint32, holder, to string, m wire.Mail) {
	s.failed++
	s.line("UNKNOWN", serial, holder, to, "sending began at %s %s (run %s) and its outcome was never recorded: it may have arrived. Check, then send it with -retake",
		m.At.In(s.loc).Format("2006-01-02 15:04:05"), s.zone, m.Run)
}

func (s *sendRun) verdict(total int) error {
	if s.failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d tickets were not sent (listed above)\nhint: kidoctl send again sends only the tickets not yet accepted", s.failed, total)
}

// send claims, mails and records each job in turn: the outcome of one is
// recorded with the claim of the next, in one request.
func (s *sendRun) send(ctx context.Context, cl *client.Client, event uint32, cfg ticketmail.Config, from *mail.Address, todo []mailJob, retake bool) error {
	var rnd [10]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	run := hex.EncodeToString(rnd[:])
	var pending []wire.DeliveryResult
	// record sends the pending results (and a claim): when that fails, the
	// tickets whose results were lost are named, since the server will
	// show them as of unknown outcome.
	record := func(ctx context.Context, claim []uint32) (wire.DeliveryResponse, error) {
		resp, err := cl.Deliver(ctx, event, wire.DeliveryRequest{Run: run, Results: pending, Claim: claim, Retake: retake})
		if err != nil {
			for _, p := range pending {
				s.line("UNRECORDED", p.Serial, "", p.To, "the SMTP server's answer %q could not be recorded; the server shows it as of unknown outcome", p.Answer)
			}
			return resp, err
		}
		pending = nil
		return resp, nil
	}
	var smtp *ticketmail.Client
	defer func() {
		if smtp != nil {
			smtp.Close()
		}
	}()
	dialFailures := 0
	for i, j := range todo {
		if ctx.Err() != nil || dialFailures >= maxDialFailures {
			for _, rest := range todo[i:] {
				why := "not attempted: the run was stopped"
				if ctx.Err() == nil {
					why = fmt.Sprintf("not attempted: %d connections to %s failed in a row", dialFailures, cfg.Addr)
				}
				s.fail(rest.rec.Serial, rest.rec.Holder, rest.rec.Email, "%s", why)
			}
			break
		}
		resp, err := record(ctx, []uint32{j.rec.Serial})
		if err != nil {
			return err
		}
		if len(resp.Claimed) == 0 {
			// Another run took it between the plan and now.
			r := resp.Refused[0]
			switch r.Why {
			case wire.MailSent:
				s.alreadySent++
			case wire.MailSending:
				s.unknown(j.rec.Serial, j.rec.Holder, j.rec.Email, *r.Mail)
			default:
				s.fail(j.rec.Serial, j.rec.Holder, j.rec.Email, "refused by the server: %s", r.Why)
			}
			continue
		}
		result := wire.DeliveryResult{Serial: j.rec.Serial, To: j.rec.Email}
		if smtp == nil {
			if smtp, err = ticketmail.Dial(ctx, cfg); err != nil {
				dialFailures++
				result.Answer = ticketmail.OneLine("not handed over: " + err.Error())
				pending = append(pending, result)
				s.fail(j.rec.Serial, j.rec.Holder, j.rec.Email, "%s", result.Answer)
				smtp = nil
				continue
			}
		}
		dialFailures = 0
		msg, err := ticketmail.Message(from, j.rec.Email, j.t, time.Now(), fmt.Sprintf("%s.%d.%d", run, event, j.rec.Serial))
		if err != nil {
			result.Answer = ticketmail.OneLine(err.Error())
			pending = append(pending, result)
			s.fail(j.rec.Serial, j.rec.Holder, j.rec.Email, "%s", result.Answer)
			continue
		}
		out, err := smtp.Send(from.Address, j.rec.Email, msg)
		if err != nil {
			smtp.Close()
			smtp = nil
		}
		if out.Unknown {
			// Left claimed: a later run lists it until someone retakes it.
			s.failed++
			s.line("UNKNOWN", j.rec.Serial, j.rec.Holder, j.rec.Email, "%s: the message may have arrived. Check, then send it with -retake", out.Answer)
			continue
		}
		result.Accepted, result.Answer = out.Accepted, out.Answer
		pending = append(pending, result)
		if out.Accepted {
			s.sent++
			s.line("sent", j.rec.Serial, j.rec.Holder, j.rec.Email, "%s", out.Answer)
		} else {
			s.fail(j.rec.Serial, j.rec.Holder, j.rec.Email, "%s", out.Answer)
		}
	}
	if len(pending) > 0 {
		// Recorded even when the run was stopped: what went must be known.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := record(rctx, nil); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), s.verdict(len(todo)))
	}
	return nil
}
