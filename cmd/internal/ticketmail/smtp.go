package ticketmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"kido.dev/kido"
)

// Config says how to reach the SMTP server.
type Config struct {
	Addr     string // host:port
	StartTLS bool   // require STARTTLS before anything else is said
	TLS      *tls.Config
	User     string // AUTH PLAIN when not empty (only over TLS or to this machine)
	Password string
	Hello    string // the name given in EHLO; "localhost" when empty
}

// Client is one SMTP connection, for one message after another.
type Client struct {
	c *smtp.Client
}

// Dial connects, says EHLO, starts TLS and authenticates as cfg asks.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ticketmail: smtp address %q: %w", cfg.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ticketmail: %w", err)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ticketmail: %s: %w", cfg.Addr, err)
	}
	fail := func(err error) (*Client, error) {
		c.Close()
		return nil, err
	}
	hello := cfg.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return fail(fmt.Errorf("ticketmail: EHLO: %w", err))
	}
	if cfg.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(fmt.Errorf("ticketmail: %s offers no STARTTLS\nhint: use the server's submission port (587), or -starttls=false for a server on this machine", cfg.Addr))
		}
		tc := cfg.TLS
		if tc == nil {
			tc = &tls.Config{}
		}
		tc = tc.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		if err := c.StartTLS(tc); err != nil {
			return fail(fmt.Errorf("ticketmail: STARTTLS: %w", err))
		}
	}
	if cfg.User != "" {
		// PlainAuth refuses to send the password in the clear to any host
		// but this machine.
		if err := c.Auth(smtp.PlainAuth("", cfg.User, cfg.Password, host)); err != nil {
			return fail(fmt.Errorf("ticketmail: AUTH: %w", err))
		}
	}
	return &Client{c: c}, nil
}

// Outcome is what became of one message.
type Outcome struct {
	// Accepted: the server answered 250 to the message's end.
	Accepted bool
	// Unknown: the message was sent whole but no answer to its end came,
	// so it may have been accepted. Neither accepted nor refused.
	Unknown bool
	// Answer is the server's answer ("250 2.0.0 Ok: queued as 4F3A"), or
	// why the message was not handed over, on one line.
	Answer string
}

// ErrConnection is wrapped by Send's error when the connection is no
// longer usable: the caller dials again for the next message.
var ErrConnection = errors.New("ticketmail: connection lost")

// Send sends msg from from to the one address to. A refusal by the server
// (MAIL, RCPT or the message's end answered 4xx or 5xx) is an Outcome with
// the answer, and the connection stays usable; a broken connection is an
// error wrapping ErrConnection, with the Outcome saying whether the
// message may have gone.
func (cl *Client) Send(from, to string, msg []byte) (Outcome, error) {
	refused := func(stage string, err error) (Outcome, error) {
		var te *textproto.Error
		if errors.As(err, &te) {
			cl.c.Reset() // a failed RSET shows on the next message's MAIL
			return Outcome{Answer: OneLine(fmt.Sprintf("%s: %03d %s", stage, te.Code, te.Msg))}, nil
		}
		return Outcome{Answer: OneLine(stage + ": " + err.Error())}, fmt.Errorf("%w: %v", ErrConnection, err)
	}
	if err := cl.c.Mail(from); err != nil {
		return refused("MAIL", err)
	}
	if err := cl.c.Rcpt(to); err != nil {
		return refused("RCPT", err)
	}
	// DATA by hand rather than smtp.Client.Data, whose writer drops the
	// answer to the message's end: the answer (often a queue id) is what
	// the record keeps.
	t := cl.c.Text
	id, err := t.Cmd("DATA")
	if err != nil {
		return refused("DATA", err)
	}
	t.StartResponse(id)
	_, _, err = t.ReadResponse(354)
	t.EndResponse(id)
	if err != nil {
		return refused("DATA", err)
	}
	w := t.DotWriter()
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return Outcome{Answer: OneLine("message: " + err.Error())}, fmt.Errorf("%w: %v", ErrConnection, err)
	}
	if err := w.Close(); err != nil {
		// The final dot may have reached the server.
		return Outcome{Unknown: true, Answer: OneLine("end of message: " + err.Error())}, fmt.Errorf("%w: %v", ErrConnection, err)
	}
	code, answer, err := t.ReadResponse(250)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return Outcome{Answer: OneLine(fmt.Sprintf("end of message: %03d %s", te.Code, te.Msg))}, nil
		}
		return Outcome{Unknown: true, Answer: OneLine("end of message: " + err.Error())}, fmt.Errorf("%w: %v", ErrConnection, err)
	}
	return Outcome{Accepted: true, Answer: OneLine(fmt.Sprintf("%03d %s", code, answer))}, nil
}

// Close says QUIT and closes the connection.
func (cl *Client) Close() error {
	err := cl.c.Quit()
	if err != nil {
		cl.c.Close()
	}
	return err
}

// maxAnswer is the most of an answer kept, in bytes (the server's record
// takes 1,000).
const maxAnswer = 900

// OneLine makes an SMTP answer fit the mail record: lines joined with
// " / ", every character kido.CheckText refuses dropped, at most
// maxAnswer bytes.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " / ")
	s = strings.Map(func(r rune) rune {
		if kido.CheckText(string(r)) != nil {
			return -1
		}
		return r
	}, s)
	if len(s) > maxAnswer {
		cut := maxAnswer
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
