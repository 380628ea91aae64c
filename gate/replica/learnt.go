package replica

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// Other gates' admissions learned from compact feed pages (version 2,
// docs/sync-protocol.md §4.5) are kept apart from the records the gate can
// upload or relay: a check instead of a hash, no text, no device time. A
// gate catching up after an outage learns hundreds of thousands of them,
// so they are stored a page at a time: the page's records, fixed-width, in
// one blob (learnt_pages), and which (gate, seq) it holds as runs of
// consecutive seqs (learnt_runs), a handful per page. A row per admission
// in a table indexed by serial dirtied a random index page per admission
// and cost about 9 µs of a catching-up gate's CPU per admission; a row per
// admission without that index still about 2.5 µs, most of it binding
// seven values through database/sql and cgo. Decisions find a ticket's
// records through an index by serial kept in memory (learntIndex), built
// from the blobs the first time a decision needs it and extended as pages
// come. docs/replica.md ("Learnt admissions") binds this.

// tablesV10 are the tables version 10 added. learnt_signed has the
// columns of admissions (MeshSince reads both alike), written out rather
// than admissionColumns, so that this migration stays what it is when a
// later version changes admissions; it holds no undo (undos are never
// learnt) and always a signature.
const tablesV10 = `
CREATE TABLE learnt_pages (
	id   INTEGER PRIMARY KEY,
	recs BLOB NOT NULL
);
CREATE TABLE learnt_runs (
	gate INTEGER NOT NULL,
	lo   INTEGER NOT NULL,
	hi   INTEGER NOT NULL,
	page INTEGER NOT NULL,
	slot INTEGER NOT NULL,
	PRIMARY KEY (gate, lo)
) WITHOUT ROWID;
CREATE TABLE learnt_signed (
	gate      INTEGER NOT NULL,
	seq       INTEGER NOT NULL CHECK (seq >= 1),
	serial    INTEGER NOT NULL,
	tier      INTEGER NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'manual')),
	at        INTEGER NOT NULL,
	corrected INTEGER NOT NULL,
	text      TEXT NOT NULL,
	hash      TEXT NOT NULL,
	reason    TEXT NOT NULL DEFAULT '',
	undoes    INTEGER NOT NULL DEFAULT 0 CHECK (undoes = 0),
	sig       BLOB NOT NULL CHECK (length(sig) = 64),
	PRIMARY KEY (gate, seq)
) WITHOUT ROWID;
`

// A learnt_pages blob is learntFormat, one byte, then records of
// learntRecLen bytes, big-endian: gate (4), seq (8), serial (4), tier (1),
// kind (1, learntKinds), corrected (8, Unix nanoseconds), check (8). A
// record that needs more (a kind with fields of its own) takes a new
// format byte; a reader refuses a format it does not know.
const (
	learntFormat = 1
	learntRecLen = 34
	// learntSlots bounds the records of one blob, so that a position
	// (page, slot) packs into one integer of the index.
	learntSlots = 1 << 16
)

// learntKinds are the kinds a record can hold, by their code; 0 is none.
var learntKinds = [...]string{1: kido.KindEntry, 2: kido.KindExit, 3: kido.KindManual}

// learntRec is one record of learnt_pages.
type learntRec struct {
	gate      uint32
	seq       uint64
	serial    uint32
	tier      uint8
	kind      string
	corrected int64
	check     uint64
}

// recOf returns a's record; a carries a check (wire.IsCheckOnly) that
// checkChange has found to be 16 lowercase hex digits.
func recOf(a *kido.Admission) (learntRec, error) {
	c, err := checkOf(a.Hash)
	if err != nil {
		return learntRec{}, err
	}
	if slices.Index(learntKinds[:], a.Kind) < 1 {
		return learntRec{}, fmt.Errorf("kind %q", a.Kind)
	}
	return learntRec{gate: a.Gate, seq: a.Seq, serial: a.Serial, tier: a.Tier, kind: a.Kind, corrected: toNanos(a.Corrected), check: c}, nil
}

