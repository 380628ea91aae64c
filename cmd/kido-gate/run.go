package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/buildinfo"
	"kido.dev/kido/cmd/internal/cliflags"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
)

// version is sent to the server and shown by status.
var version = buildinfo.Read().Short()

const usage = `usage: kido-gate COMMAND [flags] [arguments]

The kido gate terminal: verifies tickets against a local replica, with or
without a network. Commands:

	enroll   register this device with a server and download the replica
	scan     decide on tickets given as arguments, an image, or stdin lines
	serve    the staff app: a page for a kiosk browser, with sync
	run      attended mode in a terminal: ADMIT/REJECT for each line a scanner types
	find     search the roster by name, order reference or serial
	admit    admit an attendee by serial, without a scan (recorded as manual)
	undo     annul this gate's last admission, within 2 minutes (a wrong ticket scanned)
	sync     one round of sync with the server: upload, then pull changes
	status   event, counts, sync state, pending uploads, clock state
	doctor   check files, disk, replica, network, TLS, server, credential, clock

kido-gate -version prints what the binary was built from.

Every command takes -data DIR (default ./kido-gate-data). Run
"kido-gate COMMAND -h" for its flags and an example.

Example:

	kido-gate enroll -server https://tickets.example.org -code "1234 5678 9012 3456 7890 1234"
	kido-gate scan 01000…
`

// Exit codes.
const (
	exitOK     = 0
	exitReject = 1 // a ticket was rejected, or a command failed
	exitUsage  = 2
)

// A usageError is a command-line mistake (exit code 2). An empty one has
// been reported already (by the flag package).
type usageError string

func (e usageError) Error() string { return string(e) }

var errUsage = usageError("")

// errRejected is returned when a scan was rejected; the decision has
// already been printed, so there is nothing more to say.
var errRejected = errors.New("rejected")

func usageErrorf(format string, a ...any) error {
	return usageError(fmt.Sprintf(format, a...))
}

type command struct {
	name string
	run  func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var commands = []command{
	{"enroll", runEnroll},
	{"scan", runScan},
	{"serve", runServe},
	{"run", runAttended},
	{"find", runFind},
	{"admit", runAdmit},
	{"undo", runUndo},
	{"sync", runSync},
	{"status", runStatus},
	{"doctor", runDoctor},
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] == "-version" || args[0] == "--version" {
		return buildinfo.Read().Write(stdout, "kido-gate")
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	return usageErrorf("unknown command %q\nhint: kido-gate -h lists the commands", args[0])
}

// exitCode prints err (unless it is a rejection already shown) and returns
// the process exit code.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errRejected):
		return exitReject
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		if ue != "" {
			fmt.Fprintln(stderr, "kido-gate:", ue)
		}
		return exitUsage
	}
	fmt.Fprintln(stderr, "kido-gate:", err)
	return exitReject
}

// newFlags returns a command's flag set with the -data flag every command
// has; usage text goes to stderr.
func newFlags(name, text string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("kido-gate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, text); fs.PrintDefaults() }
	data := fs.String("data", "./kido-gate-data", "data `directory` of this gate")
	return fs, data
}

// securityFlags adds -insecure-http and -ca, for the commands that talk to
// the server.
func securityFlags(fs *flag.FlagSet) *client.Security {
	sec := &client.Security{}
	fs.BoolVar(&sec.InsecureHTTP, "insecure-http", false, "allow a plain http:// server URL to a host that is not this machine")
	fs.StringVar(&sec.CAFile, "ca", "", "trust the CA certificates in `file` (PEM) for https://, instead of the system's")
	return sec
}

// parseFlags parses args as cliflags.Parse does, a bad flag being a usage
// error (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := cliflags.Parse(fs, fs.Name(), args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError(err.Error())
	}
	return err
}

// Files in the data directory, as gate/gatedir names them.
const (
	replicaFile    = gatedir.ReplicaFile
	credentialFile = gatedir.CredentialFile
)

// openReplica opens the replica in dir with the leeway given, and with
// the gate's key when the directory holds one (a gate enrolled before
// gate keys has none; docs/mesh.md).
func openReplica(dir string, leeway time.Duration) (*replica.Replica, error) {
	if leeway == 0 {
		leeway = -1 // replica.Options: negative means none
	}
	key, err := gatedir.OptionalKey(dir)
	if err != nil {
		return nil, err
	}
	return replica.Open(filepath.Join(dir, replicaFile), replica.Options{Leeway: leeway, Key: key})
}

// leewayFlag adds -leeway to fs.
func leewayFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("leeway", kido.DefaultLeeway, "accept tickets this long before the event starts and after it ends")
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
