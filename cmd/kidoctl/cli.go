package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/buildinfo"
	"kido.dev/kido/cmd/internal/cliflags"

	"kido.dev/kido"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// env is what a command may use of the outside world.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError is a mistake in the command line: exit status 2. An empty
// msg means the usage text was already printed.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitSilently ends kidoctl with status 1 and nothing more to say: the
// command has printed its verdict (kidoctl readiness).
type exitSilently struct{}

func (exitSilently) Error() string { return "" }

// A command is one subcommand; run gets the arguments after its name.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"event", "create, list, show and correct events; the history of corrections", runEvent},
		{"tier", "add, correct and retire an event's ticket tiers", runTier},
		{"issue", "issue tickets with QR images, printable PDFs and a manifest", runIssue},
		{"render", "write a manifest's images and PDFs again", runRender},
		{"send", "mail each holder their printable ticket, once", runSend},
		{"revoke", "revoke tickets by serial or order", runRevoke},
		{"reissue", "revoke tickets and issue replacements", runReissue},
		{"keys", "list, rotate and revoke signing keys", runKeys},
		{"gate", "add, list, correct and revoke gates (enrolment codes)", runGate},
		{"gates", "gates' last contact, pending records, clock skew; flags silent gates", runGates},
		{"report", "attendance: admitted, unique holders, per gate and tier, double entries", runReport},
		{"conflicts", "double entries with both gates and times", runConflicts},
		{"export", "admissions, double entries or tickets as CSV or JSON for a spreadsheet", runExport},
		{"find", "an event's tickets by their holder's e-mail address", runFind},
		{"readiness", "before the doors: is every gate ready? one line per gate and a verdict", runReadiness},
		{"token", "create, list and revoke API tokens", runToken},
	}
}

const mainUsage = `usage: kidoctl COMMAND [flags] [args]

kidoctl talks to a kido server: -server URL and -token TOKEN on every
command, or KIDO_SERVER and KIDO_TOKEN in the environment. Every command
takes -json for output meant for scripts, and -h for its own help. A
command about one event takes the event's id as -event ID or, when it
takes no other argument, as its argument: kidoctl report 1. kidoctl
-version prints what the binary was built from.

Commands:
%s
Example:

	export KIDO_SERVER=http://127.0.0.1:8700 KIDO_TOKEN=$(cat kido-data/admin.token)
	kidoctl event create -name "Summer Fes" -venue "Makuhari Messe" \
		-start 2027-08-01T10:00:00+09:00 -end 2027-08-01T21:00:00+09:00
`

func run(ctx context.Context, args []string, e env) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		var list strings.Builder
		for _, c := range cmds {
			fmt.Fprintf(&list, "  %-10s %s\n", c.name, c.short)
		}
		fmt.Fprintf(e.stderr, mainUsage, list.String())
		if len(args) == 0 {
			return usageError{}
		}
		return nil
	}
	if args[0] == "-version" || args[0] == "--version" {
		return buildinfo.Read().Write(e.stdout, "kidoctl")
	}
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		return usagef("unknown command %q\nhint: kidoctl -h lists the commands", args[0])
	}
	return cmds[i].run(ctx, e, args[1:])
}

// subcommands dispatches a command with subcommands (event create, …).
func subcommands(ctx context.Context, e env, name, example string, args []string, subs map[string]func(context.Context, env, []string) error) error {
	var names []string
	for n := range subs {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "usage: kidoctl %s %s [flags]\n\nRun kidoctl %s SUBCOMMAND -h for its flags and an example.\n\nExample:\n\n\t%s\n", name, strings.Join(names, "|"), name, example)
		if len(args) == 0 {
			return usageError{}
		}
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		return usagef("unknown subcommand %q of %s\nhint: kidoctl %s takes %s", args[0], name, name, strings.Join(names, ", "))
	}
	return sub(ctx, e, args[1:])
}

// common holds the flags every command takes.
type common struct {
	server, token string
	envToken      string // KIDO_TOKEN, used when -token is not given
	json          bool
	timeout       time.Duration
	sec           client.Security
}

// newFlags returns a FlagSet with the common flags and usage text made of
// the synopsis and an example.
func newFlags(e env, name, synopsis, about, example string) (*flag.FlagSet, *common) {
	// The token is no flag default: usage text prints defaults, and a
	// typo in a flag would write the secret to the terminal.
	c := &common{envToken: e.getenv("KIDO_TOKEN")}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&c.server, "server", e.getenv("KIDO_SERVER"), "server `URL` (env KIDO_SERVER)")
	fs.StringVar(&c.token, "token", "", "API `token` (default: env KIDO_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "give up on a server call after `duration`")
	fs.BoolVar(&c.sec.InsecureHTTP, "insecure-http", false, "allow a plain http:// server URL to a host that is not this machine")
	fs.StringVar(&c.sec.CAFile, "ca", "", "trust the CA certificates in `file` (PEM) for https://, instead of the system's")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: kidoctl %s\n\n%s\n\nExample:\n\n\t%s\n\nFlags:\n", synopsis, about, example)
		fs.PrintDefaults()
	}
	return fs, c
}

