package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"kido.dev/kido"
)

// Limits of the sync protocol (docs/sync-protocol.md, "Upload").
const (
	MaxBatch      = 500     // records (admissions + audits) per upload request
	MaxUploadBody = 2 << 20 // bytes of an upload request body
	MaxSeq        = 1<<53 - 1
	MaxAuditText  = 256 // bytes of AuditRecord.Text
	MaxWait       = 30 * time.Second
)

// Stable error codes of the sync protocol, carried in Error.Code.
const (
	CodeMalformed   = "malformed"    // 400: not one JSON value of the expected shape
	CodeTooLarge    = "too_large"    // 413: body over MaxUploadBody
	CodeBadBatch    = "bad_batch"    // 400: too many records, seq out of range or not ascending
	CodeBadRecord   = "bad_record"   // 400: unknown kind, zero time, text too long
	CodeBadHash     = "bad_hash"     // 400: Hash is not the hash of the record
	CodeBadTicket   = "bad_ticket"   // 400: the admitted ticket fails verification
	CodeBadCursor   = "bad_cursor"   // 400: cursor or wait that is not well-formed
	CodeBadHeader   = "bad_header"   // 400: a heartbeat header that is present but malformed
	CodeWrongGate   = "wrong_gate"   // 403: a record names another gate
	CodeBadSig      = "bad_sig"      // 400: a record's signature is missing or not its gate's (docs/mesh.md)
	CodeSeqConflict = "seq_conflict" // 409: same (gate, seq), different content
	CodeGateRevoked = "gate_revoked" // 401: the gate was revoked; wipe the replica
	CodeBusy        = "busy"         // 429/503: shed; retry after Retry-After
	CodeSlowBody    = "slow_body"    // 429: the body did not arrive in time; retry after Retry-After
)

// Record types, as named in RecordRef.Record.
const (
	RecordAdmission = "admission"
	RecordAudit     = "audit"
)

// AuditRecord is a rejected scan, kept for audit. Audit records have their
// own per-gate sequence (from 1, no gaps), separate from admissions.
type AuditRecord struct {
	Gate      uint32    `json:"gate"`
	Seq       uint64    `json:"seq"`
	Kind      string    `json:"kind"`   // the passage attempted: kido.KindEntry, kido.KindExit or kido.KindManual
	Reason    string    `json:"reason"` // the gate's stable reason, e.g. "already_used"
	Serial    uint32    `json:"serial"` // 0 when the text did not parse
	At        time.Time `json:"at"`
	Corrected time.Time `json:"corrected"`
	Text      string    `json:"text"` // AuditText of what was presented
	Hash      string    `json:"hash"`
}

// UploadRequest is the body of POST /v1/gate/upload. Each list is in
// strictly ascending Seq order; both may be empty (a contact that only
// fetches the acknowledgement).
type UploadRequest struct {
	Admissions []kido.Admission `json:"admissions"`
	Audits     []AuditRecord    `json:"audits"`
	// Relayed holds other gates' signed records that this gate learnt from
	// its peers, in strictly ascending (gate, seq) order (docs/mesh.md,
	// "Relay"); omitted when empty, so an upload without relays is the
	// bytes an older server reads.
	Relayed []kido.Admission `json:"relayed,omitempty"`
}

// RelayAck is the server's state of one origin gate whose records an
// upload relayed: what Acked and Highest are for the uploader's own.
type RelayAck struct {
	Gate        uint32   `json:"gate"`
	Acked       uint64   `json:"acked"`
	Highest     uint64   `json:"highest"`
	Stored      int      `json:"stored"`
	Duplicates  int      `json:"duplicates"`
	Quarantined []uint64 `json:"quarantined,omitempty"` // seqs kept beside a record of other content
}

// RecordRef names one uploaded record.
type RecordRef struct {
	Record string `json:"record"` // RecordAdmission or RecordAudit
	Seq    uint64 `json:"seq"`
}

