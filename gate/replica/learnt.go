package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// Other gates' admissions learned from compact feed pages (version 2,
// docs/sync-protocol.md §4.5) are kept apart from the records the gate can
// upload or relay: a check instead of a hash, no text, no device time. A
// catching-up gate writes hundreds of thousands of them, so their table
// is built to be appended to: rows in the order learned, a unique index on
// (gate, seq) that the feed also fills nearly in order, and no index by
// serial. A random insert into a serial index of half a million rows
// dirtied a page per admission and cost most of the apply (about 9 µs of
// a catching-up gate's CPU per admission); decisions find a ticket's rows
// through an index by serial kept in memory instead (learntIndex), built
// from the table the first time a decision needs it and extended as rows
// come. docs/replica.md ("Learnt admissions") binds this.

// tablesV6 is the table version 6 added. kind carries no CHECK: the feed's
// checks (checkChange) decide which kinds are taken, so a new kind needs
// no migration of this table.
const tablesV6 = `
CREATE TABLE learnt (
	id        INTEGER PRIMARY KEY,
	gate      INTEGER NOT NULL,
	seq       INTEGER NOT NULL CHECK (seq >= 1),
	serial    INTEGER NOT NULL,
	tier      INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	corrected INTEGER NOT NULL,
	chk       INTEGER NOT NULL,
	UNIQUE (gate, seq)
);
`

// checkOf returns the check of a hash (a whole one or a check alone) as
// learnt stores it: its first wire.CheckLen bytes as a signed integer.
func checkOf(hash string) (int64, error) {
	if len(hash) < 2*wire.CheckLen {
		return 0, fmt.Errorf("hash %q is shorter than a check", hash)
	}
	u, err := strconv.ParseUint(hash[:2*wire.CheckLen], 16, 64)
	return int64(u), err
}

// checkHex is the check as the hex digits a compact page carries.
func checkHex(c int64) string { return fmt.Sprintf("%016x", uint64(c)) }

// learntIndex finds the rows of learnt by serial. Rows are never deleted
// or changed and their ids only grow, so the index follows the table by
// reading the rows after the highest id it holds.
type learntIndex struct {
	upTo int64   // highest learnt.id indexed
	ids  []int64 // ids[i]: the id of indexed row i
	prev []int32 // prev[i]: 1 + the index of the row before i of the same serial; 0 none
	near []int32 // near[s]: 1 + the index of serial s's latest row; 0 none (s < nearSerials)
	far  map[uint32]int32
}

// nearSerials bounds the serials held in a slice rather than a map: 4 bytes
// a serial up to the highest seen, which serials issued from 1 fill; a
// stray large serial costs a map entry, not a slice that long.
const nearSerials = 1 << 22

func (x *learntIndex) add(id int64, serial uint32) {
	i := int32(len(x.ids)) + 1
	x.ids = append(x.ids, id)
	x.upTo = id
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

// rows returns the ids of serial's rows, latest first.
func (x *learntIndex) rows(serial uint32) []int64 {
	var i int32
	if serial < nearSerials {
		if int(serial) < len(x.near) {
			i = x.near[serial]
		}
	} else {
		i = x.far[serial]
	}
	var ids []int64
	for ; i != 0; i = x.prev[i-1] {
		ids = append(ids, x.ids[i-1])
	}
	return ids
}

// learntRow is a row written to learnt, for the index.
type learntRow struct {
	id     int64
	serial uint32
}

// refreshLearnt brings the index up to the rows committed (or written in
// q's transaction) by this or any other process, building it the first
// time. Called with r.mu held.
func (r *Replica) refreshLearnt(ctx context.Context, q querier) error {
	if r.learnt == nil {
		r.learnt = &learntIndex{}
	}
	rows, err := q.QueryContext(ctx, "SELECT id, serial FROM learnt WHERE id > ? ORDER BY id", r.learnt.upTo)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var row learntRow
		if err := rows.Scan(&row.id, &row.serial); err != nil {
			return err
		}
		r.learnt.add(row.id, row.serial)
	}
	return rows.Err()
}

