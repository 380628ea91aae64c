package replica

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
)

// The word index: Find's substring search over names and readings, in
// the table roster_words (docs/replica.md, "Word index").
//
// A substring of a folded name can begin anywhere, so no B-tree index on
// the name serves it, and reading every name takes a third of a second for
// a million tickets. Instead each folded name and reading is cut into
// words that SQLite's full-text engine (FTS4, built into the driver
// without a build tag) indexes: every character alone and every pair of
// neighbouring characters (佐藤花子 → 佐 藤 花 子 佐藤 藤花 花子). Every
// entry holding a query of two characters or more holds all the query's
// pairs, and one holding a single character holds that word, so the index
// finds a superset of the entries that hold the query, in docid order and
// lazily; each candidate is then checked against its folded name and
// reading, so only real substrings are returned. Japanese names are short
// and a surname is often two characters, hence pairs rather than the
// trigrams of FTS5's tokenizer, which cannot find a two-character name
// inside another.
//
// The index is contentless (it keeps the words' postings, not the text),
// and a contentless FTS4 table cannot delete a row. So a roster entry's
// row is named by a docid kept in roster.doc, whose low 32 bits are the
// serial: when a feed change gives an entry another name or reading, its
// words go in under a new docid (the old one plus 2^32) and the old row
// stays behind, unreachable, since a candidate counts only when its docid
// is its entry's doc. A snapshot rebuilds the index whole.

// wordsTable creates a word index named name and the table of how many
// rows of it hold each pair (countsOf), from which a query picks its
// rarest pairs: the index reads every posting of each word it is asked
// for, so asking for the two rarest is what keeps a query fast.
func wordsTable(name string) string {
	return `CREATE VIRTUAL TABLE ` + name + ` USING fts4(name, reading, content="", tokenize=simple);
CREATE TABLE ` + countsOf(name) + ` (word TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID`
}

// countsOf names the pair counts of the word index name.
func countsOf(name string) string { return name + "_count" }

// queryWords is how many pairs a query asks the index for, the rarest.
const queryWords = 2

// wordsOf names the word index of the roster table (or stage table) table.
func wordsOf(table string) string { return table + "_words" }

// words cuts a folded key into the words the index holds: each character
// and each pair of neighbours, separated by spaces. Folded keys hold only
// letters, digits and marks, which FTS4's simple tokenizer keeps whole
// (every non-ASCII byte is a token byte), so each word is one token.
func words(key string, pairs map[string]int) string {
	rs := []rune(key)
	var b strings.Builder
	b.Grow(3 * len(key))
	for i := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(rs[i]))
		if i+1 < len(rs) {
			p := string(rs[i : i+2])
			b.WriteByte(' ')
			b.WriteString(p)
			pairs[p]++
		}
	}
	return b.String()
}

// wordQuery is the MATCH expression for a folded query q: words every
// entry holding q holds, all required. A single character is its own
// word; of a longer query's pairs, the queryWords rarest. ok is false
// when some pair of q is in no entry, so none holds q.
func wordQuery(ctx context.Context, conn interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string) (expr string, ok bool, err error) {
	rs := []rune(q)
	if len(rs) == 1 {
		return `"` + q + `"`, true, nil
	}
	type pair struct {
		word string
		n    int64
	}
	var ps []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(rs); i++ {
		w := string(rs[i : i+2])
		if seen[w] {
			continue
		}
		seen[w] = true
		var n int64
		err := conn.QueryRowContext(ctx, "SELECT n FROM "+countsOf("roster_words")+" WHERE word = ?", w).Scan(&n)
		if err == sql.ErrNoRows {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		ps = append(ps, pair{w, n})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return cmp.Compare(a.n, b.n) })
	var words []string
	for _, p := range ps[:min(queryWords, len(ps))] {
		words = append(words, p.word)
	}
	// Quoted, each pair is a token and never an operator of the query
	// syntax; folded keys hold no quotes.
	return `"` + strings.Join(words, `" "`) + `"`, true, nil
}

