package replica

import "database/sql"

// schemaVersion is stored in state.schema; docs/replica.md describes it.
// Version 1 was the schema before sync, version 2 had no clock_scan,
// version 3 had no name_key and order_key and folded search keys without
// kana or variant kanji folding, version 4 had no staff reasons and no
// voids, version 5 had no undos, version 6 had no gate keys and record
// signatures, version 7 had no retired tiers and no replacement serials,
// version 8 had no readings and no word index but a search column read
// whole by substring searches, version 9 had no learnt tables (other
// gates' admissions from compact feed pages went to admissions; see
// learnt.go); Open upgrades each.
const schemaVersion = 10

// rosterColumns is the roster table's body, shared by the schema and the
// stage table a snapshot is loaded into (see Apply). The *_key columns are
// gate.NormalizeSearch folds; doc is the docid of the entry's row in the
// word index (search.go).
const rosterColumns = `(
	serial    INTEGER PRIMARY KEY,
	tier      INTEGER NOT NULL,
	holder    TEXT NOT NULL,
	order_ref TEXT NOT NULL,
	revoked   INTEGER NOT NULL,
	name_key  TEXT NOT NULL DEFAULT '',
	order_key TEXT NOT NULL DEFAULT '',
	replaced_by INTEGER NOT NULL DEFAULT 0` + rosterV9 + `
)`

// rosterV9 are the roster columns version 9 added.
const rosterV9 = `,
	reading     TEXT NOT NULL DEFAULT '',
	reading_key TEXT NOT NULL DEFAULT '',
	doc         INTEGER NOT NULL DEFAULT 0`

// rosterIndexes indexes a stage table named %[1]s for Find's prefix search.
// Index names are global and follow a stage table when it is renamed to
// roster, so each stage's carry its random suffix %[2]s.
const rosterIndexes = `CREATE INDEX roster_name_%[2]s ON %[1]s (name_key);
CREATE INDEX roster_order_%[2]s ON %[1]s (order_key);
CREATE INDEX roster_reading_%[2]s ON %[1]s (reading_key);`

// admissionColumns are the columns of admissions and of
// conflicting_admissions, which hold the same records: version 6's, where
// an admission may be an undo (kido.KindUndo) naming the seq it undoes.
// SQLite cannot widen a CHECK in place, so the upgrade to version 6
// rebuilds both tables (undoTables).
const admissionColumns = `
	gate      INTEGER NOT NULL,
	seq       INTEGER NOT NULL CHECK (seq >= 1),
	serial    INTEGER NOT NULL,
	tier      INTEGER NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'manual', 'undo')),
	at        INTEGER NOT NULL,
	corrected INTEGER NOT NULL,
	text      TEXT NOT NULL,
	hash      TEXT NOT NULL,
	reason    TEXT NOT NULL DEFAULT '',
	undoes    INTEGER NOT NULL DEFAULT 0 CHECK ((kind = 'undo') = (undoes >= 1)),
`

// admissionColumnsV4 are the admission columns up to version 4, with which
// the upgrade from version 1 creates conflicting_admissions before the
// upgrade to version 5 adds the reason.
const admissionColumnsV4 = `
	gate      INTEGER NOT NULL,
	seq       INTEGER NOT NULL CHECK (seq >= 1),
	serial    INTEGER NOT NULL,
	tier      INTEGER NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'manual')),
	at        INTEGER NOT NULL,
	corrected INTEGER NOT NULL,
	text      TEXT NOT NULL,
	hash      TEXT NOT NULL,`

