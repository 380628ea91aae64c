package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"kido.dev/kido/cmd/internal/dirlock"
	"kido.dev/kido/cmd/internal/evtime"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/syncer"
)

const runUsage = `usage: kido-gate run [-data DIR] [-exit] [-plain] [-offline] [-mesh ADDR|off] [-peer ADDR]... [-ca FILE] [-insecure-http]

The terminal mode. For venue staff, kido-gate serve is the gate app: a
full-screen page in a kiosk browser with camera, search, manual admission
and a PIN lock (docs/staff-guide.md). run suits a technician's terminal.

Attended mode: reads what the scanner types (one ticket per
line) and shows a big, coloured ADMIT, EXIT or REJECT with the reason and
the holder, ringing the terminal bell on every reject. Each decision is on
disk before it is shown. End with Ctrl-D or Ctrl-C.

Meanwhile it syncs with the server in the background (unless -offline)
and shows a line whenever the sync state changes: connecting (before the
first request), online or OFFLINE, how many records wait for upload, and
the last sync. Records scanned by other kido-gate processes on this data
directory are uploaded at once too. Scanning never waits for the network.

It also joins the venue mesh (docs/mesh.md): it listens for the event's
other gates at -mesh (default :8711, every interface), learns their
addresses from the server and from -peer, and exchanges admissions with
them directly, server or not, so a ticket admitted here is rejected at
the next gate. -mesh off leaves the mesh.

One run at a time per data directory: a second one refuses to start.
kido-gate scan, admit and status work beside it.

Example:

	kido-gate run -data /var/lib/kido-gate

Flags:
`

