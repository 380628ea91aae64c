package gate_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/internal/ruletest"
	"kido.dev/kido/ticket"
)

var now = time.Date(2027, 8, 1, 12, 0, 0, 0, time.UTC)

// config builds the gate.Config a replica would load from the fixture.
func config(f *gatetest.Fixture, gateID uint32) *gate.Config {
	s := f.Snapshot
	cfg := &gate.Config{Event: s.Event, Tiers: map[uint8]kido.Tier{}, GateNames: map[uint32]string{}, Keyring: &ticket.Keyring{}, Leeway: kido.DefaultLeeway}
	for _, t := range s.Tiers {
		cfg.Tiers[t.ID] = t
	}
	for _, g := range s.Gates {
		cfg.GateNames[g.ID] = g.Name
		if g.ID == gateID {
			cfg.Gate = g
		}
	}
	for _, k := range s.Keys {
		pub, err := ticket.ParsePublicKey(k.Public)
		if err != nil {
			panic(err)
		}
		cfg.Keyring.Add(ticket.Key{Public: pub, Event: k.Event, Revoked: k.Revoked})
	}
	return cfg
}

func parse(t *testing.T, text string) *ticket.Ticket {
	t.Helper()
	tk, err := ticket.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestDecide(t *testing.T) {
	f := gatetest.New(100, gatetest.GateBoth, now)
	ga, vip, staff := uint32(2), uint32(10), uint32(11)
	roster := func(serial uint32) *kido.RosterEntry {
		re := f.Snapshot.Roster[serial-1]
		return &re
	}
	entry := func(g uint32, seq uint64, ago time.Duration) kido.Passage {
		return kido.Passage{Gate: g, Seq: seq, Kind: kido.KindEntry, At: now.Add(-ago)}
	}
	exit := func(g uint32, seq uint64, ago time.Duration) kido.Passage {
		return kido.Passage{Gate: g, Seq: seq, Kind: kido.KindExit, At: now.Add(-ago)}
	}
	ev := f.Snapshot.Event
	venue := time.FixedZone("venue", 9*3600+30*60) // no device runs its tests at UTC+09:30
	tests := []struct {
		name     string
		gate     uint32
		in       gate.Input
		tweak    func(*gate.Config)
		want     gate.Reason
		wantKind string // recorded kind when admitted
		wantText string // in Message()
	}{
		{name: "ok single", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Roster: roster(ga)}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "ok not in roster yet", in: gate.Input{Ticket: parse(t, f.Ticket(5000))}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "malformed", in: gate.Input{ParseErr: ticket.ErrMalformed}, want: gate.Malformed},
		{name: "wrong event", in: gate.Input{Ticket: parse(t, gatetest.Sign(f.Key, ticket.Claims{Event: 8, Serial: 2, Tier: 1}))}, want: gate.WrongEvent},
		{name: "unknown key", in: gate.Input{Ticket: parse(t, gatetest.Sign(f.Other, ticket.Claims{Event: gatetest.EventID, Serial: 2, Tier: 1})), Roster: roster(ga)}, want: gate.UnknownKey},
		{name: "key revoked", in: gate.Input{Ticket: parse(t, gatetest.Sign(f.Revoked, ticket.Claims{Event: gatetest.EventID, Serial: 2, Tier: 1})), Roster: roster(ga)}, want: gate.KeyRevoked},
		{name: "bad signature", in: gate.Input{Ticket: parse(t, f.Forged(ga)), Roster: roster(ga)}, want: gate.BadSignature},
		{name: "ticket revoked", in: gate.Input{Ticket: parse(t, f.Ticket(gatetest.RevokedSerial)), Roster: roster(gatetest.RevokedSerial)}, want: gate.Revoked},
		{name: "revoked also at exit", gate: gatetest.GateExit, in: gate.Input{Ticket: parse(t, f.Ticket(gatetest.RevokedSerial)), Roster: roster(gatetest.RevokedSerial)}, want: gate.Revoked},
		{name: "before window", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Now: ev.Start.Add(-6 * time.Minute)}, want: gate.NotYetValid},
		{name: "inside leeway before", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Now: ev.Start.Add(-4 * time.Minute)}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "after window", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Now: ev.End.Add(6 * time.Minute)}, want: gate.Expired},
		{name: "inside leeway after", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Now: ev.End.Add(4 * time.Minute)}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "no leeway", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Now: ev.End.Add(time.Second)}, tweak: func(c *gate.Config) { c.Leeway = 0 }, want: gate.Expired},
		{name: "exit after window is recorded", gate: gatetest.GateExit, in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Exit: true, Now: ev.End.Add(time.Hour)}, want: gate.ExitRecorded, wantKind: kido.KindExit},
		{name: "key not yet valid", in: gate.Input{Ticket: parse(t, f.Ticket(ga))}, tweak: func(c *gate.Config) { setKeyWindow(c, f, now.Add(time.Hour), time.Time{}) }, want: gate.NotYetValid},
		{name: "key expired", in: gate.Input{Ticket: parse(t, f.Ticket(ga))}, tweak: func(c *gate.Config) { setKeyWindow(c, f, time.Time{}, now.Add(-time.Hour)) }, want: gate.Expired},
		{name: "wrong tier", gate: gatetest.GateEntry, in: gate.Input{Ticket: parse(t, f.Ticket(vip)), Roster: roster(vip)}, want: gate.WrongTier},
		{name: "right tier at tier gate", gate: gatetest.GateEntry, in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Roster: roster(ga)}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "single used elsewhere", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), History: []kido.Passage{entry(gatetest.GateEntry, 4, 10*time.Minute)}},
			want: gate.AlreadyUsed, wantText: "admitted at South"},
		{name: "single retry here", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), History: []kido.Passage{entry(gatetest.GateBoth, 9, 4*time.Second)}},
			want: gate.AlreadyUsed, wantText: "admitted here 4 s ago"},
		{name: "double entry learned by sync: earliest, not the retry here", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), History: []kido.Passage{entry(gatetest.GateBoth, 9, 4*time.Second), entry(gatetest.GateEntry, 3, 10*time.Second)}},
			want: gate.AlreadyUsed, wantText: "admitted at South"},
		{name: "single: exit does not refill", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), History: []kido.Passage{entry(2, 1, time.Hour), exit(3, 1, 30*time.Minute)}}, want: gate.AlreadyUsed},
		{name: "single: earliest named", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), History: []kido.Passage{entry(gatetest.GateBoth, 7, time.Hour), entry(gatetest.GateEntry, 3, 2*time.Hour)}},
			want: gate.AlreadyUsed, wantText: "admitted at South"},
		{name: "N: third of three", in: gate.Input{Ticket: parse(t, f.Ticket(vip)), History: []kido.Passage{entry(1, 1, time.Hour), entry(2, 1, 50*time.Minute)}}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "N: fourth of three", in: gate.Input{Ticket: parse(t, f.Ticket(vip)), History: []kido.Passage{entry(1, 1, time.Hour), entry(2, 1, 50*time.Minute), {Gate: 1, Seq: 2, Kind: kido.KindManual, At: now.Add(-40 * time.Minute)}}},
			want: gate.AlreadyUsed, wantText: "admitted here 1 h 0 min ago"},
		{name: "unlimited: first", in: gate.Input{Ticket: parse(t, f.Ticket(staff))}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "unlimited: inside", in: gate.Input{Ticket: parse(t, f.Ticket(staff)), History: []kido.Passage{entry(2, 1, time.Hour)}}, want: gate.AlreadyUsed, wantText: "admitted at South"},
		// The time of the first entry is the venue's, whatever the device's zone.
		{name: "used: time in the event's zone", in: gate.Input{Ticket: parse(t, f.Ticket(ga)), History: []kido.Passage{entry(2, 1, time.Hour)}},
			tweak: func(c *gate.Config) { c.Zone = venue }, want: gate.AlreadyUsed,
			wantText: "admitted at South, " + now.Add(-time.Hour).In(venue).Format("15:04:05") + " (1 h 0 min ago)"},
		{name: "unlimited: re-entry after exit", in: gate.Input{Ticket: parse(t, f.Ticket(staff)), History: []kido.Passage{entry(2, 1, time.Hour), exit(3, 1, 30*time.Minute)}}, want: gate.OK, wantKind: kido.KindEntry},
		{name: "unlimited: back inside", in: gate.Input{Ticket: parse(t, f.Ticket(staff)), History: []kido.Passage{exit(3, 2, 20*time.Minute), entry(2, 1, time.Hour), exit(3, 1, 30*time.Minute), entry(1, 5, 10*time.Minute)}},
			want: gate.AlreadyUsed, wantText: "admitted here 10 min ago"},
		{name: "exit gate records exit", gate: gatetest.GateExit, in: gate.Input{Ticket: parse(t, f.Ticket(ga)), Exit: true, History: []kido.Passage{entry(2, 1, time.Hour)}}, want: gate.ExitRecorded, wantKind: kido.KindExit},
		{name: "exit of a forged ticket", gate: gatetest.GateExit, in: gate.Input{Ticket: parse(t, f.Forged(ga)), Exit: true}, want: gate.BadSignature},
		{name: "manual", in: gate.Input{Manual: true, Serial: ga, Roster: roster(ga)}, want: gate.OK, wantKind: kido.KindManual},
		{name: "manual used", in: gate.Input{Manual: true, Serial: ga, Roster: roster(ga), History: []kido.Passage{entry(2, 1, time.Minute)}}, want: gate.AlreadyUsed},
		{name: "manual revoked", in: gate.Input{Manual: true, Serial: gatetest.RevokedSerial, Roster: roster(gatetest.RevokedSerial)}, want: gate.Revoked},
		{name: "unknown tier is single entry", in: gate.Input{Ticket: parse(t, gatetest.Sign(f.Key, ticket.Claims{Event: gatetest.EventID, Serial: 7000, Tier: 9})), History: []kido.Passage{entry(2, 1, time.Hour)}}, want: gate.AlreadyUsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.gate
			if g == 0 {
				g = gatetest.GateBoth
			}
			cfg := config(f, g)
			if tt.tweak != nil {
				tt.tweak(cfg)
			}
			in := tt.in
			if in.Now.IsZero() {
				in.Now = now
			}
			d, err := gate.Decide(cfg, in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Reason != tt.want {
				t.Fatalf("reason %s (%s), want %s", d.Reason, d.Detail, tt.want)
			}
			wantAdmit := tt.want == gate.OK || tt.want == gate.ExitRecorded
			if d.Admit != wantAdmit {
				t.Errorf("admit %v, want %v", d.Admit, wantAdmit)
			}
			if wantAdmit && d.Kind != tt.wantKind {
				t.Errorf("kind %q, want %q", d.Kind, tt.wantKind)
			}
			if !strings.Contains(d.Message(), tt.wantText) {
				t.Errorf("message %q, want it to contain %q", d.Message(), tt.wantText)
			}
			if !wantAdmit && d.Detail == "" {
				t.Errorf("reject without detail")
			}
		})
	}
}