// noteLearnt adds the rows a committed transaction wrote to learnt, after
// the highest id before was before, to an index built already. When the
// index is behind before (another process wrote rows in between), it is
// left as it is: the next refresh reads them all in order.
func (r *Replica) noteLearnt(before int64, rows []learntRow) {
	if r.learnt == nil || r.learnt.upTo != before {
		return
	}
	for _, row := range rows {
		r.learnt.add(row.id, row.serial)
	}
}

// learntHistory returns serial's passages learned from compact pages.
// Called with r.mu held.
func (r *Replica) learntHistory(ctx context.Context, q querier, serial uint32) ([]kido.Passage, error) {
	if err := r.refreshLearnt(ctx, q); err != nil {
		return nil, err
	}
	var ps []kido.Passage
	for _, id := range r.learnt.rows(serial) {
		var p kido.Passage
		var at int64
		if err := q.QueryRowContext(ctx, "SELECT gate, seq, kind, corrected FROM learnt WHERE id = ?", id).Scan(&p.Gate, &p.Seq, &p.Kind, &at); err != nil {
			return nil, err
		}
		p.At = fromNanos(at)
		ps = append(ps, p)
	}
	return ps, nil
}

// mergeLearnt merges admissions of other gates carrying a check only
// (wire.IsCheckOnly) with the rules of mergeAdmissions: a (gate, seq) not
// held goes to learnt; one held, in learnt or in admissions, with the same
// check is left alone; one held with another check is kept beside it in
// conflicting_admissions. It returns the highest learnt id before and the
// rows it wrote, for noteLearnt once the transaction is committed.
func mergeLearnt(ctx context.Context, tx *sql.Tx, as []kido.Admission) (Merge, int64, []learntRow, error) {
	var m Merge
	if len(as) == 0 {
		return m, 0, nil, nil
	}
	ctx = context.WithoutCancel(ctx) // see mergeAdmissions
	// A key held in admissions (a snapshot's or a JSON page's record) is
	// merged there, by mergeAdmissions's rules; a page holds few gates,
	// each a run of seqs, so one range read per gate finds them.
	held, err := heldInAdmissions(ctx, tx, as)
	if err != nil {
		return m, 0, nil, err
	}
	if len(held) > 0 {
		var there []kido.Admission
		rest := as[:0:0]
		for _, a := range as {
			if held[[2]uint64{uint64(a.Gate), a.Seq}] {
				there = append(there, a)
			} else {
				rest = append(rest, a)
			}
		}
		if m, err = mergeAdmissions(ctx, tx, there); err != nil {
			return m, 0, nil, err
		}
		as = rest
	}
	var before int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(max(id), 0) FROM learnt").Scan(&before); err != nil {
		return m, 0, nil, err
	}
	last := before
	var written []learntRow
	var ins, get, alt *sql.Stmt
	defer func() {
		for _, s := range []*sql.Stmt{ins, get, alt} {
			if s != nil {
				s.Close()
			}
		}
	}()
	args := make([]any, 0, 7*mergeChunk)
	for len(as) > 0 {
		chunk := as[:min(mergeChunk, len(as))]
		as = as[len(chunk):]
		args = args[:0]
		for _, a := range chunk {
			c, err := checkOf(a.Hash)
			if err != nil {
				return m, 0, nil, err
			}
			args = append(args, a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.Corrected), c)
		}
		var res sql.Result
		if len(chunk) == mergeChunk {
			if ins == nil {
				if ins, err = tx.PrepareContext(ctx, insertLearnt(mergeChunk)); err != nil {
					return m, 0, nil, err
				}
			}
			res, err = ins.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, insertLearnt(len(chunk)), args...)
		}
		if err != nil {
			return m, 0, nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return m, 0, nil, err
		}
		m.Added += int(n)
		if int(n) == len(chunk) {
			// Each row took the highest id plus one, in order: nothing is
			// ever deleted from learnt.
			for i, a := range chunk {
				written = append(written, learntRow{id: last + int64(i) + 1, serial: a.Serial})
			}
			last += n
			continue
		}
		// Some keys were held: rows with an id above last are this
		// chunk's, the first of each key; the others are compared.
		if get == nil {
			if get, err = tx.PrepareContext(ctx, "SELECT id, chk FROM learnt WHERE gate = ? AND seq = ?"); err != nil {
				return m, 0, nil, err
			}
		}
		top := last
		for _, a := range chunk {
			var id, chk int64
			if err := get.QueryRowContext(ctx, a.Gate, a.Seq).Scan(&id, &chk); err != nil {
				return m, 0, nil, err
			}
			if id > top {
				written = append(written, learntRow{id: id, serial: a.Serial})
				top = id
				continue
			}
			if c, _ := checkOf(a.Hash); c == chk {
				m.Known++
				continue
			}
			if err := keepConflicting(ctx, tx, &alt, a); err != nil {
				return m, 0, nil, err
			}
			m.Conflicting++
		}
		last = top
	}
	return m, before, written, nil
}

