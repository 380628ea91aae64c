package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"kido.dev/kido/gate"
)

const runUsage = `usage: kido-gate run [-data DIR] [-exit] [-plain]

Attended mode for staff: reads what the scanner types (one ticket per
line) and shows a big, coloured ADMIT, EXIT or REJECT with the reason and
the holder, ringing the terminal bell on every reject. Each decision is on
disk before it is shown. End with Ctrl-D or Ctrl-C.

Example:

	kido-gate run -data /var/lib/kido-gate

Flags:
`

func runAttended(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("run", runUsage, stderr)
	exit := fs.Bool("exit", false, "record exits (at a gate whose direction is both)")
	plain := fs.Bool("plain", false, "no colours (for terminals without ANSI support)")
	leeway := leewayFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	r, err := openReplica(*data, *leeway)
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Status(ctx)
	if err != nil {
		return err
	}
	mode := "entry"
	if st.Gate.Direction == "exit" || *exit {
		mode = "exit"
	}
	fmt.Fprintf(stdout, "kido-gate %s: %s, gate %s (%s); %d tickets, %d pending upload. Scan a ticket.\n",
		version, st.Event.Name, st.Gate.Name, mode, st.Roster, st.Pending)
	if st.Clock.DeviceBehind() {
		fmt.Fprintf(stdout, "warning: the device clock is %s behind; decisions use trusted time\n", gate.Ago(st.Clock.Behind))
	}
	return eachLine(ctx, stdin, func(ctx context.Context, l gate.Line) error {
		d, err := r.Scan(ctx, l, *exit)
		if err != nil && d.Reason != gate.Fault {
			return err
		}
		banner(stdout, newResult(d, err), !*plain)
		return nil
	})
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
