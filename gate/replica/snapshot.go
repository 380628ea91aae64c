package replica

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// applyChunk is how many roster rows or admissions one transaction of
// Apply writes: small enough that a scan waiting for the write lock waits
// milliseconds, not the seconds a million-row snapshot takes in one go.
const applyChunk = 5000

// Apply replaces the replica's event, tiers, keys, gates and roster with
// those of snap, merges the admissions it carries (none is ever deleted or
// overwritten; see mergeAdmissions), and records the cursor, the server
// and the server time. serverURL is remembered for later syncs.
//
// Scans go on while a snapshot is applied: the roster is loaded into a
// stage table and the admissions merged in short transactions of
// applyChunk rows each, and one final short transaction swaps the stage
// table in and replaces the rest. Until that commit the gate decides with
// the replica it had, plus admissions it has learned (facts, whatever the
// snapshot). A crash part-way leaves the old replica and a stage table that
// the next Apply drops.
//
// A snapshot for another gate than the one this replica belongs to is
// refused.
func (r *Replica) Apply(ctx context.Context, snap *wire.Snapshot, serverURL string) error {
	if err := checkSnapshot(snap); err != nil {
		return err
	}
	stage, err := r.beginStage(ctx, snap.Gate.ID, snap.Server.ID)
	if err != nil {
		return err
	}
	for i := 0; i < len(snap.Roster); i += applyChunk {
		chunk := snap.Roster[i:min(i+applyChunk, len(snap.Roster))]
		if err := r.step(ctx, "apply snapshot", func(tx *sql.Tx) error { return insertRoster(ctx, tx, stage, chunk, true) }); err != nil {
			return err
		}
	}
	for i := 0; i < len(snap.Admissions); i += applyChunk {
		chunk := snap.Admissions[i:min(i+applyChunk, len(snap.Admissions))]
		if err := r.step(ctx, "apply snapshot", func(tx *sql.Tx) error {
			runs, err := r.learntRunsIn(ctx, tx)
			if err != nil {
				return err
			}
			_, err = mergeAdmissions(ctx, tx, runs, chunk)
			return err
		}); err != nil {
			return err
		}
	}
	// The sync is dated by the server's clock, the one trusted time
	// follows, so that "last sync 3 min ago" holds whatever the device says.
	synced := snap.ServerTime
	if synced.IsZero() {
		synced = r.clock.Now().Trusted
	}
	err = r.step(ctx, "apply snapshot", func(tx *sql.Tx) error {
		var current string
		if err := tx.QueryRowContext(ctx, "SELECT stage FROM state WHERE id = 1").Scan(&current); err != nil {
			return err
		}
		if current != stage {
			return errStageLost
		}
		if err := replaceConfig(ctx, tx, snap); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DROP TABLE roster; ALTER TABLE "+stage+" RENAME TO roster; DROP TABLE roster_words; ALTER TABLE "+wordsOf(stage)+" RENAME TO roster_words; DROP TABLE "+countsOf("roster_words")+"; ALTER TABLE "+countsOf(wordsOf(stage))+" RENAME TO "+countsOf("roster_words")); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE state SET generation = generation + 1, gate = ?, server_id = ?, server_fp = ?,
			server_url = CASE WHEN ? = '' THEN server_url ELSE ? END, cursor = ?,
			server_time = max(server_time, ?), clock_scan = (SELECT COALESCE(MAX(id), 0) FROM scans), last_sync = ?, stage = '' WHERE id = 1`,
			snap.Gate.ID, snap.Server.ID, snap.Server.Fingerprint, serverURL, serverURL, snap.Cursor,
			toNanos(snap.ServerTime), toNanos(synced))
		return err
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.cfg = nil
	r.mu.Unlock()
	r.clock.Observe(snap.ServerTime)
	return nil
}

var errStageLost = errors.New("another snapshot was applied to this replica at the same time")

// beginStage checks that the replica may take a snapshot for gateID and
// creates an empty stage table for its roster, dropping the stage table of
// an Apply that did not finish.
func (r *Replica) beginStage(ctx context.Context, gateID uint32, server string) (string, error) {
	var name [6]byte
	rand.Read(name[:])
	suffix := hex.EncodeToString(name[:])
	stage := "roster_stage_" + suffix
	var wrongGate uint32
	var wrongServer string
	err := r.step(ctx, "apply snapshot", func(tx *sql.Tx) error {
		var own uint32
		var old, pinned string
		if err := tx.QueryRowContext(ctx, "SELECT gate, stage, server_id FROM state WHERE id = 1").Scan(&own, &old, &pinned); err != nil {
			return err
		}
		if own != 0 && own != gateID {
			wrongGate = own
			return nil
		}
		// The identity a gate enrolled with is the one it checks every
		// answer against (docs/sync-protocol.md §13); no snapshot replaces it.
		if pinned != "" && pinned != server {
			wrongServer = pinned
			return nil
		}
		if old != "" {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+old+"; DROP TABLE IF EXISTS "+wordsOf(old)+"; DROP TABLE IF EXISTS "+countsOf(wordsOf(old))); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "CREATE TABLE "+stage+" "+rosterColumns+";\n"+fmt.Sprintf(rosterIndexes, stage, suffix)+"\n"+wordsTable(wordsOf(stage))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE state SET stage = ? WHERE id = 1", stage)
		return err
	})
	if err != nil {
		return "", err
	}
	if wrongGate != 0 {
		return "", fmt.Errorf("replica: snapshot is for gate %d, this replica belongs to gate %d\nhint: use a separate -data directory for each gate", gateID, wrongGate)
	}
	if wrongServer != "" {
		return "", fmt.Errorf("replica: snapshot is from server %s, this gate enrolled with %s\nhint: a gate follows only the server it enrolled with; to change servers, enrol again with a code from the new one", server, wrongServer)
	}
	return stage, nil
}

// step runs fn in one write transaction, holding the replica's mutex only
// for that transaction, and maps a failure to a replica fault.
func (r *Replica) step(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.inTx(ctx, fn); err != nil {
		if errors.Is(err, errStageLost) {
			return fmt.Errorf("replica: %s: %w\nhint: run one kido-gate sync at a time on a data directory", op, err)
		}
		return r.fault(op, err)
	}
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
	case kido.DirectionEntry, kido.DirectionExit, kido.DirectionBoth:
	default:
		return bad("gate direction %q", s.Gate.Direction)
	}
	for _, k := range s.Keys {
		if _, err := ticket.ParsePublicKey(k.Public); err != nil {
			return bad("key %s: %v", k.ID, err)
		}
	}
	// Not append(s.Gates, s.Gate): that writes into the caller's array
	// when it has room, a data race when one snapshot is applied to
	// several replicas at once (kido-bench's herd does).
	if err := checkGateIdentity(s.Gate); err != nil {
		return bad("%v", err)
	}
	for _, g := range s.Gates {
		if err := checkGateIdentity(g); err != nil {
			return bad("%v", err)
		}
	}
	for _, t := range s.Tiers {
		if t.Entries < 0 {
			return bad("tier %d has %d entries", t.ID, t.Entries)
		}
	}
	if err := errors.Join(s.Event.CheckTimes(), kido.CheckTime("server_time", s.ServerTime)); err != nil {
		return bad("%v", err)
	}
	for _, k := range s.Keys {
		if err := k.CheckTimes(); err != nil {
			return bad("key %s: %v", k.ID, err)
		}
	}
	for _, v := range s.Voids {
		if err := checkVoid(v, s.Event.ID); err != nil {
			return bad("%v", err)
		}
	}
	for _, a := range s.Admissions {
		if err := a.CheckTimes(); err != nil {
			return bad("admission (gate %d, seq %d): %v", a.Gate, a.Seq, err)
		}
		if err := checkAdmission(a); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// replaceConfig replaces the event, tiers, keys and gates with the
// snapshot's: the small tables, replaced in the final transaction.
func replaceConfig(ctx context.Context, tx *sql.Tx, s *wire.Snapshot) error {
	for _, table := range []string{"event", "tiers", "keys", "gates"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return err
		}
	}
	if err := upsertEvent(ctx, tx, s.Event); err != nil {
		return err
	}
	for _, t := range s.Tiers {
		if err := upsertTier(ctx, tx, t); err != nil {
			return err
		}
	}
	for _, k := range s.Keys {
		if k.Event != s.Event.ID {
			continue // a key may only vouch for its own event
		}
		if err := upsertKey(ctx, tx, k); err != nil {
			return err
		}
	}
	// Voids are kept, not replaced: the snapshot leaves out the voided
	// admissions, but this replica may hold them already.
	for _, v := range s.Voids {
		if err := insertVoid(ctx, tx, v); err != nil {
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
		if err := upsertGate(ctx, tx, g); err != nil {
			return err
		}
	}
	return nil
}

// insertVoid keeps a void the server sent; a void is never undone, so one
// already held is left as it is.
func insertVoid(ctx context.Context, tx *sql.Tx, v kido.Void) error {
	_, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO voids (gate, from_time, reason, by, created) VALUES (?, ?, ?, ?, ?)",
		v.Gate, toNanos(v.From), v.Reason, v.By, toNanos(v.Created))
	return err
}

func upsertEvent(ctx context.Context, tx *sql.Tx, e kido.Event) error {
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO event (id, name, venue, start, end, time_zone) VALUES (?, ?, ?, ?, ?, ?)",
		e.ID, e.Name, e.Venue, toNanos(e.Start), toNanos(e.End), e.TimeZone)
	return err
}

func upsertTier(ctx context.Context, tx *sql.Tx, t kido.Tier) error {
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO tiers (id, name, entries, retired) VALUES (?, ?, ?, ?)", t.ID, t.Name, t.Entries, t.Retired)
	return err
}

func upsertKey(ctx context.Context, tx *sql.Tx, k kido.Key) error {
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO keys (id, public, not_before, not_after, revoked, current) VALUES (?, ?, ?, ?, ?, ?)",
		k.ID, k.Public, optNanos(k.NotBefore), optNanos(k.NotAfter), k.Revoked, k.Current)
	return err
}

func upsertGate(ctx context.Context, tx *sql.Tx, g kido.Gate) error {
	if err := checkGateIdentity(g); err != nil {
		return err
	}
	var pub any
	if len(g.Pub) > 0 {
		pub = []byte(g.Pub)
	}
	_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO gates (id, name, tiers, direction, revoked, pub, mesh, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		g.ID, g.Name, formatTiers(g.Tiers), g.Direction, g.Revoked, pub, g.Mesh, optNanos(g.RevokedAt))
	return err
}

// insertRoster upserts roster entries into table (the roster or a stage
// table) and its word index; fresh says table is a stage table being
// filled, which holds none of them yet.
func insertRoster(ctx context.Context, tx *sql.Tx, table string, rs []kido.RosterEntry, fresh bool) error {
	ins, err := tx.PrepareContext(ctx, "INSERT OR REPLACE INTO "+table+" (serial, tier, holder, reading, order_ref, revoked, name_key, reading_key, order_key, doc, replaced_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	w, err := newWordWriter(ctx, tx, table, fresh)
	if err != nil {
		return err
	}
	defer w.close()
	for _, re := range rs {
		k := keysOf(re)
		doc, err := w.index(ctx, re.Serial, k)
		if err != nil {
			return err
		}
		if _, err := ins.ExecContext(ctx, re.Serial, re.Tier, re.Holder, re.Reading, re.OrderRef, re.Revoked, k.name, k.reading, k.order, doc, re.ReplacedBy); err != nil {
			return err
		}
	}
	return w.flush(ctx)
}

// refoldRoster computes every roster entry's search keys again, when a
// replica is upgraded to a schema whose fold changed.
func refoldRoster(tx *sql.Tx) error {
	rows, err := tx.Query("SELECT serial, holder, order_ref FROM roster")
	if err != nil {
		return err
	}
	var rs []kido.RosterEntry
	for rows.Next() {
		var re kido.RosterEntry
		if err := rows.Scan(&re.Serial, &re.Holder, &re.OrderRef); err != nil {
			rows.Close()
			return err
		}
		rs = append(rs, re)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	up, err := tx.Prepare("UPDATE roster SET name_key = ?, order_key = ? WHERE serial = ?")
	if err != nil {
		return err
	}
	defer up.Close()
	for _, re := range rs {
		k := keysOf(re)
		if _, err := up.Exec(k.name, k.order, re.Serial); err != nil {
			return err
		}
	}
	return nil
}

// Merge counts what mergeAdmissions did.
type Merge struct {
	Added       int // admissions new to the replica (other gates', or own ones it lacked)
	Known       int // already held with the same hash
	Conflicting int // held under the same (gate, seq) with another hash: kept beside it
}

// Add adds o to m.
func (m *Merge) Add(o Merge) {
	m.Added += o.Added
	m.Known += o.Known
	m.Conflicting += o.Conflicting
}

// mergeAdmissions adds admissions learned from the server
// (docs/sync-protocol.md §4.2). A (gate, seq) the replica lacks is
// inserted, an own one too (a replica restored from a backup gets its lost
// records back, and its next seq rises above them); one it holds with the
// same hash is left alone; one it holds with another hash is kept beside
// it in conflicting_admissions, so that decisions see both and neither is
// overwritten.
func mergeAdmissions(ctx context.Context, tx *sql.Tx, runs *learntRuns, as []kido.Admission) (Merge, error) {
	var m Merge
	if len(as) == 0 {
		return m, nil
	}
	// Under a context that can end, the driver starts a goroutine per
	// statement to watch it: most of a statement's cost here, a thousand
	// times per feed page. The transaction ignores cancellation anyway
	// (Replica.begin).
	ctx = context.WithoutCancel(ctx)
	var ins, alt *sql.Stmt
	defer func() {
		for _, s := range []*sql.Stmt{ins, alt} {
			if s != nil {
				s.Close()
			}
		}
	}()
	// A key may be held in learnt, other gates' records from compact
	// pages, rather than here.
	as, m, err := notLearnt(ctx, tx, runs, as, &alt)
	if err != nil {
		return m, err
	}
	// Most admissions a feed answer carries are new: they are inserted
	// mergeChunk at a time, one statement each (a statement per admission
	// cost most of a catching-up gate's CPU in database/sql and cgo); only
	// a chunk in which some key was held already is looked at row by row.
	args := make([]any, 0, 11*mergeChunk)
	for len(as) > 0 {
		chunk := as[:min(mergeChunk, len(as))]
		as = as[len(chunk):]
		args = args[:0]
		for _, a := range chunk {
			args = append(args, a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, a.Undoes)
		}
		var res sql.Result
		if len(chunk) == mergeChunk {
			if ins == nil {
				if ins, err = tx.PrepareContext(ctx, insertAdmissions(mergeChunk)); err != nil {
					return m, err
				}
			}
			res, err = ins.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, insertAdmissions(len(chunk)), args...)
		}
		if err != nil {
			return m, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return m, err
		}
		m.Added += int(n)
		if int(n) == len(chunk) {
			continue
		}
		// Some keys were held: every key of the chunk is held now, and
		// those held with another record are kept beside it. (A gate's own
		// records come back in every shared feed page: a range read per
		// gate, not a query per record.)
		keys := make([]kido.RecordKey, len(chunk))
		for i, a := range chunk {
			keys[i] = kido.RecordKey{Gate: a.Gate, Seq: a.Seq}
		}
		hashes, err := heldHashes(ctx, tx, keys)
		if err != nil {
			return m, err
		}
		for _, a := range chunk {
			held, ok := hashes[kido.RecordKey{Gate: a.Gate, Seq: a.Seq}]
			if !ok {
				return m, fmt.Errorf("admission (gate %d, seq %d) neither inserted nor held", a.Gate, a.Seq)
			}
			// A compact feed page carries a check, the first 16 hex digits
			// of the hash: a record is the same when those agree.
			if wire.SameRecord(held, a.Hash) {
				m.Known++
				continue
			}
			if err := keepConflicting(ctx, tx, &alt, a); err != nil {
				return m, err
			}
			m.Conflicting++
		}
		m.Known -= int(n)
	}
	return m, nil
}

// insertConflicting keeps a record beside the one held under its (gate,
// seq), unless it is held there already (by its check: a compact page's
// first 16 hex digits of the hash).
const insertConflicting = `INSERT INTO conflicting_admissions (gate, seq, serial, tier, kind, at, corrected, text, hash, reason, undoes)
	SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE NOT EXISTS (SELECT 1 FROM conflicting_admissions
	WHERE gate = ?1 AND seq = ?2 AND substr(hash, 1, 16) = substr(?9, 1, 16))`

// mergeChunk is how many admissions one statement of mergeAdmissions
// inserts: 1,100 parameters, far below SQLite's limit.
const mergeChunk = 100

// insertAdmissions returns the statement that inserts n admissions, each
// unless its key is held.
func insertAdmissions(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash, reason, undoes) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT (gate, seq) DO NOTHING")
	return b.String()
}

func containsGate(gs []kido.Gate, id uint32) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

// searchKeys are a roster entry's search columns, each folded by
// gate.NormalizeSearch: name (the holder), reading and order, indexed for
// Find's prefix search; name and reading are in the word index too, for
// its substring search.
type searchKeys struct{ name, reading, order string }

func keysOf(re kido.RosterEntry) searchKeys {
	return searchKeys{name: gate.NormalizeSearch(re.Holder), reading: gate.NormalizeSearch(re.Reading), order: gate.NormalizeSearch(re.OrderRef)}
}

func optNanos(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return toNanos(*t)
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
