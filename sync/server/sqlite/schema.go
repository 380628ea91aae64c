package sqlite

// schemaVersion is stored in PRAGMA user_version: the number of
// migrations applied.
var schemaVersion = len(migrations)

// migrations[v] upgrades a database of schema version v to v+1; version 0
// is an empty file.
var migrations = []string{schema, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6, schemaV7, schemaV8, schemaV9}

// schema creates the tables. Times are RFC 3339 text (event start and end
// keep the venue's offset; everything else is UTC).
const schema = `
CREATE TABLE identity (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	public  TEXT NOT NULL,
	sealed  BLOB NOT NULL
);
CREATE TABLE tokens (
	id       INTEGER PRIMARY KEY,
	name     TEXT NOT NULL,
	scope    TEXT NOT NULL,
	events   TEXT NOT NULL DEFAULT '',  -- comma-separated event ids
	gate     INTEGER,
	hash     BLOB NOT NULL UNIQUE,      -- SHA-256 of the secret
	created  TEXT NOT NULL,
	revoked  TEXT
);
CREATE TABLE events (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	venue      TEXT NOT NULL,
	start      TEXT NOT NULL,
	end        TEXT NOT NULL,
	time_zone  TEXT NOT NULL DEFAULT '',
	created    TEXT NOT NULL
);
CREATE TABLE tiers (
	event    INTEGER NOT NULL REFERENCES events(id),
	id       INTEGER NOT NULL CHECK (id BETWEEN 1 AND 255),
	name     TEXT NOT NULL COLLATE NOCASE,
	entries  INTEGER NOT NULL,
	PRIMARY KEY (event, id),
	UNIQUE (event, name)
);
CREATE TABLE keys (
	event    INTEGER NOT NULL REFERENCES events(id),
	id       TEXT NOT NULL,                 -- ticket.KeyID, 8 hex digits
	public   TEXT NOT NULL UNIQUE,
	sealed   BLOB NOT NULL,                 -- seed sealed under the master key
	current  INTEGER NOT NULL DEFAULT 0,
	revoked  INTEGER NOT NULL DEFAULT 0,
	created  TEXT NOT NULL,
	PRIMARY KEY (event, id)
);
CREATE TABLE tickets (
	event        INTEGER NOT NULL,
	serial       INTEGER NOT NULL,
	tier         INTEGER NOT NULL,
	holder       TEXT NOT NULL,
	email        TEXT NOT NULL,
	order_ref    TEXT NOT NULL,
	text         TEXT NOT NULL,
	key          TEXT NOT NULL,
	batch        TEXT,                      -- NULL for reissues
	item         INTEGER,
	revoked      INTEGER NOT NULL DEFAULT 0,
	replaces     INTEGER,
	replaced_by  INTEGER,
	PRIMARY KEY (event, serial),
	UNIQUE (event, batch, item),
	FOREIGN KEY (event, tier) REFERENCES tiers(event, id)
);
CREATE INDEX tickets_order ON tickets(event, order_ref) WHERE order_ref <> '';
CREATE TABLE gates (
	id            INTEGER PRIMARY KEY,
	event         INTEGER NOT NULL REFERENCES events(id),
	name          TEXT NOT NULL,
	tiers         TEXT NOT NULL DEFAULT '',  -- comma-separated tier ids; empty: all
	direction     TEXT NOT NULL,
	revoked       INTEGER NOT NULL DEFAULT 0,
	device        TEXT NOT NULL DEFAULT '',
	enrolled      TEXT,
	code_hash     BLOB UNIQUE,
	code_expires  TEXT NOT NULL
);
-- Admissions uploaded by gates; (gate, seq) is their idempotency key.
CREATE TABLE admissions (
	event      INTEGER NOT NULL,
	gate       INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	serial     INTEGER NOT NULL,
	tier       INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	at         TEXT NOT NULL,
	corrected  TEXT NOT NULL,
	text       TEXT NOT NULL DEFAULT '',
	hash       TEXT NOT NULL,
	PRIMARY KEY (gate, seq)
);
CREATE INDEX admissions_event ON admissions(event, serial);
-- The change log the delta feed is read from: one row per change a gate
-- must learn of, payload being a wire.Change in JSON.
CREATE TABLE changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	event    INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	payload  TEXT NOT NULL
);
CREATE INDEX changes_event ON changes(event, seq);
`

// schemaV2 adds what sync needs (docs/sync-protocol.md) to a version 1
// database: change-log tags and times for cursors and pruning, the gates'
// acknowledgements and heartbeats, audit records, quarantine and the
// refused-uploads log.
const schemaV2 = `
-- The tag makes a cursor name one row for ever: a position reused after a
-- restore from backup carries another tag, so the cursor is detected.
ALTER TABLE changes ADD COLUMN tag TEXT NOT NULL DEFAULT '';
ALTER TABLE changes ADD COLUMN created TEXT NOT NULL DEFAULT '';
UPDATE changes SET tag = lower(hex(randomblob(8))), created = strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
ALTER TABLE gates ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gates ADD COLUMN audit_acked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gates ADD COLUMN last_contact TEXT;
ALTER TABLE gates ADD COLUMN pending INTEGER NOT NULL DEFAULT -1;
ALTER TABLE gates ADD COLUMN clock_skew_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gates ADD COLUMN version TEXT NOT NULL DEFAULT '';
-- Audit records of rejected scans; (gate, seq) is their idempotency key.
CREATE TABLE audits (
	event      INTEGER NOT NULL,
	gate       INTEGER NOT NULL,
	seq        INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	reason     TEXT NOT NULL,
	serial     INTEGER NOT NULL,
	at         TEXT NOT NULL,
	corrected  TEXT NOT NULL,
	text       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	PRIMARY KEY (gate, seq)
);
-- Records that reused a stored (gate, seq) with other content: kept beside
-- the first, never replacing it; a retry of the same record adds nothing.
CREATE TABLE quarantine (
	event     INTEGER NOT NULL,
	gate      INTEGER NOT NULL,
	record    TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	payload   TEXT NOT NULL,
	received  TEXT NOT NULL,
	UNIQUE (gate, record, seq, hash)
);
-- Uploads refused because an admission failed ticket verification; the
-- gate's retries of the same record add nothing.
CREATE TABLE refused_uploads (
	id        INTEGER PRIMARY KEY,
	event     INTEGER NOT NULL,
	gate      INTEGER NOT NULL,
	record    TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	error     TEXT NOT NULL,
	received  TEXT NOT NULL,
	UNIQUE (gate, record, seq, hash)
);

`

