package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
)

// TestHashVectors runs the vectors in testdata/hash: each file has header
// lines ("expect:", "record:"), a blank line, then the record as JSON. The
// expected hashes were computed independently of this package, from the
// byte layout in docs/sync-protocol.md.
func TestHashVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/hash/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			hdr, body := readVector(t, f)
			var got string
			switch hdr["record"] {
			case RecordAdmission:
				var a kido.Admission
				if err := Decode(strings.NewReader(body), &a, MaxUploadBody); err != nil {
					t.Fatal(err)
				}
				got = AdmissionHash(a)
			case RecordAudit:
				var r AuditRecord
				if err := Decode(strings.NewReader(body), &r, MaxUploadBody); err != nil {
					t.Fatal(err)
				}
				got = AuditHash(r)
			default:
				t.Fatalf("unknown record %q", hdr["record"])
			}
			if want := hdr["expect"]; got != want {
				t.Errorf("hash = %s, want %s", got, want)
			}
		})
	}
}

func readVector(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	n := 0
	for sc.Scan() {
		n += len(sc.Bytes()) + 1
		line := sc.Text()
		if line == "" {
			return hdr, string(raw[n:])
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("bad header line %q", line)
		}
		hdr[k] = v
	}
	t.Fatalf("%s: no blank line after the header", path)
	return nil, ""
}

func sampleAdmission(seq uint64) kido.Admission {
	at := time.Date(2027, 8, 1, 10, 0, 0, 0, time.FixedZone("JST", 9*3600)).Add(time.Duration(seq) * time.Second)
	a := kido.Admission{Gate: 7, Seq: seq, Serial: 1000 + uint32(seq), Tier: 1, Kind: kido.KindEntry, At: at, Corrected: at.Add(time.Millisecond), Text: "0123456789"}
	a.Hash = AdmissionHash(a)
	return a
}

func sampleAudit(seq uint64) AuditRecord {
	at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	r := AuditRecord{Gate: 7, Seq: seq, Kind: kido.KindEntry, Reason: "already_used", Serial: 5, At: at, Corrected: at, Text: "0123"}
	r.Hash = AuditHash(r)
	return r
}

// Every field is covered: changing any one changes the hash.
func TestHashCoversEveryField(t *testing.T) {
	base := sampleAdmission(1)
	edits := map[string]func(*kido.Admission){
		"gate":      func(a *kido.Admission) { a.Gate++ },
		"seq":       func(a *kido.Admission) { a.Seq++ },
		"serial":    func(a *kido.Admission) { a.Serial++ },
		"tier":      func(a *kido.Admission) { a.Tier++ },
		"kind":      func(a *kido.Admission) { a.Kind = kido.KindExit },
		"at":        func(a *kido.Admission) { a.At = a.At.Add(time.Nanosecond) },
		"corrected": func(a *kido.Admission) { a.Corrected = a.Corrected.Add(time.Nanosecond) },
		"text":      func(a *kido.Admission) { a.Text += "0" },
		"undoes":    func(a *kido.Admission) { a.Kind, a.Undoes = kido.KindUndo, 1 },
	}
	for name, edit := range edits {
		a := base
		edit(&a)
		if AdmissionHash(a) == base.Hash {
			t.Errorf("admission: changing %s leaves the hash unchanged", name)
		}
	}
	abase := sampleAudit(1)
	aedits := map[string]func(*AuditRecord){
		"gate":      func(r *AuditRecord) { r.Gate++ },
		"seq":       func(r *AuditRecord) { r.Seq++ },
		"kind":      func(r *AuditRecord) { r.Kind = kido.KindExit },
		"reason":    func(r *AuditRecord) { r.Reason = "revoked" },
		"serial":    func(r *AuditRecord) { r.Serial++ },
		"at":        func(r *AuditRecord) { r.At = r.At.Add(time.Nanosecond) },
		"corrected": func(r *AuditRecord) { r.Corrected = r.Corrected.Add(time.Nanosecond) },
		"text":      func(r *AuditRecord) { r.Text = "" },
	}
	for name, edit := range aedits {
		r := abase
		edit(&r)
		if AuditHash(r) == abase.Hash {
			t.Errorf("audit: changing %s leaves the hash unchanged", name)
		}
	}
}