// admission returns the record as the admission a compact page carries.
func (x learntRec) admission() kido.Admission {
	return kido.Admission{Gate: x.gate, Seq: x.seq, Serial: x.serial, Tier: x.tier, Kind: x.kind,
		Corrected: fromNanos(x.corrected), Hash: checkHex(x.check)}
}

func appendRec(b []byte, x learntRec) []byte {
	b = binary.BigEndian.AppendUint32(b, x.gate)
	b = binary.BigEndian.AppendUint64(b, x.seq)
	b = binary.BigEndian.AppendUint32(b, x.serial)
	b = append(b, x.tier, byte(slices.Index(learntKinds[:], x.kind)))
	b = binary.BigEndian.AppendUint64(b, uint64(x.corrected))
	return binary.BigEndian.AppendUint64(b, x.check)
}

func readRec(b []byte) (learntRec, error) {
	if len(b) != learntRecLen {
		return learntRec{}, fmt.Errorf("learnt record of %d bytes", len(b))
	}
	k := int(b[17])
	if k < 1 || k >= len(learntKinds) {
		return learntRec{}, fmt.Errorf("learnt record of kind %d", k)
	}
	return learntRec{gate: binary.BigEndian.Uint32(b), seq: binary.BigEndian.Uint64(b[4:]), serial: binary.BigEndian.Uint32(b[12:]),
		tier: b[16], kind: learntKinds[k], corrected: int64(binary.BigEndian.Uint64(b[18:])), check: binary.BigEndian.Uint64(b[26:])}, nil
}

// pageRecs calls fn with every record of a learnt_pages blob, in slot order.
func pageRecs(blob []byte, fn func(slot int, x learntRec)) error {
	if len(blob) < 1 || blob[0] != learntFormat || (len(blob)-1)%learntRecLen != 0 {
		return errors.New("learnt page of an unknown format")
	}
	for slot := 0; 1+slot*learntRecLen < len(blob); slot++ {
		x, err := readRec(blob[1+slot*learntRecLen : 1+(slot+1)*learntRecLen])
		if err != nil {
			return err
		}
		fn(slot, x)
	}
	return nil
}

// checkOf returns the check of a hash (a whole one or a check alone): its
// first wire.CheckLen bytes, written as lowercase hex digits.
func checkOf(hash string) (uint64, error) {
	if len(hash) < 2*wire.CheckLen {
		return 0, fmt.Errorf("hash %q is shorter than a check", hash)
	}
	// By a table: strconv and fmt took most of a page's checks, and a
	// branch per digit about 0.2 of a herd gate's 3.1 µs per admission.
	var c uint64
	var bad byte
	for i := range 2 * wire.CheckLen {
		v := hexValue[hash[i]]
		bad |= v
		c = c<<4 | uint64(v&0xf)
	}
	if bad&0x10 != 0 {
		return 0, fmt.Errorf("check %q is not lowercase hex", hash[:2*wire.CheckLen])
	}
	return c, nil
}

// hexValue is each byte's value as a lowercase hex digit, or 0x10 for a
// byte that is none.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x10
	}
	for d := byte(0); d < 16; d++ {
		t["0123456789abcdef"[d]] = d
	}
	return t
}()

// checkHex is the check as the hex digits a compact page carries.
func checkHex(c uint64) string { return fmt.Sprintf("%016x", c) }

// learntIndex finds learnt records by serial. Pages are never deleted or
// changed and their ids only grow, so the index follows the table by
// reading the pages after the highest id it holds.
type learntIndex struct {
	upTo int64    // highest learnt_pages.id indexed
	pos  []uint64 // pos[i]: record i's page id << 16 | slot
	prev []int32  // prev[i]: 1 + the index of the record before i of the same serial; 0 none
	near []int32  // near[s]: 1 + the index of serial s's latest record; 0 none (s < nearSerials)
	far  map[uint32]int32
}

// nearSerials bounds the serials held in a slice rather than a map: 4 bytes
// a serial up to the highest seen, which serials issued from 1 fill; a
// stray large serial costs a map entry, not a slice that long.
const nearSerials = 1 << 22

