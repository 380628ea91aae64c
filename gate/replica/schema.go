package replica

// schemaVersion is stored in state.schema; docs/replica.md describes it.
const schemaVersion = 1

// schema creates an empty replica. Times are Unix nanoseconds (UTC) so that
// they compare and sort as integers.
const schema = `
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
	audit_acked   INTEGER NOT NULL DEFAULT 0
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
CREATE TABLE roster (
	serial    INTEGER PRIMARY KEY,
	tier      INTEGER NOT NULL,
	holder    TEXT NOT NULL,
	order_ref TEXT NOT NULL,
	revoked   INTEGER NOT NULL,
	search    TEXT NOT NULL
);
CREATE TABLE admissions (
	gate      INTEGER NOT NULL,
	seq       INTEGER NOT NULL CHECK (seq >= 1),
	serial    INTEGER NOT NULL,
	tier      INTEGER NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('entry', 'exit', 'manual')),
	at        INTEGER NOT NULL,
	corrected INTEGER NOT NULL,
	text      TEXT NOT NULL,
	hash      TEXT NOT NULL,
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
INSERT INTO state (id, schema) VALUES (1, 1);
`
