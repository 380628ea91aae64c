package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/gate"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Apply replaces the replica's event, tiers, keys, gates and roster with
// those of snap, adds the admissions it carries that the replica does not
// have (none is ever deleted or overwritten), and records the cursor, the
// server and the server time, in one transaction. serverURL is remembered
// for later syncs.
//
// A snapshot for another gate than the one this replica belongs to is
// refused.
func (r *Replica) Apply(ctx context.Context, snap *wire.Snapshot, serverURL string) error {
	if err := checkSnapshot(snap); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tx, err := r.conn.BeginTx(ctx, nil)
	if err != nil {
		return r.fault("apply snapshot", err)
	}
	defer tx.Rollback()
	var gateID uint32
	var serverTime int64
	if err := tx.QueryRowContext(ctx, "SELECT gate, server_time FROM state WHERE id = 1").Scan(&gateID, &serverTime); err != nil {
		return r.fault("apply snapshot", err)
	}
	if gateID != 0 && gateID != snap.Gate.ID {
		return fmt.Errorf("replica: snapshot is for gate %d, this replica belongs to gate %d\nhint: use a separate -data directory for each gate", snap.Gate.ID, gateID)
	}
	if err := applySnapshot(ctx, tx, snap); err != nil {
		return r.fault("apply snapshot", err)
	}
	// The sync is dated by the server's clock, the one trusted time
	// follows, so that "last sync 3 min ago" holds whatever the device says.
	synced := snap.ServerTime
	if synced.IsZero() {
		synced = r.clock.Now().Trusted
	}
	_, err = tx.ExecContext(ctx, `UPDATE state SET generation = generation + 1, gate = ?, server_id = ?, server_fp = ?,
		server_url = CASE WHEN ? = '' THEN server_url ELSE ? END, cursor = ?,
		server_time = max(server_time, ?),
		last_sync = ? WHERE id = 1`,
		snap.Gate.ID, snap.Server.ID, snap.Server.Fingerprint, serverURL, serverURL, snap.Cursor,
		toNanos(snap.ServerTime), toNanos(synced))
	if err != nil {
		return r.fault("apply snapshot", err)
	}
	if err := tx.Commit(); err != nil {
		return r.fault("apply snapshot", err)
	}
	r.cfg = nil
	r.clock.Observe(snap.ServerTime)
	return nil
}

// checkSnapshot refuses a snapshot the gate could not decide with.
func checkSnapshot(s *wire.Snapshot) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("replica: bad snapshot: "+format+"\nhint: the server and this gate may be different versions", a...)
	}
	if s.Gate.ID == 0 || s.Event.ID == 0 {
		return bad("no gate or event")
	}
	if s.Gate.Event != s.Event.ID {
		return bad("gate %d belongs to event %d, snapshot is for event %d", s.Gate.ID, s.Gate.Event, s.Event.ID)
	}
	switch s.Gate.Direction {
	case wire.DirectionEntry, wire.DirectionExit, wire.DirectionBoth:
	default:
		return bad("gate direction %q", s.Gate.Direction)
	}
	for _, k := range s.Keys {
		if _, err := ticket.ParsePublicKey(k.Public); err != nil {
			return bad("key %s: %v", k.ID, err)
		}
	}
	for _, t := range s.Tiers {
		if t.Entries < 0 {
			return bad("tier %d has %d entries", t.ID, t.Entries)
		}
	}
	for _, a := range s.Admissions {
		if a.Seq == 0 || (a.Kind != wire.KindEntry && a.Kind != wire.KindExit && a.Kind != wire.KindManual) {
			return bad("admission (gate %d, seq %d) of kind %q", a.Gate, a.Seq, a.Kind)
		}
	}
	return nil
}

func applySnapshot(ctx context.Context, tx *sql.Tx, s *wire.Snapshot) error {
	for _, table := range []string{"event", "tiers", "keys", "gates", "roster"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return err
		}
	}
	e := s.Event
	if _, err := tx.ExecContext(ctx, "INSERT INTO event (id, name, venue, start, end, time_zone) VALUES (?, ?, ?, ?, ?, ?)",
		e.ID, e.Name, e.Venue, toNanos(e.Start), toNanos(e.End), e.TimeZone); err != nil {
		return err
	}
	for _, t := range s.Tiers {
		if _, err := tx.ExecContext(ctx, "INSERT INTO tiers (id, name, entries) VALUES (?, ?, ?)", t.ID, t.Name, t.Entries); err != nil {
			return err
		}
	}
	for _, k := range s.Keys {
		if k.Event != e.ID {
			continue // a key may only vouch for its own event
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO keys (id, public, not_before, not_after, revoked, current) VALUES (?, ?, ?, ?, ?, ?)",
			k.ID, k.Public, optNanos(k.NotBefore), optNanos(k.NotAfter), k.Revoked, k.Current)
		if err != nil {
			return err
		}
	}
	gates := s.Gates
	if !containsGate(gates, s.Gate.ID) {
		gates = append(gates, s.Gate)
	}
	for _, g := range gates {
		if g.ID == s.Gate.ID {
			g = s.Gate // the gate's own settings are authoritative in Gate
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO gates (id, name, tiers, direction, revoked) VALUES (?, ?, ?, ?, ?)",
			g.ID, g.Name, formatTiers(g.Tiers), g.Direction, g.Revoked)
		if err != nil {
			return err
		}
	}
	ins, err := tx.PrepareContext(ctx, "INSERT OR REPLACE INTO roster (serial, tier, holder, order_ref, revoked, search) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, re := range s.Roster {
		if _, err := ins.ExecContext(ctx, re.Serial, re.Tier, re.Holder, re.OrderRef, re.Revoked, searchKey(re)); err != nil {
			return err
		}
	}
	return insertAdmissions(ctx, tx, s.Admissions)
}

// insertAdmissions adds admissions the replica lacks. One (gate, seq) key
// already present is left as it is: the replica never overwrites a passage.
func insertAdmissions(ctx context.Context, tx *sql.Tx, as []wire.Admission) error {
	ins, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, a := range as {
		if _, err := ins.ExecContext(ctx, a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash); err != nil {
			return err
		}
	}
	return nil
}

func containsGate(gs []wire.Gate, id uint32) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

// searchKey is the roster's search column: holder, order reference and
// serial, folded by gate.NormalizeSearch, one per line.
func searchKey(re wire.RosterEntry) string {
	return gate.NormalizeSearch(re.Holder) + "\n" + gate.NormalizeSearch(re.OrderRef) + "\n" + strconv.FormatUint(uint64(re.Serial), 10)
}

func optNanos(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// formatTiers stores a gate's tier list as comma-separated ids ("" = all).
func formatTiers(ts []uint8) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = strconv.Itoa(int(t))
	}
	return strings.Join(s, ",")
}

func parseTiers(s string) ([]uint8, error) {
	if s == "" {
		return nil, nil
	}
	var ts []uint8
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			return nil, fmt.Errorf("gate tiers %q: %w", s, err)
		}
		ts = append(ts, uint8(n))
	}
	return ts, nil
}