func (x *learntIndex) add(page int64, slot int, serial uint32) {
	i := int32(len(x.pos)) + 1
	x.pos = append(x.pos, uint64(page)<<16|uint64(slot))
	if serial < nearSerials {
		if n := int(serial) + 1; n > len(x.near) {
			x.near = append(x.near, make([]int32, n-len(x.near))...)
		}
		x.prev = append(x.prev, x.near[serial])
		x.near[serial] = i
		return
	}
	if x.far == nil {
		x.far = map[uint32]int32{}
	}
	x.prev = append(x.prev, x.far[serial])
	x.far[serial] = i
}

// addPage indexes a page's records and moves upTo to it.
func (x *learntIndex) addPage(page int64, recs []learntRec) {
	for slot, rec := range recs {
		x.add(page, slot, rec.serial)
	}
	x.upTo = page
}

// positions returns the (page, slot) of serial's records, latest first.
func (x *learntIndex) positions(serial uint32) [][2]int64 {
	var i int32
	if serial < nearSerials {
		if int(serial) < len(x.near) {
			i = x.near[serial]
		}
	} else {
		i = x.far[serial]
	}
	var ps [][2]int64
	for ; i != 0; i = x.prev[i-1] {
		p := x.pos[i-1]
		ps = append(ps, [2]int64{int64(p >> 16), int64(p & (learntSlots - 1))})
	}
	return ps
}

// learntPage is a page written to learnt_pages, for the index.
type learntPage struct {
	id   int64
	recs []learntRec
}

// learntRuns holds learnt_runs in memory: which (gate, seq) learnt holds
// and where. Merging a page asks it for every run of the page, and
// SQLite took 20 to 90 µs a query, most of a herd gate's merge. Like
// learntIndex it follows the table by page id (runs are written with
// their page and never change).
type learntRuns struct {
	upTo   int64                  // highest learnt_pages.id whose runs are held
	byGate map[uint32][]learntRun // each gate's runs by lo; runs never overlap
}

// learntRun is a row of learnt_runs: seqs lo to hi of a gate, at slots
// slot, slot+1, … of page.
type learntRun struct {
	lo, hi     uint64
	page, slot int64
}

func (x *learntRuns) add(gate uint32, rn learntRun) {
	rs := x.byGate[gate]
	i, _ := slices.BinarySearchFunc(rs, rn.lo, func(r learntRun, lo uint64) int { return cmp.Compare(r.lo, lo) })
	x.byGate[gate] = slices.Insert(rs, i, rn)
}

// meeting calls fn with each run of gate holding a seq from lo to hi.
func (x *learntRuns) meeting(gate uint32, lo, hi uint64, fn func(learntRun)) {
	rs := x.byGate[gate]
	// The last run starting at or before lo, then those starting up to hi.
	i, found := slices.BinarySearchFunc(rs, lo, func(r learntRun, lo uint64) int { return cmp.Compare(r.lo, lo) })
	if !found && i > 0 {
		i--
	}
	for ; i < len(rs) && rs[i].lo <= hi; i++ {
		if rs[i].hi >= lo {
			fn(rs[i])
		}
	}
}

// held returns where learnt holds (gate, seq), if it does.
func (x *learntRuns) held(gate uint32, seq uint64) (page, slot int64, ok bool) {
	x.meeting(gate, seq, seq, func(rn learntRun) {
		page, slot, ok = rn.page, rn.slot+int64(seq-rn.lo), true
	})
	return page, slot, ok
}

// learntRunsIn returns the runs of every page committed, or written in q's
// transaction, by this or any other process; call it before the
// transaction writes pages of its own. Called with r.mu held.
func (r *Replica) learntRunsIn(ctx context.Context, q querier) (*learntRuns, error) {
	var top int64
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(max(id), 0) FROM learnt_pages").Scan(&top); err != nil {
		return nil, err
	}
	if r.runs == nil || r.runs.upTo > top {
		r.runs = &learntRuns{byGate: map[uint32][]learntRun{}}
	}
	x := r.runs
	if x.upTo == top {
		return x, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT gate, lo, hi, page, slot FROM learnt_runs WHERE page > ?", x.upTo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var gate uint32
		var rn learntRun
		if err := rows.Scan(&gate, &rn.lo, &rn.hi, &rn.page, &rn.slot); err != nil {
			r.runs = nil
			return nil, err
		}
		x.add(gate, rn)
	}
	if err := rows.Err(); err != nil {
		r.runs = nil
		return nil, err
	}
	x.upTo = top
	return x, nil
}