// schema creates an empty replica. Times are Unix nanoseconds (UTC) so that
// they compare and sort as integers.
var schema = `
CREATE TABLE state (
	id            INTEGER PRIMARY KEY CHECK (id = 1),
	schema        INTEGER NOT NULL,
	generation    INTEGER NOT NULL DEFAULT 0,
	gate          INTEGER NOT NULL DEFAULT 0,
	server_id     TEXT NOT NULL DEFAULT '',
	server_fp     TEXT NOT NULL DEFAULT '',
	server_url    TEXT NOT NULL DEFAULT '',
	cursor        TEXT NOT NULL DEFAULT '',
	server_time   INTEGER NOT NULL DEFAULT 0,
	last_sync     INTEGER NOT NULL DEFAULT 0,
	acked_seq     INTEGER NOT NULL DEFAULT 0,
	audit_acked   INTEGER NOT NULL DEFAULT 0` + stateV2 + stateV3 + `
);
CREATE TABLE event (
	id        INTEGER PRIMARY KEY,
	name      TEXT NOT NULL,
	venue     TEXT NOT NULL,
	start     INTEGER NOT NULL,
	end       INTEGER NOT NULL,
	time_zone TEXT NOT NULL
);
CREATE TABLE tiers (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL,
	entries INTEGER NOT NULL CHECK (entries >= 0),
	retired INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE keys (
	id         TEXT PRIMARY KEY,
	public     TEXT NOT NULL,
	not_before INTEGER,
	not_after  INTEGER,
	revoked    INTEGER NOT NULL,
	current    INTEGER NOT NULL
);
CREATE TABLE gates (
	id        INTEGER PRIMARY KEY,
	name      TEXT NOT NULL,
	tiers     TEXT NOT NULL,
	direction TEXT NOT NULL,
	revoked   INTEGER NOT NULL` + gatesV7 + `
);
CREATE TABLE roster ` + rosterColumns + `;
CREATE INDEX roster_name ON roster (name_key);
CREATE INDEX roster_order ON roster (order_key);
CREATE INDEX roster_reading ON roster (reading_key);
` + wordsTable("roster_words") + `;
CREATE TABLE admissions (` + admissionColumns + admissionsV7 + `
	PRIMARY KEY (gate, seq)
) WITHOUT ROWID;
CREATE INDEX admissions_serial ON admissions (serial);
CREATE INDEX admissions_undoes ON admissions (gate, undoes) WHERE kind = 'undo';
CREATE TABLE scans (
	id        INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	corrected INTEGER NOT NULL,
	presented TEXT NOT NULL,
	length    INTEGER NOT NULL,
	serial    INTEGER,
	kind      TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'manual')),
	decision  TEXT NOT NULL CHECK (decision IN ('admit', 'reject')),
	reason    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	seq       INTEGER,
	audit_seq INTEGER UNIQUE,
	hash      TEXT
);
` + conflictingTable(admissionColumns) + tablesV5 + tablesV10 + `
INSERT INTO state (id, schema) VALUES (1, 10); -- schemaVersion
`

// stateV2 are the sync columns version 2 added to state.
const stateV2 = `,
	seq_floor     INTEGER NOT NULL DEFAULT 0,
	audit_floor   INTEGER NOT NULL DEFAULT 0,
	conflict      TEXT NOT NULL DEFAULT '',
	refused       TEXT NOT NULL DEFAULT '',
	contact       INTEGER NOT NULL DEFAULT 0,
	contact_error TEXT NOT NULL DEFAULT '',
	stage         TEXT NOT NULL DEFAULT ''`

// stateV3 is the column version 3 added to state: the id of the last scan
// when a server time was last stored, so that reopening the replica takes
// a local clock floor only from scans recorded after it (kido.Clock).
const stateV3 = `,
	clock_scan    INTEGER NOT NULL DEFAULT 0`

// conflictingTable creates the table version 2 added, with columns cols.
func conflictingTable(cols string) string {
	return `
CREATE TABLE conflicting_admissions (` + cols + `
	PRIMARY KEY (gate, seq, hash)
) WITHOUT ROWID;
CREATE INDEX conflicting_admissions_serial ON conflicting_admissions (serial);
`
}

// tablesV5 are the tables version 5 added: the operators' voids of revoked
// gates (kido.Void), as the server sent them. A void is never undone, so
// the table only grows; the same void applied twice is one row.
const tablesV5 = `
CREATE TABLE voids (
	gate      INTEGER NOT NULL,
	from_time INTEGER NOT NULL,
	reason    TEXT NOT NULL,
	by        TEXT NOT NULL,
	created   INTEGER NOT NULL,
	PRIMARY KEY (gate, from_time, created)
) WITHOUT ROWID;
`

// gatesV7 are the gate columns version 6 added (docs/mesh.md): the gate's
// Ed25519 public key (NULL: none, a gate enrolled before gate keys), its
// mesh address (empty: unknown) and the server time of its revocation (NULL:
// not revoked, or revoked by a server that did not say when).
const gatesV7 = `,
	pub        BLOB CHECK (pub IS NULL OR length(pub) = 32),
	mesh       TEXT NOT NULL DEFAULT '',
	revoked_at INTEGER`