// Statuses of a stored admission other than counted (docs/sync-protocol.md
// §3.6). A flagged admission is kept with its reason, shown to the
// operator, never appended to the delta feed and never counted: not in the
// report's admissions, not in double entries, not against the holder at
// any gate.
const (
	StatusSuspect = "suspect" // a correct gate could not have recorded it
	StatusRefused = "refused" // its ticket fails verification
	StatusVoided  = "voided"  // covered by an operator's void (kido.Void)
	StatusUndone  = "undone"  // annulled by its gate's undo (kido.KindUndo); in exports, not in uploads' flags
)

// Flag names an uploaded admission stored as suspect or refused, and why.
type Flag struct {
	Seq    uint64 `json:"seq"`
	Status string `json:"status"` // StatusSuspect or StatusRefused
	Reason string `json:"reason"`
}

// UploadResponse answers an upload with 200, or with 409 when a record
// reused a (gate, seq) with other content; then Error, Code and Hint are set
// as in Error, so a client that only knows Error still reads it.
type UploadResponse struct {
	Acked        uint64      `json:"acked"`         // highest contiguous admission seq stored
	AuditAcked   uint64      `json:"audit_acked"`   // same for audit records
	Highest      uint64      `json:"highest"`       // highest admission seq stored, gaps or not
	AuditHighest uint64      `json:"audit_highest"` // same for audit records
	Stored       int         `json:"stored"`        // records this request added
	Duplicates   int         `json:"duplicates"`    // records already stored with the same content
	Quarantined  []RecordRef `json:"quarantined,omitempty"`
	Flagged      []Flag      `json:"flagged,omitempty"` // admissions this request stored as suspect or refused
	Relayed      []RelayAck  `json:"relayed,omitempty"` // one per origin gate of the request's Relayed, in gate order
	ServerTime   time.Time   `json:"server_time"`
	Error        string      `json:"error,omitempty"`
	Code         string      `json:"code,omitempty"`
	Hint         string      `json:"hint,omitempty"`
}

// Heartbeat headers, sent by a gate on every request.
const (
	HeaderGateVersion = "Kido-Gate-Version" // software version, 1..64 printable ASCII bytes
	HeaderGatePending = "Kido-Gate-Pending" // records not yet acknowledged, decimal
	HeaderGateTime    = "Kido-Gate-Time"    // device clock when sent, RFC 3339
	HeaderGateFree    = "Kido-Gate-Free"    // bytes free in the gate's data directory, decimal
	HeaderGateSynced  = "Kido-Gate-Synced"  // when the replica last took the server's changes, RFC 3339
	HeaderGateMesh    = "Kido-Gate-Mesh"    // host:port where the gate listens for peers (CheckMeshAddr)
)

// Heartbeat is what a gate reports about itself on each contact. A zero
// field means the header was absent.
type Heartbeat struct {
	Version string
	Pending int64 // -1 when absent
	Time    time.Time
	Free    int64     // -1 when absent
	Synced  time.Time // the replica's last sync by the device clock
	Mesh    string    // the gate's mesh address; empty when absent
}

// SetHeaders writes hb into h. Absent fields (empty Version, negative
// Pending, zero Time) are not written.
func (hb Heartbeat) SetHeaders(h http.Header) {
	if hb.Version != "" {
		h.Set(HeaderGateVersion, hb.Version)
	}
	if hb.Pending >= 0 {
		h.Set(HeaderGatePending, strconv.FormatInt(hb.Pending, 10))
	}
	if !hb.Time.IsZero() {
		h.Set(HeaderGateTime, hb.Time.UTC().Format(time.RFC3339Nano))
	}
	if hb.Free >= 0 {
		h.Set(HeaderGateFree, strconv.FormatInt(hb.Free, 10))
	}
	if !hb.Synced.IsZero() {
		h.Set(HeaderGateSynced, hb.Synced.UTC().Format(time.RFC3339Nano))
	}
	if hb.Mesh != "" {
		h.Set(HeaderGateMesh, hb.Mesh)
	}
}

