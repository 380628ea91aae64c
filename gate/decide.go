package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/ticket"
)

// RecentRetry is how long after an admission at this gate a repeat scan is
// described as a retry ("admitted here 4 s ago") rather than by its time.
const RecentRetry = 2 * time.Minute

// Config is what a gate knows about its event and itself: the part of the
// replica that changes only with a snapshot or a delta.
type Config struct {
	Event     kido.Event
	Gate      kido.Gate // this gate
	Tiers     map[uint8]kido.Tier
	GateNames map[uint32]string // every gate of the event, to name them
	Keyring   *ticket.Keyring
	Leeway    time.Duration // around the event window; see kido.DefaultLeeway
	Voids     []kido.Void   // operators' voids of revoked gates: the passages they cover do not count
	// Zone is where times are shown to staff: the event's time zone
	// (kido.Event.Location), the device's when the event names none; nil
	// is the device's.
	Zone *time.Location
}

// Input is one scan, or one manual admission, with what the replica knows
// about its ticket.
type Input struct {
	Ticket   *ticket.Ticket // the parsed ticket; nil when manual or unparseable
	ParseErr error          // why the text did not parse, when Ticket is nil and not Manual
	Manual   bool           // admission by staff without a scan (Serial names the ticket)
	Serial   uint32         // for Manual
	Reason   string         // for Manual: why staff admitted by hand (kido.HasReason), recorded with the admission
	Exit     bool           // the scan is an exit
	Now      time.Time      // trusted time, see Clock
	Roster   *kido.RosterEntry
	History  []kido.Passage // every passage of the ticket known to the replica, in any order
}

// A Decision is the verdict on one scan.
type Decision struct {
	Admit      bool   // open the gate: an entry, manual admission or exit is to be recorded
	Reason     Reason //
	Detail     string // what exactly failed, for the audit log and a curious operator
	Serial     uint32
	Tier       uint8
	TierName   string
	Holder     string
	OrderRef   string
	ReplacedBy uint32    // for Replaced: the serial of the ticket that replaced this one
	Kind       string    // the passage recorded when Admit, attempted otherwise
	At         time.Time // trusted time of the decision

	// For AlreadyUsed: the passage that makes this one too many (the
	// earliest entry, or for a retry the one just made here), whether it was
	// at this gate, and how long ago.
	Prior         *kido.Passage
	PriorGateName string
	Here          bool
	Ago           time.Duration

	Seq uint64 // per-gate sequence number of the recorded passage; set by the replica

	zone *time.Location // Config.Zone, for UsedText
}

// Decide applies the checks of the package doc in order and returns the
// first failure, or an admission. It reads nothing but cfg and in. in.Exit
// asks for an exit; the gate's direction says what is recorded
// (kido.Gate.Passage). An error is a request this gate cannot serve
// (an exit at an entry gate, wrapping kido.ErrDirection): nothing is to be
// recorded and the Decision's Reason is Fault.
func Decide(cfg *Config, in Input) (Decision, error) {
	d := Decision{At: in.Now}
	kind, err := cfg.Gate.Passage(in.Exit)
	if err != nil {
		d.Reason = Fault
		return d, err
	}
	d.Kind = kind
	exit := kind == kido.KindExit
	switch {
	case in.Manual:
		d.Serial, d.Kind = in.Serial, kido.KindManual
		if !cfg.Gate.Records(kido.KindManual) {
			d.Reason = Fault
			return d, fmt.Errorf("%w: %s is an exit gate and admits no one\nhint: admit at an entry gate", kido.ErrDirection, cfg.Gate.Name)
		}
		if in.Roster != nil {
			d.Tier = in.Roster.Tier
		}
	case in.Ticket == nil:
		d.Reason, d.Detail = Malformed, errText(in.ParseErr)
		return d, nil
	default:
		d.Serial, d.Tier = in.Ticket.Serial, in.Ticket.Tier
	}
	if in.Roster != nil {
		d.Holder, d.OrderRef = in.Roster.Holder, in.Roster.OrderRef
	}
	// A tier added after the last sync: its ticket is genuine (checked
	// below) and takes the default rule.
	rule := kido.RuleOf(cfg.Tiers, d.Tier)
	if t, ok := cfg.Tiers[d.Tier]; ok {
		d.TierName = t.Name
	} else {
		d.TierName = fmt.Sprintf("tier %d", d.Tier)
	}

	if t := in.Ticket; t != nil {
		if t.Event != cfg.Event.ID {
			d.Reason, d.Detail = WrongEvent, fmt.Sprintf("ticket is for event %d, this gate is for event %d", t.Event, cfg.Event.ID)
			return d, nil
		}
		if r, detail := verify(cfg.Keyring, t, in.Now); r != OK {
			d.Reason, d.Detail = r, detail
			return d, nil
		}
	}
	if in.Roster != nil && in.Roster.Revoked {
		if n := in.Roster.ReplacedBy; n != 0 {
			d.Reason, d.ReplacedBy, d.Detail = Replaced, n, fmt.Sprintf("serial %d was replaced by serial %d", d.Serial, n)
			return d, nil
		}
		d.Reason, d.Detail = Revoked, fmt.Sprintf("serial %d was revoked", d.Serial)
		return d, nil
	}
	// A retired tier's tickets admit no one (kidoctl tier retire); as
	// with the window, an exit is still recorded, since holders admitted
	// before the tier was retired leave like anyone else.
	if t, ok := cfg.Tiers[d.Tier]; ok && t.Retired && !exit {
		d.Reason, d.Detail = TierRetired, fmt.Sprintf("tier %s (%d) was retired", d.TierName, d.Tier)
		return d, nil
	}
	if !exit {
		switch cfg.Event.Window(in.Now, cfg.Leeway) {
		case -1:
			d.Reason, d.Detail = NotYetValid, fmt.Sprintf("event starts %s", cfg.Event.Start.Format(time.RFC3339))
			return d, nil
		case 1:
			d.Reason, d.Detail = Expired, fmt.Sprintf("event ended %s", cfg.Event.End.Format(time.RFC3339))
			return d, nil
		}
	}
	if !cfg.Gate.Takes(d.Tier) {
		d.Reason, d.Detail = WrongTier, fmt.Sprintf("tier %s (%d) is not taken at this gate", d.TierName, d.Tier)
		return d, nil
	}
	if exit {
		d.Admit, d.Reason = true, ExitRecorded
		return d, nil
	}
	// A passage an operator voided (a stolen gate's) never counts against
	// the holder (kido.Counted).
	if prior := refusing(rule, kido.Counted(in.History, cfg.Voids), cfg.Gate.ID, in.Now); prior != nil {
		d.Reason, d.Prior, d.zone = AlreadyUsed, prior, cfg.Zone
		d.PriorGateName = cfg.GateNames[prior.Gate]
		d.Here = prior.Gate == cfg.Gate.ID
		d.Ago = in.Now.Sub(prior.At)
		d.Detail = d.UsedText()
		return d, nil
	}
	d.Admit, d.Reason = true, OK
	return d, nil
}