// schemaV3 adds the row that health's write probe rewrites (Store.Probe).
const schemaV3 = `
CREATE TABLE probe (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	at  TEXT NOT NULL
);
`

// schemaV4 adds what the server's upload checks need (docs/sync-protocol.md
// §3.6): an admission's staff reason, its status and why; the change-log
// position of each ticket's and key's revocation (revocations made before
// version 4 take the log head, the latest they can have been); the voids.
const schemaV4 = `
ALTER TABLE admissions ADD COLUMN reason TEXT NOT NULL DEFAULT '';
-- '' counted; 'suspect', 'refused' or 'voided': kept, counted nowhere.
ALTER TABLE admissions ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE admissions ADD COLUMN why TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN revoked_pos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN revoked_pos INTEGER NOT NULL DEFAULT 0;
UPDATE tickets SET revoked_pos = (SELECT COALESCE(MAX(seq), 0) FROM changes) WHERE revoked = 1;
UPDATE keys SET revoked_pos = (SELECT COALESCE(MAX(seq), 0) FROM changes) WHERE revoked = 1;
CREATE TABLE voids (
	id       INTEGER PRIMARY KEY,
	event    INTEGER NOT NULL,
	gate     INTEGER NOT NULL,
	from_t   TEXT NOT NULL,
	reason   TEXT NOT NULL,
	by       TEXT NOT NULL,
	created  TEXT NOT NULL
);
`

// schemaV5 adds the mail record of each ticket (kidoctl send; docs/api.md,
// deliveries): the latest attempt's state, run, address and the SMTP
// server's answer.
const schemaV5 = `
CREATE TABLE deliveries (
	event     INTEGER NOT NULL,
	serial    INTEGER NOT NULL,
	state     TEXT NOT NULL,            -- 'sending', 'sent' or 'failed'
	run       TEXT NOT NULL,
	to_addr   TEXT NOT NULL DEFAULT '',
	answer    TEXT NOT NULL DEFAULT '',
	at        TEXT NOT NULL,
	attempts  INTEGER NOT NULL,
	PRIMARY KEY (event, serial)
);
`

// schemaV6 adds the seq an undo annuls (kido.KindUndo; docs/sync-protocol.md
// §3.7): 0 for every other admission.
const schemaV6 = `
ALTER TABLE admissions ADD COLUMN undoes INTEGER NOT NULL DEFAULT 0;
`

// schemaV7 adds gate identity (docs/mesh.md): each gate's Ed25519 public
// key from its enrolment (NULL for a gate enrolled before), its mesh
// address from its heartbeat, the server time of its revocation (NULL for
// one revoked before version 7: its records are refused from no time on),
// and the signature each admission was uploaded with.
const schemaV7 = `
ALTER TABLE gates ADD COLUMN pub BLOB;
ALTER TABLE gates ADD COLUMN mesh TEXT NOT NULL DEFAULT '';
ALTER TABLE gates ADD COLUMN revoked_at TEXT;
ALTER TABLE admissions ADD COLUMN sig BLOB;
`

// schemaV8 adds the corrections of events, tiers and gates (kidoctl event
// edit, tier edit and retire, gate edit; docs/api.md): a tier's retired
// flag and the record of every edit, with who made it and the object
// before and after, as the feed carries it.
const schemaV8 = `
ALTER TABLE tiers ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
CREATE TABLE edits (
	id       INTEGER PRIMARY KEY,
	event    INTEGER NOT NULL,
	object   TEXT NOT NULL,             -- 'event', 'tier' or 'gate'
	ref      INTEGER NOT NULL,
	by       TEXT NOT NULL,
	at       TEXT NOT NULL,
	before   TEXT NOT NULL,
	after    TEXT NOT NULL
);
CREATE INDEX edits_event ON edits(event, id);
`

// schemaV9 adds the reading of each ticket's holder (furigana; the roster
// column reading, searched at gates like the name) and the promoters'
// reviews of double entries (kidoctl conflicts review).
const schemaV9 = `
ALTER TABLE tickets ADD COLUMN reading TEXT NOT NULL DEFAULT '';
CREATE TABLE conflict_reviews (
	event   INTEGER NOT NULL,
	serial  INTEGER NOT NULL,
	note    TEXT NOT NULL,
	by      TEXT NOT NULL,              -- the reviewing token's name
	at      TEXT NOT NULL,
	PRIMARY KEY (event, serial),
	FOREIGN KEY (event, serial) REFERENCES tickets(event, serial)
);
`