// The hash survives the JSON round trip a record makes from gate to server.
func TestHashSurvivesJSON(t *testing.T) {
	a := sampleAdmission(3)
	a.At = a.At.Add(123456789) // nanoseconds, and a time with a monotonic reading below
	a.Corrected = time.Now()
	a.Hash = AdmissionHash(a)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back kido.Admission
	if err := Decode(bytes.NewReader(b), &back, MaxUploadBody); err != nil {
		t.Fatal(err)
	}
	if got := AdmissionHash(back); got != a.Hash {
		t.Errorf("hash after JSON = %s, want %s", got, a.Hash)
	}
}

func TestAuditText(t *testing.T) {
	long := strings.Repeat("あ", 100) // 300 bytes
	tests := []struct{ in, want string }{
		{"0123", "0123"},
		{"a\xffb", "a\uFFFDb"},
		{long, strings.Repeat("あ", 85)}, // 255 bytes: the 86th would cross 256
		{strings.Repeat("x", 300), strings.Repeat("x", MaxAuditText)},
	}
	for _, tt := range tests {
		got := AuditText(tt.in)
		if got != tt.want {
			t.Errorf("AuditText(%.20q…) = %.20q… (%d bytes), want %d bytes", tt.in, got, len(got), len(tt.want))
		}
		if AuditText(got) != got {
			t.Errorf("AuditText is not idempotent on %.20q", tt.in)
		}
	}
}

// undo makes the admission of seq in r an undo of seq undoes.
func undo(r *UploadRequest, seq, undoes uint64) {
	for i := range r.Admissions {
		if a := &r.Admissions[i]; a.Seq == seq {
			a.Kind, a.Text, a.Undoes = kido.KindUndo, "", undoes
		}
	}
}