// findInside is Find's substring search: the serials of entries whose
// folded name or reading holds q, in docid order (serial order, entries
// renamed since the snapshot after), at most limit.
const findInside = `SELECT r.serial FROM roster_words w JOIN roster r ON r.serial = (w.docid & 4294967295)
	WHERE roster_words MATCH ? AND r.doc = w.docid AND (instr(r.name_key, ?) > 0 OR instr(r.reading_key, ?) > 0)
	ORDER BY w.docid LIMIT ?`

// wordWriter puts roster entries' words into the word index of one roster
// table, inside a transaction.
type wordWriter struct {
	ins   *sql.Stmt // a row of the word index
	count *sql.Stmt // adds to a pair's count
	old   *sql.Stmt // an entry's doc and keys; nil for a fresh stage table
	pairs map[string]int
}

// newWordWriter prepares to index entries of table; fresh says the table
// holds none yet, so there is nothing to look up.
func newWordWriter(ctx context.Context, tx *sql.Tx, table string, fresh bool) (*wordWriter, error) {
	w := &wordWriter{pairs: map[string]int{}}
	var err error
	if w.ins, err = tx.PrepareContext(ctx, "INSERT INTO "+wordsOf(table)+" (docid, name, reading) VALUES (?, ?, ?)"); err != nil {
		return nil, err
	}
	if w.count, err = tx.PrepareContext(ctx, "INSERT INTO "+countsOf(wordsOf(table))+" (word, n) VALUES (?, ?) ON CONFLICT (word) DO UPDATE SET n = n + excluded.n"); err != nil {
		w.ins.Close()
		return nil, err
	}
	if !fresh {
		if w.old, err = tx.PrepareContext(ctx, "SELECT doc, name_key, reading_key FROM "+table+" WHERE serial = ?"); err != nil {
			w.ins.Close()
			w.count.Close()
			return nil, err
		}
	}
	return w, nil
}

// flush adds the pairs of the entries indexed to their counts; the
// caller's transaction commits them with the rows.
func (w *wordWriter) flush(ctx context.Context) error {
	for p, n := range w.pairs {
		if _, err := w.count.ExecContext(ctx, p, n); err != nil {
			return err
		}
	}
	clear(w.pairs)
	return nil
}

func (w *wordWriter) close() {
	w.ins.Close()
	w.count.Close()
	if w.old != nil {
		w.old.Close()
	}
}

// index returns the docid under which serial's keys k are in the index,
// adding them unless the entry is there with the same name and reading
// (a revocation changes neither).
func (w *wordWriter) index(ctx context.Context, serial uint32, k searchKeys) (int64, error) {
	doc := int64(serial)
	if w.old != nil {
		var old int64
		var name, reading string
		err := w.old.QueryRowContext(ctx, serial).Scan(&old, &name, &reading)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return 0, err
		case old != 0 && name == k.name && reading == k.reading:
			return old, nil
		case old != 0:
			doc = old + 1<<32
		}
	}
	// A pair is counted once per entry, in name or reading.
	pairs := map[string]int{}
	name, reading := words(k.name, pairs), words(k.reading, pairs)
	for p := range pairs {
		w.pairs[p]++
	}
	_, err := w.ins.ExecContext(ctx, doc, name, reading)
	return doc, err
}

// indexRoster fills the word index of a replica upgraded to version 6,
// whose entries have no reading yet.
func indexRoster(tx *sql.Tx) error {
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, "UPDATE roster SET doc = serial"); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, "SELECT serial, name_key FROM roster")
	if err != nil {
		return err
	}
	defer rows.Close()
	w, err := newWordWriter(ctx, tx, "roster", true)
	if err != nil {
		return err
	}
	defer w.close()
	for rows.Next() {
		var serial uint32
		var k searchKeys
		if err := rows.Scan(&serial, &k.name); err != nil {
			return err
		}
		if _, err := w.index(ctx, serial, k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return w.flush(ctx)
}