func runAttended(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("run", runUsage, stderr)
	exit := fs.Bool("exit", false, "record exits (at a gate whose direction is both)")
	plain := fs.Bool("plain", false, "no colours (for terminals without ANSI support)")
	offline := fs.Bool("offline", false, "do not sync; scan with the replica as it is")
	mf := addMeshFlags(fs)
	sec := securityFlags(fs)
	leeway := leewayFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if err := mf.check(); err != nil {
		return err
	}
	r, err := openReplica(*data, *leeway)
	if err != nil {
		return err
	}
	defer r.Close()
	// Two runs on one gate would each sync and show their own state; other
	// commands stay allowed beside run (SQLite orders their writes).
	lock, err := dirlock.Acquire(*data, fmt.Sprintf("kido-gate run, pid %d", os.Getpid()))
	if errors.As(err, new(*dirlock.HeldError)) {
		return fmt.Errorf("%w\nhint: one kido-gate run per gate: use the one running, or stop it first; kido-gate scan, admit and status work beside it", err)
	} else if err != nil {
		return err
	}
	defer lock.Release()
	st, err := r.Status(ctx)
	if err != nil {
		return err
	}
	// Every scan would fault on this setting: refuse at start, with the
	// direction policy's own message, as scan -exit gets it.
	kind, err := st.Gate.Passage(*exit)
	if err != nil {
		return err
	}
	out := &lockedWriter{w: stdout}
	zone := evtime.Of(st.Event, time.Local)
	mode := kind
	fmt.Fprintf(out, "kido-gate %s: %s, gate %s (%s); %d tickets, %d pending upload. Scan a ticket.\n",
		version, st.Event.Name, st.Gate.Name, mode, st.Roster, st.Pending)
	if st.Clock.DeviceBehind() {
		fmt.Fprintf(out, "warning: the device clock is %s behind; decisions use trusted time\n", gate.Ago(st.Clock.Behind))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m, err := startMesh(ctx, r, mf, out)
	if err != nil {
		return err
	}
	defer func() { cancel(); m.wait() }()
	var (
		shownMu sync.Mutex // both sync loops call back, each from its own goroutine
		shown   string
	)
	bs, off, err := startSync(ctx, cancel, *data, r, *sec, *offline, m, func(st syncer.Status) {
		shownMu.Lock()
		defer shownMu.Unlock()
		if line := syncLine(st); line != shown {
			shown = line
			last := "never"
			if !st.LastSync.IsZero() {
				last = zone.Clock(st.LastSync)
			}
			fmt.Fprintf(out, "%s (last sync %s)\n", line, last)
		}
	})
	if err != nil {
		return err
	}
	if off != "" {
		fmt.Fprintln(out, off)
	} else {
		fmt.Fprintf(out, "sync: with %s, %d records pending\n", st.ServerURL, st.Pending+st.AuditsDue)
	}
	err = eachLine(ctx, stdin, func(ctx context.Context, l gate.Line) error {
		d, err := r.Scan(ctx, l, *exit)
		if err != nil && d.Reason != gate.Fault {
			return err
		}
		bs.nudge()
		m.poke()
		banner(out, newResult(d, err), !*plain)
		return nil
	})
	cancel()
	if serr := bs.wait(out); serr != nil {
		return serr
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C
	}
	return err
}

// syncLine is the line run shows for a sync state, without times: a
// line is shown when this text changes, not at every poll.
func syncLine(st syncer.Status) string {
	state := "online"
	switch {
	case st.Connecting():
		state = "connecting"
	case !st.Online:
		state = "OFFLINE"
	}
	line := fmt.Sprintf("sync: %s, %d pending", state, st.Pending)
	switch {
	case st.Revoked:
		return "sync: REVOKED by the operator"
	case st.Refused != "":
		line += "; SYNC REFUSED, call the operator: " + st.Refused
	case !st.Online && st.Error != "":
		line += "; " + st.Error
	}
	if st.Conflict {
		line += "; SYNC CONFLICT, call the operator"
	}
	return line
}

// lockedWriter serialises writes from the scan loop and the sync loops,
// so that a status line never lands inside a banner.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// banner shows a decision so that it can be read from a few steps away.
func banner(w io.Writer, r result, color bool) {
	word, bg := "REJECT", "\x1b[41;97;1m" // white on red
	if r.Decision == "admit" {
		word, bg = "ADMIT", "\x1b[42;30;1m" // black on green
		if r.Kind == "exit" {
			word, bg = "EXIT", "\x1b[44;97;1m" // white on blue
		}
	}
	reset := "\x1b[0m"
	if !color {
		bg, reset = "", ""
	}
	var b strings.Builder
	if r.Decision != "admit" {
		b.WriteByte('\a')
	}
	rows := bigText(word)
	width := len([]rune(rows[0])) + 4
	blank := strings.Repeat(" ", width)
	fmt.Fprintf(&b, "%s%s%s\n", bg, blank, reset)
	for _, row := range rows {
		fmt.Fprintf(&b, "%s  %s  %s\n", bg, row, reset)
	}
	fmt.Fprintf(&b, "%s%s%s\n", bg, blank, reset)
	fmt.Fprintf(&b, "  %s\n", strings.ToUpper(r.Message[:1])+r.Message[1:])
	if r.Serial != 0 {
		fmt.Fprintf(&b, "  serial %d · %s · %s\n", r.Serial, r.TierName, r.Holder)
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// font holds five-row block letters for the words banner shows.
var font = map[rune][5]string{
	'A': {" ### ", "#   #", "#####", "#   #", "#   #"},
	'C': {" ####", "#    ", "#    ", "#    ", " ####"},
	'D': {"#### ", "#   #", "#   #", "#   #", "#### "},
	'E': {"#####", "#    ", "#### ", "#    ", "#####"},
	'I': {"#####", "  #  ", "  #  ", "  #  ", "#####"},
	'J': {"#####", "   # ", "   # ", "#  # ", " ##  "},
	'M': {"#   #", "## ##", "# # #", "#   #", "#   #"},
	'R': {"#### ", "#   #", "#### ", "#  # ", "#   #"},
	'T': {"#####", "  #  ", "  #  ", "  #  ", "  #  "},
	'X': {"#   #", " # # ", "  #  ", " # # ", "#   #"},
}

func bigText(word string) [5]string {
	var rows [5]string
	for i, c := range word {
		g := font[c]
		for row := range rows {
			if i > 0 {
				rows[row] += "  "
			}
			rows[row] += strings.ReplaceAll(g[row], "#", "█")
		}
	}
	return rows
}