// ErrBadHeartbeat reports a heartbeat header that is present but malformed.
var ErrBadHeartbeat = errors.New("wire: malformed heartbeat header")

// ParseHeartbeat reads the heartbeat headers of a request. Absent headers
// give zero fields (Pending and Free -1); present but malformed ones are an error
// wrapping ErrBadHeartbeat.
func ParseHeartbeat(h http.Header) (Heartbeat, error) {
	hb := Heartbeat{Pending: -1, Free: -1}
	if vs := h.Values(HeaderGateVersion); len(vs) > 0 {
		if len(vs) > 1 || !printableASCII(vs[0], 64) {
			return Heartbeat{}, fmt.Errorf("%w: %s must be 1 to 64 printable ASCII characters", ErrBadHeartbeat, HeaderGateVersion)
		}
		hb.Version = vs[0]
	}
	for _, f := range []struct {
		name string
		to   *int64
	}{{HeaderGatePending, &hb.Pending}, {HeaderGateFree, &hb.Free}} {
		vs := h.Values(f.name)
		if len(vs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if len(vs) > 1 || err != nil || n < 0 || strconv.FormatInt(n, 10) != vs[0] {
			return Heartbeat{}, fmt.Errorf("%w: %s must be one non-negative decimal number", ErrBadHeartbeat, f.name)
		}
		*f.to = n
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{HeaderGateTime, &hb.Time}, {HeaderGateSynced, &hb.Synced}} {
		vs := h.Values(f.name)
		if len(vs) == 0 {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, vs[0])
		if len(vs) > 1 || err != nil {
			return Heartbeat{}, fmt.Errorf("%w: %s must be one RFC 3339 time", ErrBadHeartbeat, f.name)
		}
		*f.to = t
	}
	if vs := h.Values(HeaderGateMesh); len(vs) > 0 {
		if len(vs) > 1 {
			return Heartbeat{}, fmt.Errorf("%w: %s given twice", ErrBadHeartbeat, HeaderGateMesh)
		}
		if err := CheckMeshAddr(vs[0]); err != nil {
			return Heartbeat{}, fmt.Errorf("%w: %s: %v", ErrBadHeartbeat, HeaderGateMesh, err)
		}
		hb.Mesh = vs[0]
	}
	return hb, nil
}

func printableASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// GateStatus is one row of GET /v1/events/{id}/gates: a gate, its heartbeat
// and its upload state.
type GateStatus struct {
	kido.Gate
	LastContact *time.Time `json:"last_contact,omitempty"` // server time; nil: never
	Pending     int64      `json:"pending"`                // from the last heartbeat; -1: unknown
	ClockSkewMS int64      `json:"clock_skew_ms"`          // gate clock minus server clock at the last contact
	Version     string     `json:"version,omitempty"`
	FreeBytes   int64      `json:"free_bytes"`               // free in the gate's data directory, from the last heartbeat; -1: unknown
	Synced      *time.Time `json:"replica_synced,omitempty"` // the gate's last sync, by its clock corrected by ClockSkewMS; nil: unknown
	Acked       uint64     `json:"acked"`
	AuditAcked  uint64     `json:"audit_acked"`
	Quarantined int        `json:"quarantined"`     // records held in quarantine
	Refused     int        `json:"refused_uploads"` // admissions stored as refused (bad_ticket)
	Suspect     int        `json:"suspect"`         // admissions stored as suspect
	Voided      int        `json:"voided"`          // admissions voided by an operator
	Silent      bool       `json:"silent"`          // no contact for longer than the threshold during the event
}

// Report answers GET /v1/events/{id}/report.
type Report struct {
	Event         uint32      `json:"event"`
	Admitted      int         `json:"admitted"`       // entry and manual admissions
	UniqueHolders int         `json:"unique_holders"` // tickets admitted at least once
	Exits         int         `json:"exits"`
	Inside        int         `json:"inside"`         // tickets inside now (kido.Inside)
	DoubleEntries int         `json:"double_entries"` // tickets with at least one excess admission
	Reviewed      int         `json:"reviewed"`       // of which reviewed (Conflict.Review); the rest are open
	Rejected      int         `json:"rejected"`       // audit records
	Quarantined   int         `json:"quarantined"`
	Suspect       int         `json:"suspect"` // admissions flagged suspect, counted nowhere else
	Refused       int         `json:"refused"` // admissions whose ticket failed verification
	Voided        int         `json:"voided"`  // admissions voided by an operator
	Undone        int         `json:"undone"`  // admissions annulled by their gate's undo, counted nowhere else
	Flagged       []Flagged   `json:"flagged"` // every suspect, refused and voided admission
	Undos         []Undone    `json:"undos"`   // every undone admission, with its undo
	Voids         []kido.Void `json:"voids"`
	PerGate       []GateCount `json:"per_gate"`
	PerTier       []TierCount `json:"per_tier"`
	ServerTime    time.Time   `json:"server_time"`
}

// Flagged is an admission that counts nowhere, with why.
type Flagged struct {
	kido.Admission
	GateName string `json:"gate_name"`
	Status   string `json:"status"` // StatusSuspect, StatusRefused or StatusVoided
	Why      string `json:"why"`
}

// Undone is an admission annulled by its gate's undo (kido.KindUndo):
// the admission, and the undo's seq and trusted time.
type Undone struct {
	kido.Admission
	GateName string    `json:"gate_name"`
	Holder   string    `json:"holder,omitempty"`
	UndoSeq  uint64    `json:"undo_seq"`
	UndoneAt time.Time `json:"undone_at"`
}

// GateCount is one gate's line of a Report.
type GateCount struct {
	Gate     uint32 `json:"gate"`
	Name     string `json:"name"`
	Entries  int    `json:"entries"`
	Exits    int    `json:"exits"`
	Manual   int    `json:"manual"`
	Rejected int    `json:"rejected"`
}

// TierCount is one tier's line of a Report.
type TierCount struct {
	Tier          uint8  `json:"tier"`
	Name          string `json:"name"`
	Issued        int    `json:"issued"`
	Admitted      int    `json:"admitted"`
	UniqueHolders int    `json:"unique_holders"`
	Inside        int    `json:"inside"` // tickets of the tier inside now (kido.Inside)
}

// Conflict is one double entry: a ticket admitted beyond its tier's entry
// rule. Admissions holds every accepted admission of the ticket ordered by
// corrected time; Excess marks those that broke the rule.
type Conflict struct {
	Serial     uint32              `json:"serial"`
	Tier       uint8               `json:"tier"`
	Holder     string              `json:"holder,omitempty"`
	Admissions []ConflictAdmission `json:"admissions"`
	Review     *Review             `json:"review,omitempty"` // nil while the double entry is open
}

// Review marks a double entry reviewed (POST
// /v1/events/{event}/conflicts/{serial}/review): the promoter's note, the
// name of the token that wrote it and when. A later review of the same
// ticket replaces it.
type Review struct {
	Note string    `json:"note"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// ReviewRequest is the body of a review: the note alone; the server
// records who and when.
type ReviewRequest struct {
	Note string `json:"note"`
}

// MaxReviewNote bounds a review's note, in characters.
const MaxReviewNote = 500

// ConflictAdmission is an admission as listed in a Conflict.
type ConflictAdmission struct {
	kido.Admission
	GateName string `json:"gate_name"`
	Excess   bool   `json:"excess"`
}

// AuditHash returns the content hash carried in AuditRecord.Hash, built
// like AdmissionHash: lowercase hex SHA-256 of "kido audit v1\x00" followed
// by gate, seq, kind, reason, serial, at, corrected and text, each
// newline-terminated; numbers in decimal, times as RFC 3339 in UTC with
// nanoseconds. Text comes last, and Check admits no newline in the fields
// before it, so two different records never hash the same bytes.
func AuditHash(r AuditRecord) string {
	h := newFieldHash("kido audit v1\x00", len(r.Text))
	h.num(uint64(r.Gate))
	h.num(r.Seq)
	h.str(r.Kind)
	h.str(r.Reason)
	h.num(uint64(r.Serial))
	h.time(r.At)
	h.time(r.Corrected)
	h.str(r.Text)
	return h.sum()
}

// AuditText returns what a gate stores and uploads as AuditRecord.Text for
// presented input: invalid UTF-8 replaced by U+FFFD, then cut to at most
// MaxAuditText bytes on a character boundary. Gate and server hash the same
// string because JSON could not carry the raw bytes unchanged.
func AuditText(presented string) string {
	s := strings.ToValidUTF8(presented, "\uFFFD")
	if len(s) <= MaxAuditText {
		return s
	}
	s = s[:MaxAuditText]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ErrBadUpload reports an upload request that breaks the rules every
// request must follow, whoever sends it.
var ErrBadUpload = errors.New("wire: bad upload")

// UploadError is a rejected upload: Code is the protocol error code.
type UploadError struct {
	Code string
	Msg  string
}

func (e *UploadError) Error() string { return "wire: " + e.Msg }
func (e *UploadError) Unwrap() error { return ErrBadUpload }

func badUpload(code, format string, args ...any) error {
	return &UploadError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Check applies the rules of docs/sync-protocol.md that need no server
// state: batch size, seq range and order, known kinds, non-zero times, text
// length and hashes. It does not check the gate id against the credential
// or verify tickets. The error is an *UploadError.
func (r *UploadRequest) Check() error {
	if n := len(r.Admissions) + len(r.Audits) + len(r.Relayed); n > MaxBatch {
		return badUpload(CodeBadBatch, "%d records in one upload, at most %d", n, MaxBatch)
	}
	var last uint64
	for i, a := range r.Admissions {
		if err := checkSeq(RecordAdmission, a.Seq, last); err != nil {
			return err
		}
		last = a.Seq
		if err := checkAdmission(a, i); err != nil {
			return err
		}
	}
	var lastGate uint32
	last = 0
	for i, a := range r.Relayed {
		if a.Gate < lastGate || a.Gate == 0 {
			return badUpload(CodeBadBatch, "relayed admission of gate %d after gate %d: relayed records must be in ascending (gate, seq) order", a.Gate, lastGate)
		}
		if a.Gate > lastGate {
			lastGate, last = a.Gate, 0
		}
		if err := checkSeq(RecordAdmission, a.Seq, last); err != nil {
			return err
		}
		last = a.Seq
		if err := checkAdmission(a, i); err != nil {
			return err
		}
		if len(a.Sig) == 0 {
			return badUpload(CodeBadSig, "relayed admission %d of gate %d carries no signature", a.Seq, a.Gate)
		}
	}
	last = 0
	for i, r := range r.Audits {
		if err := checkSeq(RecordAudit, r.Seq, last); err != nil {
			return err
		}
		last = r.Seq
		if err := checkCommon(RecordAudit, r.Seq, r.Kind, r.At, r.Corrected); err != nil {
			return err
		}
		if r.Reason == "" || !printableASCII(r.Reason, 32) {
			return badUpload(CodeBadRecord, "audit %d: reason must be 1 to 32 printable ASCII characters", r.Seq)
		}
		if r.Text != AuditText(r.Text) {
			return badUpload(CodeBadRecord, "audit %d: text longer than %d bytes", r.Seq, MaxAuditText)
		}
		if h := AuditHash(r); r.Hash != h {
			return badUpload(CodeBadHash, "audit %d (index %d): hash %q is not the record's hash", r.Seq, i, r.Hash)
		}
	}
	return nil
}

// checkAdmission applies the rules of Check to admission a, at index i of
// its list.
func checkAdmission(a kido.Admission, i int) error {
	if err := checkCommon(RecordAdmission, a.Seq, a.Kind, a.At, a.Corrected); err != nil {
		return err
	}
	if a.Kind != kido.KindManual && a.Kind != kido.KindUndo && a.Text == "" {
		return badUpload(CodeBadRecord, "admission %d: a %s admission needs the ticket text", a.Seq, a.Kind)
	}
	if err := a.CheckUndoes(); err != nil {
		return badUpload(CodeBadRecord, "admission %d: %v", a.Seq, err)
	}
	if a.Kind == kido.KindUndo && a.Text != "" {
		return badUpload(CodeBadRecord, "admission %d: an undo carries no ticket text", a.Seq)
	}
	if err := CheckReason(a.Reason); err != nil {
		return badUpload(CodeBadRecord, "admission %d: %v", a.Seq, err)
	}
	if a.Reason != "" && a.Kind != kido.KindManual {
		return badUpload(CodeBadRecord, "admission %d: only a manual admission carries a reason", a.Seq)
	}
	if h := AdmissionHash(a); a.Hash != h {
		return badUpload(CodeBadHash, "admission %d (index %d): hash %q is not the record's hash", a.Seq, i, a.Hash)
	}
	if n := len(a.Sig); n != 0 && n != ed25519.SignatureSize {
		return badUpload(CodeBadSig, "admission %d of gate %d: signature of %d bytes", a.Seq, a.Gate, n)
	}
	return nil
}

// CheckReason checks a staff reason (of a manual admission, of a void) as
// every gate and the server take it: at most kido.MaxReason bytes of text
// kido.CheckText accepts — no control characters (a newline would make two
// records hash alike), no bidirectional overrides or zero-width
// characters (the report shows it to people). An empty reason passes here;
// whether one is needed is the caller's rule (kido.HasReason).
func CheckReason(reason string) error {
	if len(reason) > kido.MaxReason {
		return fmt.Errorf("reason is %d bytes, at most %d", len(reason), kido.MaxReason)
	}
	if err := kido.CheckText(reason); err != nil {
		return fmt.Errorf("reason: %w", err)
	}
	return nil
}

func checkSeq(record string, seq, last uint64) error {
	if seq == 0 || seq > MaxSeq {
		return badUpload(CodeBadBatch, "%s seq %d out of range 1..%d", record, seq, uint64(MaxSeq))
	}
	if seq <= last {
		return badUpload(CodeBadBatch, "%s seq %d after %d: seqs must be strictly ascending", record, seq, last)
	}
	return nil
}

func checkCommon(record string, seq uint64, kind string, at, corrected time.Time) error {
	switch {
	case kind == kido.KindEntry, kind == kido.KindExit, kind == kido.KindManual:
	case kind == kido.KindUndo && record == RecordAdmission: // a rejected scan is never an undo
	default:
		return badUpload(CodeBadRecord, "%s %d: unknown kind %q", record, seq, kind)
	}
	if at.IsZero() || corrected.IsZero() {
		return badUpload(CodeBadRecord, "%s %d: at and corrected must both be set", record, seq)
	}
	if err := errors.Join(kido.CheckTime("at", at), kido.CheckTime("corrected", corrected)); err != nil {
		return badUpload(CodeBadRecord, "%s %d: %v", record, seq, err)
	}
	return nil
}

// ErrMalformed and ErrTooLarge are the verdicts of Decode.
var (
	ErrMalformed = errors.New("wire: malformed JSON")
	ErrTooLarge  = errors.New("wire: body too large")
)

// Decode reads exactly one JSON value from r into v: at most limit bytes,
// not null, no unknown fields, every object key exactly as its field's
// JSON name (encoding/json would match "SERIAL" to "serial") and given
// once (it would keep the last of two), nothing but white space after it.
// Every request body the server reads goes through it. Errors wrap
// ErrMalformed or ErrTooLarge.
func Decode(r io.Reader, v any, limit int64) error {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("%w: read body: %w", ErrMalformed, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	// null would decode into anything as "no change" and pass for a value.
	if string(bytes.TrimSpace(body)) == "null" {
		return fmt.Errorf("%w: null instead of a value", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	keys := json.NewDecoder(bytes.NewReader(body))
	keys.UseNumber()
	if err := checkKeys(keys, reflect.TypeOf(v), ""); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