func setKeyWindow(c *gate.Config, f *gatetest.Fixture, nb, na time.Time) {
	c.Keyring.Add(ticket.Key{Public: f.Key.Public(), Event: gatetest.EventID, NotBefore: nb, NotAfter: na})
}

func TestEveryReasonHasText(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range gate.Reasons {
		if r.Text() == string(r) || seen[r.Text()] {
			t.Errorf("reason %s has no distinct text", r)
		}
		seen[r.Text()] = true
	}
}

func TestAgo(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0 s"}, {4 * time.Second, "4 s"}, {3*time.Minute + 5*time.Second, "3 min"}, {2*time.Hour + 5*time.Minute, "2 h 5 min"}, {72 * time.Hour, "3 days"}} {
		if got := gate.Ago(tt.d); got != tt.want {
			t.Errorf("Ago(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestDecideFollowsRuleTable: the gate's decision on one more entry after
// each prefix of a ticket's passages is the shared table's verdict on that
// entry (internal/ruletest; the server's report is tested against it too).
func TestDecideFollowsRuleTable(t *testing.T) {
	f := gatetest.New(10, gatetest.GateBoth, now)
	for _, c := range ruletest.Cases {
		cfg := config(f, gatetest.GateBoth)
		cfg.Tiers = c.KnownTiers()
		for k, p := range c.Passages {
			if p.Kind == kido.KindExit {
				continue
			}
			// A manual admission reads the tier from the roster, so every
			// tier of the table is decided without a ticket signed for it.
			in := gate.Input{Manual: true, Serial: 1, Roster: &kido.RosterEntry{Serial: 1, Tier: c.Tier},
				History: c.Passages[:k], Now: now}
			d, err := gate.Decide(cfg, in)
			if err != nil {
				t.Fatal(err)
			}
			if want := c.Excess[k]; d.Admit == want || (want && d.Reason != gate.AlreadyUsed) {
				t.Errorf("%s: passage %d: %s (%s), want excess %v", c.Name, k, d.Reason, d.Detail, want)
			}
		}
	}
}

func TestDecideDirection(t *testing.T) {
	f := gatetest.New(10, gatetest.GateBoth, now)
	in := gate.Input{Ticket: parse(t, f.Ticket(2)), Exit: true, Now: now}
	d, err := gate.Decide(config(f, gatetest.GateEntry), in)
	if !errors.Is(err, kido.ErrDirection) || d.Admit || d.Reason != gate.Fault {
		t.Errorf("exit at an entry gate: %s, admit %v, %v; want fault and ErrDirection", d.Reason, d.Admit, err)
	}
	if d, err := gate.Decide(config(f, gatetest.GateExit), gate.Input{Ticket: in.Ticket, Now: now}); err != nil || d.Kind != kido.KindExit {
		t.Errorf("entry asked at an exit gate: kind %q, %v; want an exit", d.Kind, err)
	}
	// An exit-only gate admits no one, by hand either: the server would
	// hold such a manual admission as suspect (kido.Gate.Records).
	manual := gate.Input{Manual: true, Serial: 2, Reason: "phone battery dead", Now: now, Roster: &kido.RosterEntry{Serial: 2, Tier: 1}}
	d, err = gate.Decide(config(f, gatetest.GateExit), manual)
	if !errors.Is(err, kido.ErrDirection) || d.Admit || d.Reason != gate.Fault || !strings.Contains(err.Error(), "hint:") {
		t.Errorf("manual admission at an exit gate: %s, admit %v, %v; want fault, ErrDirection and a hint", d.Reason, d.Admit, err)
	}
	if d, err := gate.Decide(config(f, gatetest.GateEntry), manual); err != nil || !d.Admit || d.Kind != kido.KindManual {
		t.Errorf("manual admission at an entry gate: %s, %v; want admitted", d.Reason, err)
	}
}

// BenchmarkDecide is the pure decision on a ticket with two passages
// (signature check included); kido-bench's scan row measures it with the
// replica's commit around it.
func BenchmarkDecide(b *testing.B) {
	f := gatetest.New(10, gatetest.GateBoth, now)
	cfg := config(f, gatetest.GateBoth)
	tk, err := ticket.Parse(f.Ticket(10)) // VIP: three entries
	if err != nil {
		b.Fatal(err)
	}
	in := gate.Input{Ticket: tk, Now: now, History: []kido.Passage{
		{Gate: 2, Seq: 1, Kind: kido.KindEntry, At: now.Add(-time.Hour)},
		{Gate: 3, Seq: 1, Kind: kido.KindExit, At: now.Add(-30 * time.Minute)},
	}}
	for b.Loop() {
		if d, err := gate.Decide(cfg, in); err != nil || !d.Admit {
			b.Fatalf("%s %v", d.Reason, err)
		}
	}
}