func TestUploadCheck(t *testing.T) {
	ok := func() UploadRequest {
		return UploadRequest{
			Admissions: []kido.Admission{sampleAdmission(1), sampleAdmission(2), sampleAdmission(4)},
			Audits:     []AuditRecord{sampleAudit(1)},
		}
	}
	rehash := func(r *UploadRequest) {
		for i := range r.Admissions {
			r.Admissions[i].Hash = AdmissionHash(r.Admissions[i])
		}
		for i := range r.Audits {
			r.Audits[i].Hash = AuditHash(r.Audits[i])
		}
	}
	tests := []struct {
		name string
		edit func(*UploadRequest)
		code string // "" means accepted
	}{
		{"valid, with a gap", func(*UploadRequest) {}, ""},
		{"empty", func(r *UploadRequest) { *r = UploadRequest{} }, ""},
		{"manual without text", func(r *UploadRequest) { r.Admissions[0].Kind = kido.KindManual; r.Admissions[0].Text = ""; rehash(r) }, ""},
		{"too many", func(r *UploadRequest) {
			r.Admissions = nil
			for i := 1; i <= MaxBatch+1; i++ {
				r.Admissions = append(r.Admissions, sampleAdmission(uint64(i)))
			}
			r.Audits = nil
		}, CodeBadBatch},
		{"seq zero", func(r *UploadRequest) { r.Admissions[0].Seq = 0; rehash(r) }, CodeBadBatch},
		{"seq huge", func(r *UploadRequest) { r.Admissions[2].Seq = MaxSeq + 1; rehash(r) }, CodeBadBatch},
		{"seq repeated", func(r *UploadRequest) { r.Admissions[1].Seq = 1; rehash(r) }, CodeBadBatch},
		{"seq descending", func(r *UploadRequest) { r.Admissions[0], r.Admissions[1] = r.Admissions[1], r.Admissions[0] }, CodeBadBatch},
		{"audit seq zero", func(r *UploadRequest) { r.Audits[0].Seq = 0; rehash(r) }, CodeBadBatch},
		{"unknown kind", func(r *UploadRequest) { r.Admissions[0].Kind = "enter"; rehash(r) }, CodeBadRecord},
		{"zero time", func(r *UploadRequest) { r.Admissions[0].Corrected = time.Time{}; rehash(r) }, CodeBadRecord},
		{"admission in 9999", func(r *UploadRequest) { r.Admissions[0].At = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC); rehash(r) }, CodeBadRecord},
		{"admission in 0001", func(r *UploadRequest) {
			r.Admissions[1].Corrected = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)
			rehash(r)
		}, CodeBadRecord},
		{"audit in 2200", func(r *UploadRequest) { r.Audits[0].At = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC); rehash(r) }, CodeBadRecord},
		{"entry without text", func(r *UploadRequest) { r.Admissions[0].Text = ""; rehash(r) }, CodeBadRecord},
		{"undo", func(r *UploadRequest) { undo(r, 2, 1); rehash(r) }, ""},
		{"undo of a later seq", func(r *UploadRequest) { undo(r, 1, 2); rehash(r) }, CodeBadRecord},
		{"undo of nothing", func(r *UploadRequest) { undo(r, 2, 0); rehash(r) }, CodeBadRecord},
		{"undo with text", func(r *UploadRequest) { undo(r, 2, 1); r.Admissions[1].Text = "1"; rehash(r) }, CodeBadRecord},
		{"undo with a reason", func(r *UploadRequest) { undo(r, 2, 1); r.Admissions[1].Reason = "oops"; rehash(r) }, CodeBadRecord},
		{"entry naming a seq", func(r *UploadRequest) { r.Admissions[1].Undoes = 1; rehash(r) }, CodeBadRecord},
		{"audit of kind undo", func(r *UploadRequest) { r.Audits[0].Kind = kido.KindUndo; rehash(r) }, CodeBadRecord},
		{"audit reason empty", func(r *UploadRequest) { r.Audits[0].Reason = ""; rehash(r) }, CodeBadRecord},
		{"audit reason newline", func(r *UploadRequest) { r.Audits[0].Reason = "a\nb"; rehash(r) }, CodeBadRecord},
		{"audit text too long", func(r *UploadRequest) { r.Audits[0].Text = strings.Repeat("1", MaxAuditText+1); rehash(r) }, CodeBadRecord},
		{"audit text not UTF-8", func(r *UploadRequest) { r.Audits[0].Text = "\xff"; rehash(r) }, CodeBadRecord},
		{"admission hash wrong", func(r *UploadRequest) { r.Admissions[1].Serial++ }, CodeBadHash},
		{"audit hash wrong", func(r *UploadRequest) { r.Audits[0].Hash = strings.ToUpper(r.Audits[0].Hash) }, CodeBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.edit(&r)
			err := r.Check()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			var ue *UploadError
			if !errors.As(err, &ue) || !errors.Is(err, ErrBadUpload) {
				t.Fatalf("Check() = %v, want an *UploadError", err)
			}
			if ue.Code != tt.code {
				t.Errorf("code = %q, want %q (%v)", ue.Code, tt.code, err)
			}
			if !strings.HasPrefix(err.Error(), "wire: ") {
				t.Errorf("message %q lacks the package prefix", err)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		limit      int64
		want       error
	}{
		{"ok", `{"admissions":[],"audits":[]}`, 100, nil},
		{"trailing space", "{\"admissions\":[]} \n", 100, nil},
		{"unknown field", `{"admissions":[],"extra":1}`, 100, ErrMalformed},
		{"unknown nested field", `{"admissions":[{"gate":1,"color":"red"}]}`, 100, ErrMalformed},
		{"negative seq", `{"admissions":[{"seq":-1}]}`, 100, ErrMalformed},
		{"seq too big for uint64", `{"admissions":[{"seq":18446744073709551616}]}`, 100, ErrMalformed},
		{"two values", `{}{}`, 100, ErrMalformed},
		{"trailing junk", `{} x`, 100, ErrMalformed},
		{"truncated", `{"admissions":[`, 100, ErrMalformed},
		{"empty", ``, 100, ErrMalformed},
		{"null", " null\n", 100, ErrMalformed},
		{"wrong type", `{"admissions":{}}`, 100, ErrMalformed},
		{"too large", `{"admissions":[]}`, 10, ErrTooLarge},
		{"exactly at limit", `{"audits":[]}`, 13, nil},
		// encoding/json matches keys case-insensitively and keeps the last
		// of two: both would let two readers of one body disagree.
		{"miscased key", `{"Admissions":[]}`, 100, ErrMalformed},
		{"miscased nested key", `{"admissions":[{"SERIAL":7}]}`, 100, ErrMalformed},
		{"duplicate key", `{"audits":[],"audits":[]}`, 100, ErrMalformed},
		{"duplicate nested key", `{"admissions":[{"seq":1,"seq":2}]}`, 100, ErrMalformed},
		{"duplicate in the second element", `{"admissions":[{"seq":1},{"kind":"entry","kind":"exit"}]}`, 200, ErrMalformed},
		{"exact keys", `{"admissions":[{"gate":1,"seq":2,"serial":3,"tier":1,"kind":"entry","at":"2027-08-01T09:00:00Z","corrected":"2027-08-01T09:00:00Z","text":"","hash":""}]}`, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r UploadRequest
			err := Decode(strings.NewReader(tt.body), &r, tt.limit)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Decode = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzDecodeUpload: whatever arrives, Decode and Check never panic, and an
// accepted request re-encodes to one that decodes to the same records.
func FuzzDecodeUpload(f *testing.F) {
	good, _ := json.Marshal(UploadRequest{Admissions: []kido.Admission{sampleAdmission(1)}, Audits: []AuditRecord{sampleAudit(1)}})
	f.Add(good)
	f.Add([]byte(`{"admissions":[{"seq":-1}]}`))
	f.Add([]byte(`{"admissions":null,"audits":[{"text":"\u0000\ud800"}]}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"admissions":[{"seq":1,"SEQ":2}]}`))
	f.Add([]byte(`{"audits":[],"audits":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r UploadRequest
		if err := Decode(bytes.NewReader(body), &r, MaxUploadBody); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error %v wraps no verdict", err)
			}
			return
		}
		checkErr := r.Check()
		if checkErr != nil && !errors.Is(checkErr, ErrBadUpload) {
			t.Fatalf("Check error %v wraps no verdict", checkErr)
		}
		again, err := json.Marshal(r)
		if err != nil {
			return // e.g. a year JSON cannot carry; the server answers 400 before this
		}
		var back UploadRequest
		if err := Decode(bytes.NewReader(again), &back, MaxUploadBody); err != nil {
			t.Fatalf("re-encoded request rejected: %v", err)
		}
		if len(back.Admissions) != len(r.Admissions) || len(back.Audits) != len(r.Audits) {
			t.Fatalf("record counts changed in a round trip")
		}
		if checkErr == nil {
			if err := back.Check(); err != nil {
				t.Fatalf("accepted request fails Check after a round trip: %v", err)
			}
		}
		for i := range r.Admissions {
			if AdmissionHash(back.Admissions[i]) != AdmissionHash(r.Admissions[i]) {
				t.Fatalf("admission %d hashes differently after a round trip", i)
			}
		}
	})
}

func TestHeartbeatHeaders(t *testing.T) {
	when := time.Date(2027, 8, 1, 1, 2, 3, 4, time.UTC)
	h := http.Header{}
	synced := when.Add(-40 * time.Second)
	Heartbeat{Version: "0.3.1", Pending: 12, Time: when, Free: 5 << 30, Synced: synced}.SetHeaders(h)
	got, err := ParseHeartbeat(h)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "0.3.1" || got.Pending != 12 || !got.Time.Equal(when) || got.Free != 5<<30 || !got.Synced.Equal(synced) {
		t.Errorf("round trip = %+v", got)
	}

	got, err = ParseHeartbeat(http.Header{})
	if err != nil || got.Pending != -1 || got.Version != "" || !got.Time.IsZero() || got.Free != -1 || !got.Synced.IsZero() {
		t.Errorf("absent headers = %+v, %v; want zero fields and Pending, Free -1", got, err)
	}

	bad := []struct{ k, v string }{
		{HeaderGateVersion, ""},
		{HeaderGateVersion, "1.0 beta"},
		{HeaderGateVersion, strings.Repeat("v", 65)},
		{HeaderGatePending, "-1"},
		{HeaderGatePending, "+3"},
		{HeaderGatePending, "007"},
		{HeaderGatePending, "3e2"},
		{HeaderGatePending, "99999999999999999999"},
		{HeaderGateTime, "yesterday"},
		{HeaderGateTime, "2027-08-01 01:02:03"},
		{HeaderGateFree, "-5"},
		{HeaderGateFree, "1 GiB"},
		{HeaderGateSynced, "never"},
	}
	for _, b := range bad {
		h := http.Header{}
		h.Set(b.k, b.v)
		if _, err := ParseHeartbeat(h); !errors.Is(err, ErrBadHeartbeat) {
			t.Errorf("%s: %q accepted (err %v)", b.k, b.v, err)
		}
	}
	h = http.Header{}
	h.Add(HeaderGatePending, "1")
	h.Add(HeaderGatePending, "2")
	if _, err := ParseHeartbeat(h); !errors.Is(err, ErrBadHeartbeat) {
		t.Errorf("two %s headers accepted", HeaderGatePending)
	}
}

// FuzzParseHeartbeat: never panics, and what it accepts it writes back to
// headers that parse to the same heartbeat.
func FuzzParseHeartbeat(f *testing.F) {
	f.Add("0.1.0", "0", "2027-08-01T01:02:03Z", "5368709120", "2027-08-01T01:01:58.2Z", "192.168.1.20:7421")
	f.Add("", "-5", "garbage", "1 GiB", "never", "http://[::1]:80/")
	f.Fuzz(func(t *testing.T, version, pending, at, free, synced, mesh string) {
		h := http.Header{}
		for k, v := range map[string]string{HeaderGateVersion: version, HeaderGatePending: pending, HeaderGateTime: at, HeaderGateFree: free, HeaderGateSynced: synced, HeaderGateMesh: mesh} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		hb, err := ParseHeartbeat(h)
		if err != nil {
			if !errors.Is(err, ErrBadHeartbeat) {
				t.Fatalf("error %v wraps no verdict", err)
			}
			return
		}
		h2 := http.Header{}
		hb.SetHeaders(h2)
		back, err := ParseHeartbeat(h2)
		if err != nil {
			t.Fatalf("written heartbeat does not parse: %v", err)
		}
		if back.Version != hb.Version || back.Pending != hb.Pending || !back.Time.Equal(hb.Time) || back.Free != hb.Free || !back.Synced.Equal(hb.Synced) || back.Mesh != hb.Mesh {
			t.Fatalf("round trip %+v -> %+v", hb, back)
		}
	})
}

// FuzzDecodeIssue: Decode of an admin request never panics, and what it
// accepts re-encodes to a body it accepts with the same value.
func FuzzDecodeIssue(f *testing.F) {
	good, _ := json.Marshal(IssueRequest{Batch: "b1", Offset: 3, Tickets: []IssueItem{{Tier: 1, Holder: "山田", OrderRef: "A-1"}}})
	f.Add(good)
	f.Add([]byte(`{"batch":"b","Batch":"c","offset":9223372036854775807}`))
	f.Add([]byte(`{"tickets":[{"tier":1,"tier":2}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r IssueRequest
		if err := Decode(bytes.NewReader(body), &r, 1<<20); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error %v wraps no verdict", err)
			}
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var r2 IssueRequest
		if err := Decode(bytes.NewReader(again), &r2, 1<<21); err != nil {
			t.Fatalf("re-encoded %s refused: %v", again, err)
		}
		if b2, _ := json.Marshal(r2); !bytes.Equal(b2, again) {
			t.Fatalf("%s decoded to %s", again, b2)
		}
	})
}
