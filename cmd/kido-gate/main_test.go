package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kido-gate": func() {
			ctx := context.Background()
			os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr), os.Stderr))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fixture":    cmdFixture,
			"writelines": cmdWriteLines,
			"ticketpng":  cmdTicketPNG,
			"lock":       cmdLock,
		},
	})
}

// fixture DIR GATE N [DAYS]: a replica for gate GATE of the fabricated event
// with N tickets in DIR, as kido-gate enroll would leave it; DAYS shifts the
// server time into the future (a device clock that is behind). Sets T<serial>
// for serials 1..20 and FORGED, OTHEREVENT, UNKNOWNKEY, KEYREVOKED.
func cmdFixture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: fixture DIR GATE N [DAYS]")
	}
	dir := ts.MkAbs(args[0])
	gateID, _ := strconv.Atoi(args[1])
	n, _ := strconv.Atoi(args[2])
	f := gatetest.New(n, uint32(gateID), time.Now())
	if len(args) > 3 {
		days, _ := strconv.Atoi(args[3])
		f.Snapshot.ServerTime = f.Snapshot.ServerTime.Add(time.Duration(days) * 24 * time.Hour)
	}
	ts.Check(os.MkdirAll(dir, 0o700))
	ts.Check(writeReplica(dir, f, "http://127.0.0.1:8700"))
	for s := uint32(1); s <= 20; s++ {
		ts.Setenv(fmt.Sprintf("T%d", s), f.Ticket(s))
	}
	c := ticket.Claims{Event: gatetest.EventID, Serial: 4, Tier: gatetest.TierGA}
	ts.Setenv("FORGED", f.Forged(4))
	ts.Setenv("UNKNOWNKEY", gatetest.Sign(f.Other, c))
	ts.Setenv("KEYREVOKED", gatetest.Sign(f.Revoked, c))
	c.Event = gatetest.EventID + 1
	ts.Setenv("OTHEREVENT", gatetest.Sign(f.Key, c))
}

// writeReplica writes the replica of f's event into the gate directory
// dir, as kido-gate enroll with serverURL would leave it (no credential).
func writeReplica(dir string, f *gatetest.Fixture, serverURL string) error {
	r, err := replica.Create(filepath.Join(dir, replicaFile), replica.Options{})
	if err != nil {
		return err
	}
	if err := r.Apply(context.Background(), &f.Snapshot, serverURL); err != nil {
		r.Close()
		return err
	}
	return r.Close()
}

// writelines FILE LINE…: writes the lines as a scanner on a badly set up
// terminal would: a byte-order mark first, CRLF endings and stray spaces.
// A LINE of BIG stands for a 10 MB line of digits.
func cmdWriteLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: writelines FILE LINE…")
	}
	var b strings.Builder
	b.WriteString("\uFEFF")
	for _, l := range args[1:] {
		if l == "BIG" {
			l = strings.Repeat("7", 10<<20)
		}
		b.WriteString(" " + l + " \r\n")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o600))
}

// ticketpng FILE TEXT: renders TEXT as a QR code PNG.
func cmdTicketPNG(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: ticketpng FILE TEXT")
	}
	png, err := qr.Render(args[1])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), png, 0o600))
}

// lock DB: holds the write lock of the SQLite database DB until the script
// ends, as another process stuck in a transaction would.
func cmdLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lock DB")
	}
	db, err := sql.Open("sqlite3", "file:"+ts.MkAbs(args[0])+"?_txlock=immediate")
	ts.Check(err)
	tx, err := db.Begin()
	ts.Check(err)
	ts.Defer(func() {
		tx.Rollback()
		db.Close()
	})
}

// TestUsageExitStatus: every usage error, of the binary or of a
// subcommand, exits 2 with one error line and one hint; -h exits 0.
func TestUsageExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"bogus"}, exitUsage},
		{[]string{"sync", "-bogus"}, exitUsage},
		{[]string{"scan", "-leeway", "x"}, exitUsage},
		{[]string{"doctor", "extra"}, exitUsage},
		{[]string{"sync", "-h"}, exitOK},
		{[]string{"-h"}, exitOK},
	} {
		var stdout, stderr bytes.Buffer
		got := exitCode(run(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr), &stderr)
		if got != tc.want {
			t.Errorf("kido-gate %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), got, tc.want, stderr.String())
		}
		if lines := strings.Count(stderr.String(), "\n"); tc.want == exitUsage && (lines != 2 || !strings.Contains(stderr.String(), "\nhint: ")) {
			t.Errorf("kido-gate %s said %d lines, want an error and a hint:\n%s", strings.Join(tc.args, " "), lines, stderr.String())
		}
	}
}

// TestUsageLineShowsSecurityFlags: every command that talks to the server
// takes -ca and -insecure-http, and its usage line says so.
func TestUsageLineShowsSecurityFlags(t *testing.T) {
	for _, c := range commands {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{c.name, "-h"}, strings.NewReader(""), &stdout, &stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("kido-gate %s -h: %v", c.name, err)
		}
		help := stderr.String()
		if !strings.Contains(help, "\n  -ca file\n") {
			continue
		}
		synopsis, _, _ := strings.Cut(help, "\n\n")
		if !strings.Contains(synopsis, "[-ca FILE]") || !strings.Contains(synopsis, "[-insecure-http]") {
			t.Errorf("kido-gate %s takes -ca and -insecure-http; its usage line does not say so:\n%s", c.name, synopsis)
		}
	}
}
