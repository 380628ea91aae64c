package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"kido.dev/kido/cmd/internal/manifest"
)

// print writes what the demo made and the steps to try, each command on
// its own line indented by four spaces, ready to copy into a shell (no
// trailing comments: zsh does not take them by default).
func (w *demoWorld) print(out io.Writer) {
	gateCmd, ctl := toolCommand("kido-gate"), toolCommand("kidoctl")
	ev := w.event
	t1, t2 := w.tickets[0], w.tickets[1]
	img := func(serial uint32) string {
		return shellQuote(filepath.Join(w.ticketsDir, manifest.ImageName(ev.ID, serial)))
	}
	g1, g2 := shellQuote(w.gateDirs[0]), shellQuote(w.gateDirs[1])
	tierName := func(id uint8) string {
		for _, t := range w.tiers {
			if t.ID == id {
				return t.Name
			}
		}
		return fmt.Sprint(id)
	}
	var tiers []string
	for _, t := range w.tiers {
		tiers = append(tiers, t.Name+" (single entry)")
	}
	const day = "2006-01-02 15:04"
	p := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	cmd := func(s string) { p("    %s", s) }

	p("kido demo is running: server %s, embedded SQLite in %s, log in %s", w.url, filepath.Join(w.dir, "server"), w.log)
	p("")
	p("  event    %d %q at %s, %s to %s %s: tickets are valid now", ev.ID, ev.Name, ev.Venue, ev.Start.Format(day), ev.End.Format(day), ev.TimeZone)
	p("  tiers    %s", strings.Join(tiers, ", "))
	p("  tickets  %d, as QR images with manifest.csv in %s", len(w.tickets), w.ticketsDir)
	p("  gates    gate %d %q in %s and gate %d %q in %s, enrolled, each with its replica",
		w.gates[0].ID, w.gates[0].Name, w.gateDirs[0], w.gates[1].ID, w.gates[1].Name, w.gateDirs[1])
	p("")
	p("Try it in another terminal, in this directory:")
	p("")
	p("1. Point kidoctl at the demo server (the token is a promoter token for event %d):", ev.ID)
	p("")
	cmd(fmt.Sprintf("export KIDO_SERVER=%s KIDO_TOKEN=%s", w.url, w.token))
	p("")
	p("2. Scan ticket %d (%s, %s) at gate 1 from its QR image: ADMIT. Then sync", t1.Serial, tierName(t1.Tier), t1.Holder)
	p("   gate 1, so that the server knows.")
	p("")
	cmd(fmt.Sprintf("%s scan -data %s -image %s", gateCmd, g1, img(t1.Serial)))
	cmd(fmt.Sprintf("%s sync -data %s", gateCmd, g1))
	p("")
	p("3. Gate 2 is cut off: nothing syncs it until step 4, as if its network were")
	p("   down. kido-gate scan never uses the network; it decides from the gate's")
	p("   own replica, which has not heard of gate 1's admission. Scan the same")
	p("   ticket at gate 2: ADMIT, because it cannot know.")
	p("")
	cmd(fmt.Sprintf("%s scan -data %s -image %s", gateCmd, g2, img(t1.Serial)))
	p("")
	p("4. The network is back: gate 2 syncs and uploads its admission. The server")
	p("   keeps both and reports ticket %d as a double entry, with both records:", t1.Serial)
	p("")
	cmd(fmt.Sprintf("%s sync -data %s", gateCmd, g2))
	cmd(fmt.Sprintf("%s report -event %d", ctl, ev.ID))
	cmd(fmt.Sprintf("%s conflicts -event %d", ctl, ev.ID))
	p("")
	p("5. Gates in touch learn each other's admissions: ticket %d is admitted at", t2.Serial)
	p("   gate 1, both gates sync, and gate 2 REJECTs it as already used.")
	p("")
	cmd(fmt.Sprintf("%s scan -data %s -image %s", gateCmd, g1, img(t2.Serial)))
	cmd(fmt.Sprintf("%s sync -data %s", gateCmd, g1))
	cmd(fmt.Sprintf("%s sync -data %s", gateCmd, g2))
	cmd(fmt.Sprintf("%s scan -data %s -image %s", gateCmd, g2, img(t2.Serial)))
	p("")
	p("More: %s run -data %s is the attended screen with background sync;", gateCmd, g1)
	p("paste a ticket's text from %s into it.", filepath.Join(w.ticketsDir, manifest.Issued))
	p("")
	p("Press Ctrl-C here to stop the server and remove %s.", w.dir)
}

// toolCommand says how to run another kido binary: the one beside this
// executable if there is one (installed or built together), else go run
// when in the source tree (this one was started by go run), else by name.
func toolCommand(name string) string {
	if exe, err := os.Executable(); err == nil {
		sibling := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(sibling); err == nil {
			if p, err := exec.LookPath(name); err == nil && p == sibling {
				return name
			}
			return shellQuote(sibling)
		}
	}
	if _, err := os.Stat(filepath.Join("cmd", name, "main.go")); err == nil {
		return "go run ./cmd/" + name
	}
	return name
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:=@%+,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