// heldInAdmissions returns which keys of as the admissions table holds.
func heldInAdmissions(ctx context.Context, tx *sql.Tx, as []kido.Admission) (map[[2]uint64]bool, error) {
	type span struct{ lo, hi uint64 }
	spans := map[uint32]span{}
	for _, a := range as {
		s, ok := spans[a.Gate]
		if !ok {
			s = span{a.Seq, a.Seq}
		}
		s.lo, s.hi = min(s.lo, a.Seq), max(s.hi, a.Seq)
		spans[a.Gate] = s
	}
	var held map[[2]uint64]bool
	for g, s := range spans {
		rows, err := tx.QueryContext(ctx, "SELECT seq FROM admissions WHERE gate = ? AND seq BETWEEN ? AND ?", g, s.lo, s.hi)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var seq uint64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return nil, err
			}
			if held == nil {
				held = map[[2]uint64]bool{}
			}
			held[[2]uint64{uint64(g), seq}] = true
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
func notLearnt(ctx context.Context, tx *sql.Tx, as []kido.Admission, alt **sql.Stmt) ([]kido.Admission, Merge, error) {
	var m Merge
	var any bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM learnt)").Scan(&any); err != nil || !any {
		return as, m, err
	}
	get, err := tx.PrepareContext(ctx, "SELECT chk FROM learnt WHERE gate = ? AND seq = ?")
	if err != nil {
		return nil, m, err
	}
	defer get.Close()
	rest := as[:0:0]
	for _, a := range as {
		var chk int64
		err := get.QueryRowContext(ctx, a.Gate, a.Seq).Scan(&chk)
		if err == sql.ErrNoRows {
			rest = append(rest, a)
			continue
		}
		if err != nil {
			return nil, m, err
		}
		if c, err := checkOf(a.Hash); err == nil && c == chk {
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
		if *alt, err = tx.PrepareContext(ctx, `INSERT INTO conflicting_admissions (gate, seq, serial, tier, kind, at, corrected, text, hash, reason)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE NOT EXISTS (SELECT 1 FROM conflicting_admissions
			WHERE gate = ?1 AND seq = ?2 AND substr(hash, 1, 16) = substr(?9, 1, 16))`); err != nil {
			return err
		}
	}
	_, err := (*alt).ExecContext(ctx, a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason)
	return err
}

// insertLearnt returns the statement that inserts n learnt admissions,
// each unless its key is held.
func insertLearnt(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO learnt (gate, seq, serial, tier, kind, corrected, chk) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT (gate, seq) DO NOTHING")
	return b.String()
}
