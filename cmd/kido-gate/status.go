package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	_ "time/tzdata" // a gate device may have no zone database, and status shows the venue's time

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/evtime"
	"kido.dev/kido/cmd/internal/plural"
	"kido.dev/kido/cmd/internal/termtable"
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
	TimeZone       string     `json:"time_zone,omitempty"` // the venue's IANA zone, when the event names one
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
		return usageErrorf("unexpected argument %q\nhint: kido-gate status takes only flags; kido-gate status -h shows them", fs.Arg(0))
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
	return printStatus(stdout, out, s.Clock)
}

func newStatusOut(s replica.Status) statusOut {
	out := statusOut{
		Event: s.Event.ID, EventName: s.Event.Name, Start: s.Event.Start, End: s.Event.End, TimeZone: s.Event.TimeZone,
		Gate: s.Gate.ID, GateName: s.Gate.Name, Direction: string(s.Gate.Direction), Tiers: s.Gate.Tiers,
		Server: s.Server.ID, ServerURL: s.ServerURL, Tickets: s.Roster, Revoked: s.Revoked, Admitted: s.Admitted,
		Passages: s.Passages, Here: s.Own, Pending: s.Pending, PendingAudits: s.AuditsDue, Scans: s.Scans, Rejected: s.Rejected,
		DeviceTime: s.Clock.Device.UTC(), TrustedTime: s.Clock.Trusted.UTC(), ClockBehindSec: s.Clock.Behind.Seconds(),
		ClockState: "ok", Version: version,
	}
	if loc, venue := eventZone(s.Event.TimeZone, time.UTC); venue {
		out.Start, out.End = out.Start.In(loc), out.End.In(loc) // with the venue's offset, as the server gave them
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

func printStatus(w io.Writer, s statusOut, clock kido.Reading) error {
	tiers := "all tiers"
	if len(s.Tiers) > 0 {
		tiers = "tiers " + strings.Trim(fmt.Sprint(s.Tiers), "[]")
	}
	rows := [][]string{
		{"event", fmt.Sprintf("%d %s, %s", s.Event, s.EventName, eventWindow(s.Start, s.End, s.TimeZone, time.Local))},
		{"gate", fmt.Sprintf("%d %s, direction %s, %s", s.Gate, s.GateName, s.Direction, tiers)},
		{"server", s.ServerURL},
		{"tickets", fmt.Sprintf("%d in the roster, %d revoked", s.Tickets, s.Revoked)},
		{"admitted", fmt.Sprintf("%s; %s recorded, %d at this gate", plural.Count(s.Admitted, "ticket", "tickets"), plural.Count(s.Passages, "passage", "passages"), s.Here)},
		{"pending", fmt.Sprintf("%s and %s not yet uploaded", plural.Count(s.Pending, "passage", "passages"), plural.Count(s.PendingAudits, "rejected scan", "rejected scans"))},
		{"scans", fmt.Sprintf("%d, %d rejected", s.Scans, s.Rejected)},
	}
	zone := evtime.Of(kido.Event{TimeZone: s.TimeZone, Start: s.Start}, time.Local)
	if s.LastSync != nil {
		rows = append(rows, []string{"last sync", fmt.Sprintf("%s (%s ago)", zone.Stamp(*s.LastSync), gate.Ago(clock.Trusted.Sub(*s.LastSync)))})
	} else {
		rows = append(rows, []string{"last sync", "never"})
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
	rows = append(rows, []string{"sync", syncText})
	if s.Conflicting > 0 {
		rows = append(rows, []string{"", fmt.Sprintf("%d admissions the server holds under this gate's own seqs with other content, kept beside ours", s.Conflicting)})
	}
	state := "ok"
	if clock.DeviceBehind() {
		state = fmt.Sprintf("DEVICE CLOCK %s BEHIND the server's time; decisions use trusted time — set the device clock", gate.Ago(clock.Behind))
	}
	rows = append(rows, []string{"clock", fmt.Sprintf("device %s, trusted %s: %s", zone.Stamp(clock.Device), zone.Stamp(clock.Trusted), state)})
	if s.Integrity != "" {
		rows = append(rows, []string{"replica", "integrity " + s.Integrity})
	}
	return termtable.Write(w, rows)
}

// eventZone is where the event's times are shown: the venue's time zone
// when the event names one, else the device's. The replica keeps instants,
// not the offset they were given with, so the zone name is all there is.
func eventZone(name string, device *time.Location) (loc *time.Location, venue bool) {
	z := evtime.Of(kido.Event{TimeZone: name}, device)
	return z.Loc, name != "" && z.Label == name
}

// eventWindow shows when the event runs, in the venue's time zone when the
// event names one, and says which zone that is: staff compare it with the
// clock on the wall.
func eventWindow(start, end time.Time, zone string, device *time.Location) string {
	loc, venue := eventZone(zone, device)
	start, end = start.In(loc), end.In(loc)
	const layout = "2006-01-02 15:04"
	label := "device time"
	if venue {
		label = loc.String() + " time"
	}
	return fmt.Sprintf("%s – %s %s (%s)", start.Format(layout), end.Format(layout), label, evtime.Offset(start))
}