// refreshLearnt brings the index up to the pages committed (or written in
// q's transaction) by this or any other process, building it the first
// time. Called with r.mu held.
func (r *Replica) refreshLearnt(ctx context.Context, q querier) error {
	if r.learnt == nil {
		r.learnt = &learntIndex{}
	}
	x := r.learnt
	return eachLearnt(ctx, q, x.upTo, func(page int64, slot int, rec learntRec) {
		x.add(page, slot, rec.serial)
		x.upTo = page
	})
}

// noteLearnt adds the pages a committed transaction wrote, after the
// highest page id before was before, to the index and runs held in memory
// already. When either is behind before (another process wrote pages in
// between), it is left as it is: the next refresh reads them all in order.
func (r *Replica) noteLearnt(before int64, pages []learntPage) {
	if r.runs != nil && r.runs.upTo == before {
		for _, p := range pages {
			for _, rn := range runsOf(p.recs) {
				r.runs.add(rn.gate, learntRun{lo: rn.lo, hi: rn.hi, page: p.id, slot: int64(rn.first)})
			}
			r.runs.upTo = p.id
		}
	}
	if r.learnt == nil || r.learnt.upTo != before {
		return
	}
	for _, p := range pages {
		r.learnt.addPage(p.id, p.recs)
	}
}

// learntAt reads the record at (page, slot).
func learntAt(ctx context.Context, q querier, page, slot int64) (learntRec, error) {
	var b []byte
	if err := q.QueryRowContext(ctx, "SELECT substr(recs, ?, ?) FROM learnt_pages WHERE id = ?", 2+slot*learntRecLen, learntRecLen, page).Scan(&b); err != nil {
		return learntRec{}, fmt.Errorf("learnt page %d slot %d: %w", page, slot, err)
	}
	return readRec(b)
}

// learntHistory returns serial's passages learned from compact pages.
// Called with r.mu held.
func (r *Replica) learntHistory(ctx context.Context, q querier, serial uint32) ([]kido.Passage, error) {
	if err := r.refreshLearnt(ctx, q); err != nil {
		return nil, err
	}
	var ps []kido.Passage
	for _, p := range r.learnt.positions(serial) {
		x, err := learntAt(ctx, q, p[0], p[1])
		if err != nil {
			return nil, err
		}
		ps = append(ps, x.admission().Passage())
	}
	return ps, nil
}

// eachLearnt calls fn with every learnt record of the pages after page
// id after, in order.
func eachLearnt(ctx context.Context, q querier, after int64, fn func(page int64, slot int, x learntRec)) error {
	rows, err := q.QueryContext(ctx, "SELECT id, recs FROM learnt_pages WHERE id > ? ORDER BY id", after)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			return err
		}
		if err := pageRecs(blob, func(slot int, x learntRec) { fn(id, slot, x) }); err != nil {
			return fmt.Errorf("learnt page %d: %w", id, err)
		}
	}
	return rows.Err()
}

// Learnt returns the admissions of other gates the replica learned from
// compact feed pages, in the order learned, each as the page carried it
// (a check for its hash, no text or device time).
func (r *Replica) Learnt(ctx context.Context) ([]kido.Admission, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []kido.Admission
	if err := eachLearnt(ctx, r.conn, 0, func(_ int64, _ int, x learntRec) { as = append(as, x.admission()) }); err != nil {
		return nil, r.fault("read learnt admissions", err)
	}
	return as, nil
}