// verify maps the keyring's verdicts to reasons; a key outside its validity
// is not yet valid or expired depending on which side of the window now is.
func verify(kr *ticket.Keyring, t *ticket.Ticket, now time.Time) (Reason, string) {
	if kr == nil {
		kr = &ticket.Keyring{}
	}
	err := kr.Verify(t, now)
	switch {
	case err == nil:
		return OK, ""
	case errors.Is(err, ticket.ErrUnknownKey):
		return UnknownKey, err.Error()
	case errors.Is(err, ticket.ErrKeyRevoked):
		return KeyRevoked, err.Error()
	case errors.Is(err, ticket.ErrKeyNotValid):
		if k, ok := kr.Lookup(t.KeyID); ok && !k.NotBefore.IsZero() && now.Before(k.NotBefore) {
			return NotYetValid, err.Error()
		}
		return Expired, err.Error()
	default:
		return BadSignature, err.Error()
	}
}

// refusing returns the passage that stops one more entry under the tier's
// entry rule (kido.EntryRule.Refusing), or nil when entry is allowed. A
// repeat moments after an entry here is a retry: it names that entry,
// unless the ticket is already past its rule (a double entry learned from
// other gates), where the earliest entry is what staff must see.
func refusing(rule kido.EntryRule, history []kido.Passage, here uint32, now time.Time) *kido.Passage {
	prior, entries := rule.Refusing(history)
	if prior == nil || rule == kido.EntriesUnlimited || len(entries) != int(rule) {
		return prior
	}
	if latest := entries[len(entries)-1]; latest.Gate == here && now.Sub(latest.At) < RecentRetry {
		return &latest
	}
	return prior
}

func errText(err error) string {
	if err == nil {
		return "no ticket"
	}
	return err.Error()
}

// UsedText says when and where the ticket was used: "admitted here 4 s ago"
// for a repeat at this gate, otherwise the gate and the time, at the
// venue's (Config.Zone).
func (d Decision) UsedText() string {
	if d.Prior == nil {
		return ""
	}
	verb := "admitted"
	if d.Prior.Kind == kido.KindManual {
		verb = "admitted manually"
	}
	if d.Here {
		return fmt.Sprintf("%s here %s ago", verb, Ago(d.Ago))
	}
	name := d.PriorGateName
	if name == "" {
		name = fmt.Sprintf("gate %d", d.Prior.Gate)
	}
	loc := d.zone
	if loc == nil {
		loc = time.Local
	}
	return fmt.Sprintf("%s at %s, %s (%s ago)", verb, name, d.Prior.At.In(loc).Format("15:04:05"), Ago(d.Ago))
}

// Ago writes a duration the way staff say it: "4 s", "3 min", "2 h 5 min".
func Ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// Message is the one line shown to staff under ADMIT or REJECT.
func (d Decision) Message() string {
	switch d.Reason {
	case AlreadyUsed:
		return "already used: " + d.UsedText()
	case Replaced:
		return fmt.Sprintf("replaced by serial %d", d.ReplacedBy)
	}
	return d.Reason.Text()
}

// A Recorder decides on scans and records each decision durably before
// returning it: the contract kido-gate's front ends (scan, run, admit) rely
// on. Package gate/replica implements it on SQLite.
type Recorder interface {
	// Scan decides on one scanned line; exit asks for an exit at a gate
	// that works both ways. A non-nil error is a fault: nothing was
	// recorded and the Decision's Reason is Fault.
	Scan(ctx context.Context, line Line, exit bool) (Decision, error)
	// Admit records a manual admission of a roster serial by staff, with
	// their reason (kido.HasReason); no reason is a fault wrapping
	// ErrNoReason.
	Admit(ctx context.Context, serial uint32, reason string) (Decision, error)
}
