// Package gatetest fabricates what a gate receives from a server, signed
// with a test key, so that gate tests, CLI scripts and benchmarks need no
// server: a snapshot with an event, tiers of every entry rule, gates of every
// direction and a roster, and the tickets that go with it; and a Bell for
// tests that wait on a signal.
//
// It is for tests and benchmarks only; its keys are derived from fixed seeds.
package gatetest

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// The fabricated event and its parts.
const (
	EventID = 7

	TierGA    = 1 // single entry
	TierVIP   = 2 // three entries
	TierStaff = 3 // unlimited, re-entry after exit

	GateBoth  = 1 // "North 1": entry and exit, every tier
	GateEntry = 2 // "South": entry only, GA only
	GateExit  = 3 // "East exit": exit only

	RevokedSerial = 13 // a revoked ticket in every roster
)

// Holders cycle through the roster; the Japanese ones exercise width and
// case folding in search.
var Holders = []string{"佐藤 花子", "ﾀﾅｶ ｼﾞﾛｳ", "Zoë Martin", "ＹＡＭＡＤＡ Ｔａｒｏ", "Jean Dupont", "鈴木 一郎"}

// A Fixture is a fabricated event: the snapshot a gate would download and
// the keys that sign its tickets.
type Fixture struct {
	Key      ticket.PrivateKey // the event's signing key
	Other    ticket.PrivateKey // a key no gate trusts
	Revoked  ticket.PrivateKey // a trusted key that was revoked
	Identity ticket.PrivateKey // the server identity key: signs snapshots and feed answers
	Snapshot wire.Snapshot
}

// New returns a fixture whose roster holds serials 1..n, for the gate with
// id gateID, with the event running from an hour before now to a day after.
func New(n int, gateID uint32, now time.Time) *Fixture {
	key := seededKey(1)
	other := seededKey(2)
	revoked := seededKey(3)
	start, end := now.Add(-time.Hour).UTC(), now.Add(24*time.Hour).UTC()
	gates := []kido.Gate{
		{ID: GateBoth, Event: EventID, Name: "North 1", Direction: kido.DirectionBoth},
		{ID: GateEntry, Event: EventID, Name: "South", Tiers: []uint8{TierGA}, Direction: kido.DirectionEntry},
		{ID: GateExit, Event: EventID, Name: "East exit", Direction: kido.DirectionExit},
	}
	var self kido.Gate
	for _, g := range gates {
		if g.ID == gateID {
			self = g
		}
	}
	identity := seededKey(9)
	f := &Fixture{Key: key, Other: other, Revoked: revoked, Identity: identity}
	f.Snapshot = wire.Snapshot{
		Server: wire.Server{ID: identity.Public().String(), Fingerprint: wire.Fingerprint(identity.Public().Bytes()), Version: "test"},
		Event:  kido.Event{ID: EventID, Name: "Summer Fes", Venue: "Makuhari Messe", Start: start, End: end, TimeZone: "Asia/Tokyo"},
		Tiers: []kido.Tier{
			{ID: TierGA, Event: EventID, Name: "GA", Entries: kido.EntriesSingle},
			{ID: TierVIP, Event: EventID, Name: "VIP", Entries: 3},
			{ID: TierStaff, Event: EventID, Name: "Staff", Entries: kido.EntriesUnlimited},
		},
		Keys: []kido.Key{
			{ID: key.Public().ID().String(), Public: key.Public().String(), Event: EventID, Current: true, Created: start},
			{ID: revoked.Public().ID().String(), Public: revoked.Public().String(), Event: EventID, Revoked: true, Created: start},
		},
		Gate:       self,
		Gates:      gates,
		Cursor:     "c0",
		ServerTime: now.UTC(),
	}
	f.Snapshot.Roster = make([]kido.RosterEntry, 0, n)
	for s := 1; s <= n; s++ {
		f.Snapshot.Roster = append(f.Snapshot.Roster, kido.RosterEntry{
			Serial:   uint32(s),
			Tier:     TierOf(uint32(s)),
			Holder:   fmt.Sprintf("%s %d", Holders[s%len(Holders)], s),
			OrderRef: fmt.Sprintf("ORD-%06d", s),
			Revoked:  s == RevokedSerial,
		})
	}
	return f
}

// TierOf returns the tier of a roster serial: every tenth is VIP, every
// tenth plus one Staff, the rest GA.
func TierOf(serial uint32) uint8 {
	switch serial % 10 {
	case 0:
		return TierVIP
	case 1:
		return TierStaff
	}
	return TierGA
}

// Ticket returns the text of the genuine ticket for serial.
func (f *Fixture) Ticket(serial uint32) string {
	return ticket.Sign(f.Key, ticket.Claims{Event: EventID, Serial: serial, Tier: TierOf(serial)}).String()
}

// Sign returns the text of a ticket with the given claims signed by key.
func Sign(key ticket.PrivateKey, c ticket.Claims) string {
	return ticket.Sign(key, c).String()
}

// Forged returns serial's ticket with one signature byte flipped.
func (f *Fixture) Forged(serial uint32) string {
	t := ticket.Sign(f.Key, ticket.Claims{Event: EventID, Serial: serial, Tier: TierOf(serial)})
	t.Signature[7] ^= 0x40
	return t.String()
}

// Admissions fabricates n entry admissions at gate 99 (a gate that is not
// this fixture's), for serials n+1, n+2, … beyond the roster, so that a
// benchmark replica can hold many admissions without touching its scans.
func Admissions(n int, at time.Time) []kido.Admission {
	as := make([]kido.Admission, n)
	for i := range as {
		a := kido.Admission{Gate: 99, Seq: uint64(i + 1), Serial: uint32(1<<31 + i), Tier: TierGA, Kind: kido.KindEntry, At: at.UTC(), Corrected: at.UTC()}
		a.Hash = wire.AdmissionHash(a)
		as[i] = a
	}
	return as
}

func seededKey(b byte) ticket.PrivateKey {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = b
	}
	k, err := ticket.NewPrivateKeyFromSeed(seed)
	if err != nil {
		panic(err) // a 32-byte seed cannot fail
	}
	return k
}

// GateKey returns the fabricated Ed25519 key of gate id, from a fixed seed.
func GateKey(id uint32) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = 'g', byte(id)
	return ed25519.NewKeyFromSeed(seed)
}

// MeshAddr is the fabricated mesh address of gate id.
func MeshAddr(id uint32) string { return fmt.Sprintf("127.0.0.1:%d", 17400+id) }

// Keyed gives every gate of the snapshot its key (GateKey) and mesh
// address (MeshAddr), as a server that recorded them at enrolment and
// heartbeat sends them; it returns f.
func (f *Fixture) Keyed() *Fixture {
	for i := range f.Snapshot.Gates {
		g := &f.Snapshot.Gates[i]
		g.Pub, g.Mesh = GateKey(g.ID).Public().(ed25519.PublicKey), MeshAddr(g.ID)
	}
	f.Snapshot.Gate.Pub, f.Snapshot.Gate.Mesh = GateKey(f.Snapshot.Gate.ID).Public().(ed25519.PublicKey), MeshAddr(f.Snapshot.Gate.ID)
	return f
}