// learnSigned takes a peer's signed record a (MeshLearn) whose (gate,
// seq) learnt may hold. With the same check, learnt's record still counts
// and a is kept in learnt_signed, only to be relayed: the mesh's vector
// and MeshSince read it beside the signed records of admissions. With
// another check, a is kept in conflicting_admissions. held is false when
// learnt does not hold the key: the caller stores a in admissions.
func learnSigned(ctx context.Context, tx *sql.Tx, runs *learntRuns, a kido.Admission) (held, conflict bool, err error) {
	page, slot, ok := runs.held(a.Gate, a.Seq)
	if !ok {
		return false, false, nil
	}
	x, err := learntAt(ctx, tx, page, slot)
	if err != nil {
		return false, false, err
	}
	if c, err := checkOf(a.Hash); err == nil && c == x.check {
		_, err := tx.ExecContext(ctx, `INSERT INTO learnt_signed (gate, seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gate, seq) DO NOTHING`,
			a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, a.Undoes, a.Sig)
		return true, false, err
	}
	_, err = tx.ExecContext(ctx, insertConflicting,
		a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, a.Undoes)
	return true, true, err
}

// run is a stretch of records of one gate with consecutive seqs.
type run struct {
	gate   uint32
	lo, hi uint64
	first  int // index of lo's record
}

// runsOf splits records into runs, in their order.
func runsOf(recs []learntRec) []run {
	var rs []run
	for i, x := range recs {
		if n := len(rs); n > 0 && rs[n-1].gate == x.gate && rs[n-1].hi+1 == x.seq {
			rs[n-1].hi++
			continue
		}
		rs = append(rs, run{gate: x.gate, lo: x.seq, hi: x.seq, first: i})
	}
	return rs
}

// overlapping reports whether any two runs share a key.
func overlapping(rs []run) bool {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b run) int {
		if a.gate != b.gate {
			return int(int64(a.gate) - int64(b.gate))
		}
		return int(int64(a.lo) - int64(b.lo)) // seqs are at most wire.MaxSeq
	})
	for i := 1; i < len(s); i++ {
		if s[i].gate == s[i-1].gate && s[i].lo <= s[i-1].hi {
			return true
		}
	}
	return false
}