// admissionsV7 is the admission column version 7 added: the origin gate's
// signature (NULL: unsigned, as the feed and the snapshot carry records,
// or made by a gate without a key). Only admissions has it: a record kept
// beside another in conflicting_admissions is never passed on to peers.
const admissionsV7 = `
	sig       BLOB CHECK (sig IS NULL OR length(sig) = 64),`

// migrations[v] upgrades a replica of schema version v to v+1, inside one
// transaction with the update of state.schema.
var migrations = map[int]string{
	1: `ALTER TABLE state ADD COLUMN seq_floor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE state ADD COLUMN audit_floor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE state ADD COLUMN conflict TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN refused TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN contact INTEGER NOT NULL DEFAULT 0;
ALTER TABLE state ADD COLUMN contact_error TEXT NOT NULL DEFAULT '';
ALTER TABLE state ADD COLUMN stage TEXT NOT NULL DEFAULT '';
` + conflictingTable(admissionColumnsV4),
	2: `ALTER TABLE state ADD COLUMN clock_scan INTEGER NOT NULL DEFAULT 0;`,
	3: `ALTER TABLE roster ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE roster ADD COLUMN order_key TEXT NOT NULL DEFAULT '';
CREATE INDEX roster_name ON roster (name_key);
CREATE INDEX roster_order ON roster (order_key);`,
	// A column added last in both tables, as admissionColumns had it at version 5.
	4: `ALTER TABLE admissions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE conflicting_admissions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
` + tablesV5,
	5: undoTables,
	6: `ALTER TABLE gates ADD COLUMN pub BLOB CHECK (pub IS NULL OR length(pub) = 32);
ALTER TABLE gates ADD COLUMN mesh TEXT NOT NULL DEFAULT '';
ALTER TABLE gates ADD COLUMN revoked_at INTEGER;
ALTER TABLE admissions ADD COLUMN sig BLOB CHECK (sig IS NULL OR length(sig) = 64);`,
	// Columns added last, as the schema has them (a snapshot's stage
	// table is made from rosterColumns).
	7: `ALTER TABLE tiers ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE roster ADD COLUMN replaced_by INTEGER NOT NULL DEFAULT 0;`,
	// The word index is filled by indexRoster, after.
	8: `ALTER TABLE roster DROP COLUMN search;
ALTER TABLE roster ADD COLUMN reading TEXT NOT NULL DEFAULT '';
ALTER TABLE roster ADD COLUMN reading_key TEXT NOT NULL DEFAULT '';
ALTER TABLE roster ADD COLUMN doc INTEGER NOT NULL DEFAULT 0;
CREATE INDEX roster_reading ON roster (reading_key);
` + wordsTable("roster_words") + `;`,
	// The admissions a replica learned from compact pages before stay
	// where they are: decisions read both tables.
	9: tablesV10,
}

// undoTables upgrades admissions and conflicting_admissions to version 6
// (admissionColumns): each rebuilt under a new name with its rows, then
// renamed, its indexes made again. A replica of a million admissions takes
// a few seconds, once.
var undoTables = rebuildAdmissions("admissions", "gate, seq", `CREATE INDEX admissions_serial ON admissions (serial);
CREATE INDEX admissions_undoes ON admissions (gate, undoes) WHERE kind = 'undo';`) +
	rebuildAdmissions("conflicting_admissions", "gate, seq, hash", `CREATE INDEX conflicting_admissions_serial ON conflicting_admissions (serial);`)

// rebuildAdmissions is the statements that rebuild a version 5 admission
// table with primary key key as version 6's, then run indexes.
func rebuildAdmissions(table, key, indexes string) string {
	const v5 = "gate, seq, serial, tier, kind, at, corrected, text, hash, reason"
	return `
CREATE TABLE ` + table + `_v6 (` + admissionColumns + `
	PRIMARY KEY (` + key + `)
) WITHOUT ROWID;
INSERT INTO ` + table + `_v6 (` + v5 + `) SELECT ` + v5 + ` FROM ` + table + `;
DROP TABLE ` + table + `;
ALTER TABLE ` + table + `_v6 RENAME TO ` + table + `;
` + indexes + "\n"
}

// refolds[v] runs after migrations[v], in its transaction, for what SQL
// cannot do: version 3 to 4 folds every roster entry's keys again with
// gate.NormalizeSearch; version 8 to 9 fills the word index.
var refolds = map[int]func(*sql.Tx) error{
	3: refoldRoster,
	8: indexRoster,
}
