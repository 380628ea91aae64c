package replica

import "database/sql"

// schemaVersion is stored in state.schema; docs/replica.md describes it.
// Version 1 was the schema before sync, version 2 had no clock_scan,
// version 3 had no name_key and order_key and folded search keys without
// kana or variant kanji folding, version 4 had no staff reasons and no
// voids, version 5 had no readings and no word index but a search column
// read whole by substring searches; Open upgrades each.
const schemaVersion = 6

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
	order_key TEXT NOT NULL DEFAULT ''` + rosterV6 + `
)`

// rosterV6 are the roster columns version 6 added.
const rosterV6 = `,
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
// conflicting_admissions, which holds the same records: those of version 4
// and the staff reason version 5 added.
const admissionColumns = admissionColumnsV4 + `
	reason    TEXT NOT NULL DEFAULT '',
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
	entries INTEGER NOT NULL CHECK (entries >= 0)
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
	revoked   INTEGER NOT NULL
);
CREATE TABLE roster ` + rosterColumns + `;
CREATE INDEX roster_name ON roster (name_key);
CREATE INDEX roster_order ON roster (order_key);
CREATE INDEX roster_reading ON roster (reading_key);
` + wordsTable("roster_words") + `;
CREATE TABLE admissions (` + admissionColumns + `
	PRIMARY KEY (gate, seq)
) WITHOUT ROWID;
CREATE INDEX admissions_serial ON admissions (serial);
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
` + conflictingTable(admissionColumns) + tablesV5 + `
INSERT INTO state (id, schema) VALUES (1, 6); -- schemaVersion
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
	// A column added last in both tables, as admissionColumns has it.
	4: `ALTER TABLE admissions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE conflicting_admissions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
` + tablesV5,
	// The word index is filled by indexRoster, after.
	5: `ALTER TABLE roster DROP COLUMN search;
ALTER TABLE roster ADD COLUMN reading TEXT NOT NULL DEFAULT '';
ALTER TABLE roster ADD COLUMN reading_key TEXT NOT NULL DEFAULT '';
ALTER TABLE roster ADD COLUMN doc INTEGER NOT NULL DEFAULT 0;
CREATE INDEX roster_reading ON roster (reading_key);
` + wordsTable("roster_words") + `;`,
}

// refolds[v] runs after migrations[v], in its transaction, for what SQL
// cannot do: version 3 to 4 folds every roster entry's keys again with
// gate.NormalizeSearch; version 5 to 6 fills the word index.
var refolds = map[int]func(*sql.Tx) error{
	3: refoldRoster,
	5: indexRoster,
}
