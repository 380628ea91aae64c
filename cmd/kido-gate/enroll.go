package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"kido.dev/kido/gate/enrol"
	"kido.dev/kido/sync/wire"
)

const enrollUsage = `usage: kido-gate enroll -server URL -code CODE [-data DIR] [-ca FILE] [-insecure-http]

Registers this device as the gate the one-time CODE names (from kidoctl
gate add), stores its credential in DIR/credential (mode 0600), and
downloads the replica the gate decides with. The code carries the server's
fingerprint: a server that cannot prove it is the one that made the code is
refused.

If the download fails after the code was accepted, run enroll again with
-server and without -code: the stored credential is used.

Every answer the gate acts on is signed by the server it enrolled with,
and checked (docs/sync-protocol.md §13). Use https://: plain http:// to a
host other than this machine is refused unless -insecure-http is given
(then also to sync and run). -ca FILE trusts a private CA.

Example:

	kido-gate enroll -server https://tickets.example.org -code "1234 5678 9012 3456 7890 1234"

Flags:
`

func runEnroll(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("enroll", enrollUsage, stderr)
	server := fs.String("server", "", "kido server `URL`, e.g. https://tickets.example.org")
	code := fs.String("code", "", "one-time enrolment `code` from kidoctl gate add")
	device := fs.String("device", hostname(), "device `name` shown to operators")
	sec := securityFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q\nhint: quote the code: -code \"1234 5678 9012 3456 7890 1234\"", fs.Arg(0))
	}
	if *server == "" {
		return usageErrorf("-server is required\nhint: kido-gate enroll -server URL -code CODE")
	}
	start := time.Now()
	res, err := enrol.Gate(ctx, enrol.Config{Dir: *data, Server: *server, Code: *code, Device: *device, Security: *sec,
		Registered: func(e *wire.EnrollResponse) {
			fmt.Fprintf(stdout, "enrolled as gate %d %q of event %d (server %s, fingerprint %s)\n", e.Gate.ID, e.Gate.Name, e.Gate.Event, e.Server.ID, e.Server.Fingerprint)
		}})
	switch {
	case errors.Is(err, enrol.ErrEnrolled):
		return fmt.Errorf("%w\nhint: use another -data directory, or move this one aside to enrol again", err)
	case errors.Is(err, enrol.ErrCredentialHeld):
		return fmt.Errorf("%w\nhint: run enroll without -code to finish that enrolment, or use another -data directory", err)
	case errors.Is(err, enrol.ErrNeedCode):
		return usageErrorf("-code is required\nhint: get a code with kidoctl gate add -event E -name NAME")
	case errors.Is(err, enrol.ErrDownload):
		return fmt.Errorf("%w\nhint: the gate is enrolled; run kido-gate enroll -server %s -data %s again (without -code) to retry the download", err, *server, *data)
	case err != nil:
		return err
	}
	snap := res.Snapshot
	fmt.Fprintf(stdout, "replica ready: event %d %q, %d tickets, %d keys, %d admissions (%.1f s)\n",
		snap.Event.ID, snap.Event.Name, len(snap.Roster), len(snap.Keys), len(snap.Admissions), time.Since(start).Seconds())
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
