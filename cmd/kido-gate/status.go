package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/replica"
)

const statusUsage = `usage: kido-gate status [-data DIR] [-json] [-check]

Shows the gate's event and settings, what the replica holds, when it last
synced and the sync state (online, offline, refused or in conflict), how
many passages wait for upload, and whether the device clock can be
trusted. -check also verifies the replica's integrity (slower on a large
replica).

Example:

	kido-gate status -check

Flags:
`

// statusOut is status -json.
type statusOut struct {
	Event          uint32     `json:"event"`
	EventName      string     `json:"event_name"`
	Start          time.Time  `json:"start"`
	End            time.Time  `json:"end"`
	Gate           uint32     `json:"gate"`
	GateName       string     `json:"gate_name"`
	Direction      string     `json:"direction"`
	Tiers          []uint8    `json:"tiers,omitempty"`
	Server         string     `json:"server"`
	ServerURL      string     `json:"server_url"`
	Tickets        int        `json:"tickets"`
	Revoked        int        `json:"revoked"`
	Admitted       int        `json:"admitted"`
	Passages       int        `json:"passages"`
	Here           int        `json:"here"`
	Pending        int        `json:"pending"`        // own passages not yet uploaded
	PendingAudits  int        `json:"pending_audits"` // rejected scans not yet uploaded
	Scans          int        `json:"scans"`
	Rejected       int        `json:"rejected"`
	LastSync       *time.Time `json:"last_sync,omitempty"`
	ServerTime     *time.Time `json:"server_time,omitempty"`
	DeviceTime     time.Time  `json:"device_time"`
	TrustedTime    time.Time  `json:"trusted_time"`
	ClockBehindSec float64    `json:"clock_behind_seconds"`
	ClockState     string     `json:"clock_state"` // ok or behind
	Integrity      string     `json:"integrity,omitempty"`
	Version        string     `json:"version"`

	// Sync state, as the last sync (run or sync, this process or another)
	// left it in the replica.
	SyncState   string     `json:"sync_state"` // ok, offline, refused, conflict or never
	LastContact *time.Time `json:"last_contact,omitempty"`
	SyncError   string     `json:"sync_error,omitempty"` // why the last request did not reach the server
	Refused     string     `json:"refused,omitempty"`    // why the server refuses this gate's records
	Conflict    string     `json:"conflict,omitempty"`   // the server holds other records under this gate's seqs
	Acked       uint64     `json:"acked"`
	AuditAcked  uint64     `json:"audit_acked"`
	Conflicting int        `json:"conflicting"` // server records kept beside own ones of the same seq
}