// mergeLearnt merges admissions of other gates carrying a check only
// (wire.IsCheckOnly) with the rules of mergeAdmissions: a (gate, seq) not
// held is learnt; one held, in learnt or in admissions, with the same
// check is left alone; one held with another check is kept beside it in
// conflicting_admissions. It returns the highest learnt page id before and
// the pages it wrote, for noteLearnt once the transaction is committed.
func mergeLearnt(ctx context.Context, tx *sql.Tx, runs *learntRuns, as []*kido.Admission) (Merge, int64, []learntPage, error) {
	var m Merge
	if len(as) == 0 {
		return m, 0, nil, nil
	}
	ctx = context.WithoutCancel(ctx) // see mergeAdmissions
	// A key held in admissions (a snapshot's or a JSON page's record) is
	// merged there, by mergeAdmissions's rules; a page holds few gates,
	// each a run of seqs, so one range read per gate finds them.
	keys := make([]kido.RecordKey, len(as))
	for i, a := range as {
		keys[i] = kido.RecordKey{Gate: a.Gate, Seq: a.Seq}
	}
	held, err := heldHashes(ctx, tx, keys)
	if err != nil {
		return m, 0, nil, err
	}
	recs := make([]learntRec, 0, len(as))
	var there []kido.Admission
	for i, a := range as {
		if _, ok := held[keys[i]]; ok {
			there = append(there, *a)
			continue
		}
		x, err := recOf(a)
		if err != nil {
			return m, 0, nil, err
		}
		recs = append(recs, x)
	}
	if m, err = mergeAdmissions(ctx, tx, runs, there); err != nil {
		return m, 0, nil, err
	}

	// Which records learnt holds already: runs overlapping a held run,
	// from the runs in memory, and keys the page repeats (looked at one by
	// one only when its runs overlap).
	type at struct{ page, slot int64 }
	var heldAt map[int]at // index in recs → where learnt holds its key
	for _, rn := range runsOf(recs) {
		runs.meeting(rn.gate, rn.lo, rn.hi, func(h learntRun) {
			for seq := max(h.lo, rn.lo); seq <= min(h.hi, rn.hi); seq++ {
				if heldAt == nil {
					heldAt = map[int]at{}
				}
				heldAt[rn.first+int(seq-rn.lo)] = at{h.page, h.slot + int64(seq-h.lo)}
			}
		})
	}
	var firstOf map[[2]uint64]int // the page's repeated keys: index of the first
	if overlapping(runsOf(recs)) {
		firstOf = map[[2]uint64]int{}
	}
	var alt *sql.Stmt
	defer func() {
		if alt != nil {
			alt.Close()
		}
	}()
	fresh := make([]learntRec, 0, len(recs))
	for i, x := range recs {
		var heldCheck uint64
		if h, ok := heldAt[i]; ok {
			y, err := learntAt(ctx, tx, h.page, h.slot)
			if err != nil {
				return m, 0, nil, err
			}
			heldCheck = y.check
		} else if j, ok := firstOf[[2]uint64{uint64(x.gate), x.seq}]; ok {
			heldCheck = recs[j].check
		} else {
			if firstOf != nil {
				firstOf[[2]uint64{uint64(x.gate), x.seq}] = i
			}
			fresh = append(fresh, x)
			continue
		}
		if heldCheck == x.check {
			m.Known++
			continue
		}
		if err := keepConflicting(ctx, tx, &alt, x.admission()); err != nil {
			return m, 0, nil, err
		}
		m.Conflicting++
	}
	m.Added += len(fresh)

	before := runs.upTo
	var pages []learntPage
	for len(fresh) > 0 {
		part := fresh[:min(learntSlots, len(fresh))]
		fresh = fresh[len(part):]
		blob := make([]byte, 1, 1+len(part)*learntRecLen)
		blob[0] = learntFormat
		for _, x := range part {
			blob = appendRec(blob, x)
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO learnt_pages (recs) VALUES (?)", blob)
		if err != nil {
			return m, 0, nil, err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return m, 0, nil, err
		}
		for _, rn := range runsOf(part) {
			if _, err := tx.ExecContext(ctx, "INSERT INTO learnt_runs (gate, lo, hi, page, slot) VALUES (?, ?, ?, ?, ?)", rn.gate, rn.lo, rn.hi, id, rn.first); err != nil {
				return m, 0, nil, err
			}
		}
		pages = append(pages, learntPage{id: id, recs: part})
	}
	return m, before, pages, nil
}

// heldHashes returns the hash of each of keys the admissions table holds,
// and of the keys between them: a page holds few gates, each a run of
// seqs, so it reads one range of seqs per gate.
func heldHashes(ctx context.Context, tx *sql.Tx, keys []kido.RecordKey) (map[kido.RecordKey]string, error) {
	type span struct{ lo, hi uint64 }
	spans := map[uint32]span{}
	for _, k := range keys {
		s, ok := spans[k.Gate]
		if !ok {
			s = span{k.Seq, k.Seq}
		}
		s.lo, s.hi = min(s.lo, k.Seq), max(s.hi, k.Seq)
		spans[k.Gate] = s
	}
	var held map[kido.RecordKey]string
	for g, s := range spans {
		rows, err := tx.QueryContext(ctx, "SELECT seq, hash FROM admissions WHERE gate = ? AND seq BETWEEN ? AND ?", g, s.lo, s.hi)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var seq uint64
			var hash string
			if err := rows.Scan(&seq, &hash); err != nil {
				rows.Close()
				return nil, err
			}
			if held == nil {
				held = map[kido.RecordKey]string{}
			}
			held[kido.RecordKey{Gate: g, Seq: seq}] = hash
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return held, nil
}

// notLearnt takes out of as the admissions whose key learnt holds, for
// mergeAdmissions: the same check is a record known already, another is
// kept beside it in conflicting_admissions.
func notLearnt(ctx context.Context, tx *sql.Tx, runs *learntRuns, as []kido.Admission, alt **sql.Stmt) ([]kido.Admission, Merge, error) {
	var m Merge
	if len(runs.byGate) == 0 {
		return as, m, nil
	}
	rest := as[:0:0]
	for _, a := range as {
		page, slot, ok := runs.held(a.Gate, a.Seq)
		if !ok {
			rest = append(rest, a)
			continue
		}
		x, err := learntAt(ctx, tx, page, slot)
		if err != nil {
			return nil, m, err
		}
		if c, err := checkOf(a.Hash); err == nil && c == x.check {
			m.Known++
			continue
		}
		if err := keepConflicting(ctx, tx, alt, a); err != nil {
			return nil, m, err
		}
		m.Conflicting++
	}
	return rest, m, nil
}

// keepConflicting keeps a, held under its (gate, seq) with another record,
// in conflicting_admissions, once per check. *alt is its statement,
// prepared on first use; the caller closes it.
func keepConflicting(ctx context.Context, tx *sql.Tx, alt **sql.Stmt, a kido.Admission) error {
	if *alt == nil {
		var err error
		if *alt, err = tx.PrepareContext(ctx, insertConflicting); err != nil {
			return err
		}
	}
	_, err := (*alt).ExecContext(ctx, a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, a.Undoes)
	return err
}

// Undos are never learnt: ApplyChanges puts them in admissions, where
// notUndone finds them, even from a compact page. The admission an undo
// annuls may be in either table; a learnt one is taken out of the counts
// here, in Go, by the rule notUndone says in SQL.

// undoneKeys returns the (gate, seq) of every admission an undo annuls.
// Undos are few: a read of the partial index admissions_undoes.
func undoneKeys(ctx context.Context, q querier) (map[[2]uint64]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT gate, undoes FROM admissions WHERE kind = 'undo'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var undone map[[2]uint64]bool
	for rows.Next() {
		var g, seq uint64
		if err := rows.Scan(&g, &seq); err != nil {
			return nil, err
		}
		if undone == nil {
			undone = map[[2]uint64]bool{}
		}
		undone[[2]uint64{g, seq}] = true
	}
	return undone, rows.Err()
}

// isUndone reports whether an undo annuls the admission (gate, seq).
func isUndone(ctx context.Context, q querier, gate uint32, seq uint64) (bool, error) {
	var undone bool
	err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM admissions WHERE kind = 'undo' AND gate = ? AND undoes = ?)", gate, seq).Scan(&undone)
	return undone, err
}

// passageTally counts, over every record the replica holds (admissions,
// undos included, and learnt records), the records; and over the passages
// that count (no undo, none an undo annuls), the tickets with an entry or
// manual admission and those whose latest passage (by trusted time) is
// one.
func passageTally(ctx context.Context, q querier) (passages, admitted, inside int, err error) {
	type last struct {
		at      int64
		in, ent bool
	}
	per := map[uint32]last{}
	note := func(serial uint32, kind string, at int64) {
		l, ok := per[serial]
		in := kind != kido.KindExit
		if !ok || at > l.at {
			l.at, l.in = at, in
		}
		l.ent = l.ent || in
		per[serial] = l
	}
	undone, err := undoneKeys(ctx, q)
	if err != nil {
		return 0, 0, 0, err
	}
	var learnt int
	if err := eachLearnt(ctx, q, 0, func(_ int64, _ int, x learntRec) {
		learnt++
		if !undone[[2]uint64{uint64(x.gate), x.seq}] {
			note(x.serial, x.kind, x.corrected)
		}
	}); err != nil {
		return 0, 0, 0, err
	}
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM admissions").Scan(&passages); err != nil {
		return 0, 0, 0, err
	}
	passages += learnt
	// SQLite takes the bare column kind from the row holding max(corrected)
	// only when that is the query's one min() or max(): entries are
	// counted with sum().
	rows, err := q.QueryContext(ctx, `SELECT serial, kind, max(corrected), sum(kind != 'exit') > 0 FROM admissions a
		WHERE kind != 'undo' AND `+notUndone+` GROUP BY serial`)
	if err != nil {
		return 0, 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var serial uint32
		var kind string
		var at int64
		var ent bool
		if err := rows.Scan(&serial, &kind, &at, &ent); err != nil {
			return 0, 0, 0, err
		}
		note(serial, kind, at)
		if ent {
			l := per[serial]
			l.ent = true
			per[serial] = l
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, err
	}
	for _, l := range per {
		if l.ent {
			admitted++
		}
		if l.in {
			inside++
		}
	}
	return passages, admitted, inside, nil
}