// parse parses flags for a command that takes no arguments; -h is not an
// error (exit 0), a bad flag is a usage error (cliflags.Parse).
func parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	pos, help, err := parseArgs(fs, args)
	if err == nil && !help && len(pos) > 0 {
		return false, usagef("unexpected argument %q\nhint: kidoctl %s -h shows the usage", pos[0], fs.Name())
	}
	return help, err
}

// parseArgs parses flags and returns the other arguments, which may come
// before, between or after the flags (kidoctl revoke 17 18 -event 1).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, help bool, err error) {
	for {
		if err := cliflags.Parse(fs, "kidoctl "+fs.Name(), args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, false, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, false, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), false, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseEvent parses the flags of a command about one event, which takes the
// event's id as -event ID or as its only argument (kidoctl report 1). Given
// both ways, the two must agree. With required false, no id at all gives 0.
func parseEvent(fs *flag.FlagSet, ev *uint, args []string, required bool) (id uint32, help bool, err error) {
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return 0, help, err
	}
	if len(pos) > 1 {
		return 0, false, usagef("unexpected argument %q: %s takes one event id\nhint: kidoctl %s -h shows the usage", pos[1], fs.Name(), fs.Name())
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "event" })
	if len(pos) == 1 {
		n, err := strconv.ParseUint(pos[0], 10, 32)
		if err != nil || n == 0 {
			return 0, false, usagef("%q is not an event id\nhint: kidoctl event list shows the ids", pos[0])
		}
		if set && uint(n) != *ev {
			return 0, false, usagef("event %d and -event %d disagree\nhint: give the event id once: kidoctl %s %d", n, *ev, fs.Name(), n)
		}
		*ev, set = uint(n), true
	}
	if !set && !required {
		return 0, false, nil
	}
	if !set {
		return 0, false, usagef("no event given\nhint: kidoctl %s ID, or -event ID; kidoctl event list shows the ids", fs.Name())
	}
	id, err = eventID(*ev)
	return id, false, err
}

// askEvent is the shape shared by the commands that ask the server one
// thing about one event: parse the flags and the [-event] ID, ask, and print
// the answer as JSON (-json) or with human. ask takes the client first, so
// that a client method expression such as (*client.Client).Report fits.
func askEvent[T any](ctx context.Context, e env, fs *flag.FlagSet, c *common, ev *uint, args []string, required bool,
	ask func(*client.Client, context.Context, uint32) (T, error), human func(w io.Writer, id uint32, v T) error) error {
	id, help, err := parseEvent(fs, ev, args, required)
	if help || err != nil {
		return err
	}
	return askThen(ctx, e, c, id, ask, func(_ *client.Client, v T) error { return human(e.stdout, id, v) })
}

// askThen asks the server for one event's v and prints it: as JSON with
// -json, else by then, which may ask the server more with the client.
func askThen[T any](ctx context.Context, e env, c *common, id uint32,
	ask func(*client.Client, context.Context, uint32) (T, error), then func(*client.Client, T) error) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	v, err := ask(cl, ctx, id)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, v)
	}
	return then(cl, v)
}

// client returns an API client, insisting on a server URL and a token.
func (c *common) client() (*client.Client, error) {
	if c.server == "" {
		return nil, usagef("no server given\nhint: use -server URL or set KIDO_SERVER, e.g. http://127.0.0.1:8700")
	}
	token := cmp.Or(c.token, c.envToken)
	if token == "" {
		return nil, usagef("no token given\nhint: use -token or set KIDO_TOKEN; the first admin token is in admin.token in the server's data directory")
	}
	if err := c.sec.Check(c.server); err != nil {
		return nil, err
	}
	hc, err := c.sec.HTTPClient(c.timeout)
	if err != nil {
		return nil, err
	}
	return client.New(c.server, strings.TrimSpace(token), hc)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal (for progress and QR output).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func entriesText(n kido.EntryRule) string {
	switch n {
	case 0:
		return "unlimited, re-entry after exit"
	case 1:
		return "single entry"
	default:
		return fmt.Sprintf("%d entries", n)
	}
}

// eventDetail connects to the server and reads event id with its tiers
// and gates, for a command that names them or shows them by name.
func eventDetail(ctx context.Context, c *common, id uint32) (*client.Client, wire.EventDetail, error) {
	cl, err := c.client()
	if err != nil {
		return nil, wire.EventDetail{}, err
	}
	d, err := cl.Event(ctx, id)
	return cl, d, err
}