func runStatus(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("status", statusUsage, stderr)
	asJSON := fs.Bool("json", false, "print a JSON object")
	check := fs.Bool("check", false, "verify the replica's integrity")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	r, err := openReplica(*data, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := r.Status(ctx)
	if err != nil {
		return err
	}
	out := newStatusOut(s)
	if *check {
		if err := r.Check(ctx); err != nil {
			return err
		}
		out.Integrity = "ok"
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	printStatus(stdout, out, s.Clock)
	return nil
}

func newStatusOut(s replica.Status) statusOut {
	out := statusOut{
		Event: s.Event.ID, EventName: s.Event.Name, Start: s.Event.Start, End: s.Event.End,
		Gate: s.Gate.ID, GateName: s.Gate.Name, Direction: s.Gate.Direction, Tiers: s.Gate.Tiers,
		Server: s.Server.ID, ServerURL: s.ServerURL, Tickets: s.Roster, Revoked: s.Revoked, Admitted: s.Admitted,
		Passages: s.Passages, Here: s.Own, Pending: s.Pending, PendingAudits: s.AuditsDue, Scans: s.Scans, Rejected: s.Rejected,
		DeviceTime: s.Clock.Device.UTC(), TrustedTime: s.Clock.Trusted.UTC(), ClockBehindSec: s.Clock.Behind.Seconds(),
		ClockState: "ok", Version: version,
	}
	if s.Clock.DeviceBehind() {
		out.ClockState = "behind"
	}
	if !s.LastSync.IsZero() {
		out.LastSync = &s.LastSync
	}
	if !s.ServerTime.IsZero() {
		out.ServerTime = &s.ServerTime
	}
	out.SyncError, out.Refused, out.Conflict = s.ContactError, s.Refused, s.Conflict
	out.Acked, out.AuditAcked, out.Conflicting = s.Acked, s.AuditAcked, s.Conflicting
	if !s.Contact.IsZero() {
		out.LastContact = &s.Contact
	}
	switch {
	case s.Conflict != "":
		out.SyncState = "conflict"
	case s.Refused != "":
		out.SyncState = "refused"
	case s.ContactError != "":
		out.SyncState = "offline"
	case s.Contact.IsZero():
		out.SyncState = "never"
	default:
		out.SyncState = "ok"
	}
	return out
}

func printStatus(w io.Writer, s statusOut, clock gate.Reading) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	tiers := "all tiers"
	if len(s.Tiers) > 0 {
		tiers = "tiers " + strings.Trim(fmt.Sprint(s.Tiers), "[]")
	}
	fmt.Fprintf(tw, "event\t%d %s, %s – %s\n", s.Event, s.EventName, s.Start.Local().Format("2006-01-02 15:04"), s.End.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(tw, "gate\t%d %s, direction %s, %s\n", s.Gate, s.GateName, s.Direction, tiers)
	fmt.Fprintf(tw, "server\t%s\n", s.ServerURL)
	fmt.Fprintf(tw, "tickets\t%d in the roster, %d revoked\n", s.Tickets, s.Revoked)
	fmt.Fprintf(tw, "admitted\t%d tickets; %d passages recorded, %d at this gate\n", s.Admitted, s.Passages, s.Here)
	fmt.Fprintf(tw, "pending\t%d passages and %d rejected scans not yet uploaded\n", s.Pending, s.PendingAudits)
	fmt.Fprintf(tw, "scans\t%d, %d rejected\n", s.Scans, s.Rejected)
	if s.LastSync != nil {
		fmt.Fprintf(tw, "last sync\t%s (%s ago)\n", s.LastSync.Local().Format("2006-01-02 15:04:05"), gate.Ago(clock.Trusted.Sub(*s.LastSync)))
	} else {
		fmt.Fprintf(tw, "last sync\tnever\n")
	}
	syncText := s.SyncState
	switch s.SyncState {
	case "ok":
		syncText = fmt.Sprintf("online at the last contact, %s ago", gate.Ago(clock.Trusted.Sub(*s.LastContact)))
	case "never":
		syncText = "no contact since enrolment (kido-gate run or kido-gate sync)"
	case "offline":
		syncText = "OFFLINE: " + s.SyncError
	case "refused":
		syncText = "SYNC REFUSED, call the operator: " + s.Refused
	case "conflict":
		syncText = "SYNC CONFLICT, call the operator: " + s.Conflict
	}
	fmt.Fprintf(tw, "sync\t%s\n", syncText)
	if s.Conflicting > 0 {
		fmt.Fprintf(tw, "\t%d admissions the server holds under this gate's own seqs with other content, kept beside ours\n", s.Conflicting)
	}
	state := "ok"
	if clock.DeviceBehind() {
		state = fmt.Sprintf("DEVICE CLOCK %s BEHIND the server's time; decisions use trusted time — set the device clock", gate.Ago(clock.Behind))
	}
	fmt.Fprintf(tw, "clock\tdevice %s, trusted %s: %s\n", clock.Device.Local().Format("2006-01-02 15:04:05"), clock.Trusted.Local().Format("2006-01-02 15:04:05"), state)
	if s.Integrity != "" {
		fmt.Fprintf(tw, "replica\tintegrity %s\n", s.Integrity)
	}
	tw.Flush()
}
