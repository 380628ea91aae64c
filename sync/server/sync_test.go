package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/promtext"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// gateDev is an enrolled gate as the tests drive it: raw HTTP, so that
// every byte of a request is under the test's control.
type gateDev struct {
	id    uint32
	event uint32
	cred  string
	f     *fixture
	seq   uint64
	// client is the gate's sync client, pinned to the server's identity
	client *client.Client
	key    ed25519.PrivateKey // nil: enrolled without a key
}

func (f *fixture) gate(t testing.TB, ev uint32, name string) *gateDev {
	t.Helper()
	return f.gateWith(t, ev, wire.GateCreate{Name: name})
}

// gateWith adds and enrols a gate made as gc says.
func (f *fixture) gateWith(t testing.TB, ev uint32, gc wire.GateCreate) *gateDev {
	t.Helper()
	ctx := context.Background()
	name := gc.Name
	g, err := f.admin.AddGate(ctx, ev, gc)
	if err != nil {
		t.Fatal(err)
	}
	enr, err := f.client(t, "").Enroll(ctx, g.Code, name)
	if err != nil {
		t.Fatal(err)
	}
	return &gateDev{id: g.Gate.ID, event: ev, cred: enr.Credential, f: f, client: f.gateClient(t, enr)}
}

var admitTime = start.Add(5 * time.Minute)

// admission makes the gate's next admission of ticket tk.
func (g *gateDev) admission(tk wire.IssuedTicket, kind string, at time.Time) kido.Admission {
	g.seq++
	a := kido.Admission{Gate: g.id, Seq: g.seq, Serial: tk.Serial, Tier: tk.Tier, Kind: kind, At: at, Corrected: at, Text: tk.Text}
	if kind == kido.KindManual {
		a.Text, a.Reason = "", "phone battery dead"
	}
	a.Hash = wire.AdmissionHash(a)
	return a
}

// admissionAt makes the gate's entry of ticket tk under seq, leaving the
// gate's next seq as it is.
func (g *gateDev) admissionAt(tk wire.IssuedTicket, seq uint64) kido.Admission {
	a := kido.Admission{Gate: g.id, Seq: seq, Serial: tk.Serial, Tier: tk.Tier, Kind: kido.KindEntry, At: admitTime, Corrected: admitTime, Text: tk.Text}
	a.Hash = wire.AdmissionHash(a)
	return a
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) code() string {
	var e wire.Error
	json.Unmarshal(a.body, &e)
	return e.Code
}

func (a answer) upload(t testing.TB) wire.UploadResponse {
	t.Helper()
	var r wire.UploadResponse
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Fatalf("upload answer %d %s: %v", a.status, a.body, err)
	}
	return r
}

// do sends a request with the gate's credential and heartbeat headers.
func (g *gateDev) do(t testing.TB, method, path string, body []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(method, g.f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.cred)
	sent := time.Now().Add(90 * time.Second)
	wire.Heartbeat{Version: "gate-test/1", Pending: 3, Time: sent, Free: 8 << 30, Synced: sent.Add(-30 * time.Second)}.SetHeaders(req.Header)
	resp, err := g.f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func (g *gateDev) upload(t testing.TB, req wire.UploadRequest) answer {
	t.Helper()
	b, _ := json.Marshal(req)
	return g.do(t, http.MethodPost, "/v1/gate/upload", b)
}

func (g *gateDev) changes(t testing.TB, cursor string, wait time.Duration) wire.Changes {
	t.Helper()
	a := g.do(t, http.MethodGet, "/v1/gate/changes?"+url.Values{"cursor": {cursor}, "wait": {wait.String()}}.Encode(), nil)
	if a.status != http.StatusOK {
		t.Fatalf("changes: %d %s", a.status, a.body)
	}
	id, _ := ticket.ParsePublicKey(g.f.info.ID)
	if err := wire.VerifyAnswer(id.Bytes(), wire.ChangesSignedMessage(g.event, cursor, a.body), a.header.Get(wire.HeaderSignature)); err != nil {
		t.Fatalf("changes from %s: %v", cursor, err)
	}
	var c wire.Changes
	if err := json.Unmarshal(a.body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (g *gateDev) snapshotCursor(t testing.TB) string {
	t.Helper()
	snap, err := g.client.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Cursor
}

// state is what must not change when an upload is refused.
func (f *fixture) state(t testing.TB, ev uint32) string {
	t.Helper()
	ctx := context.Background()
	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	sts, err := f.admin.GateStatuses(ctx, ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	var acks []string
	for _, st := range sts {
		acks = append(acks, fmt.Sprintf("gate %d acked %d/%d quarantined %d", st.ID, st.Acked, st.AuditAcked, st.Quarantined))
	}
	return fmt.Sprintf("admitted %d exits %d rejected %d quarantined %d; %s", rep.Admitted, rep.Exits, rep.Rejected, rep.Quarantined, strings.Join(acks, "; "))
}

func TestUploadStoresRetriesAndQuarantines(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 10)
	g := f.gate(t, ev, "North 1")

	a1, a2 := g.admission(tks[0], kido.KindEntry, admitTime), g.admission(tks[1], kido.KindManual, admitTime)
	audit := wire.AuditRecord{Gate: g.id, Seq: 1, Kind: kido.KindEntry, Reason: "bad_signature", At: admitTime, Corrected: admitTime, Text: "12x"}
	audit.Hash = wire.AuditHash(audit)
	req := wire.UploadRequest{Admissions: []kido.Admission{a1, a2}, Audits: []wire.AuditRecord{audit}}
	ans := g.upload(t, req)
	if ans.status != http.StatusOK {
		t.Fatalf("first upload: %d %s", ans.status, ans.body)
	}
	r := ans.upload(t)
	if r.Acked != 2 || r.AuditAcked != 1 || r.Stored != 3 || r.Duplicates != 0 || r.Highest != 2 {
		t.Fatalf("first upload: %+v", r)
	}
	// A retry with the same keys and content is acknowledged, not stored again.
	r = g.upload(t, req).upload(t)
	if r.Acked != 2 || r.Stored != 0 || r.Duplicates != 3 {
		t.Fatalf("retry: %+v", r)
	}
	// A gap: seq 4 is stored, acked stays at 2 until 3 arrives.
	g.seq = 3
	a4 := g.admission(tks[3], kido.KindEntry, admitTime)
	r = g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{a4}}).upload(t)
	if r.Acked != 2 || r.Highest != 4 || r.Stored != 1 {
		t.Fatalf("after a gap: %+v", r)
	}
	g.seq = 2
	a3 := g.admission(tks[2], kido.KindEntry, admitTime)
	r = g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{a3}}).upload(t)
	if r.Acked != 4 || r.Highest != 4 {
		t.Fatalf("gap filled: %+v", r)
	}

	// The same key with other content (a gate restored from a backup): 409,
	// quarantined beside the first, which stays.
	other := kido.Admission{Gate: g.id, Seq: 1, Serial: tks[5].Serial, Tier: tks[5].Tier, Kind: kido.KindEntry, At: admitTime, Corrected: admitTime, Text: tks[5].Text}
	other.Hash = wire.AdmissionHash(other)
	ans = g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{other}})
	if ans.status != http.StatusConflict || ans.code() != wire.CodeSeqConflict {
		t.Fatalf("reused seq: %d %s", ans.status, ans.body)
	}
	r = ans.upload(t)
	if len(r.Quarantined) != 1 || r.Quarantined[0] != (wire.RecordRef{Record: wire.RecordAdmission, Seq: 1}) || r.Acked != 4 || r.Error == "" {
		t.Fatalf("reused seq: %+v", r)
	}
	// Its retry adds nothing but is still answered 409.
	if ans := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{other}}); ans.status != http.StatusConflict {
		t.Fatalf("retried conflict: %d %s", ans.status, ans.body)
	}
	ctx := context.Background()
	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 4 || rep.Quarantined != 1 || rep.Rejected != 1 || rep.UniqueHolders != 4 {
		t.Fatalf("report: %+v", rep)
	}
	sts, _ := f.admin.GateStatuses(ctx, ev, 0)
	if len(sts) != 1 || sts[0].Quarantined != 1 || sts[0].Acked != 4 || sts[0].AuditAcked != 1 {
		t.Fatalf("gate status: %+v", sts)
	}
	if !strings.Contains(f.logs.String(), "upload quarantined") {
		t.Error("quarantine not logged for operators")
	}
	// The first record of seq 1 is the one kept and fed to gates.
	found := false
	for _, c := range g.changes(t, "0.0", 0).Changes {
		if c.Admission != nil && c.Admission.Seq == 1 {
			found = true
			if c.Admission.Hash != a1.Hash {
				t.Errorf("feed has seq 1 with hash %s, want the first record's", c.Admission.Hash)
			}
		}
	}
	if !found {
		t.Error("feed lacks admission 1")
	}
}

func TestUploadRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 5)
	g, other := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	good := g.admission(tks[0], kido.KindEntry, admitTime)
	if a := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{good}}); a.status != 200 {
		t.Fatalf("good upload: %d %s", a.status, a.body)
	}

	rec := func(mod func(*kido.Admission)) string {
		a := kido.Admission{Gate: g.id, Seq: 2, Serial: tks[1].Serial, Tier: tks[1].Tier, Kind: kido.KindEntry, At: admitTime, Corrected: admitTime, Text: tks[1].Text}
		mod(&a)
		a.Hash = wire.AdmissionHash(a)
		b, _ := json.Marshal(wire.UploadRequest{Admissions: []kido.Admission{a}})
		return string(b)
	}
	valid := rec(func(*kido.Admission) {})
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not JSON", `{"admissions":[`, 400, wire.CodeMalformed},
		{"null", `null`, 400, wire.CodeMalformed},
		{"unknown field", strings.Replace(valid, `"kind"`, `"door":1,"kind"`, 1), 400, wire.CodeMalformed},
		{"unknown top field", strings.Replace(valid, `{"admissions"`, `{"x":1,"admissions"`, 1), 400, wire.CodeMalformed},
		{"trailing data", valid + `{}`, 400, wire.CodeMalformed},
		{"negative seq", strings.Replace(valid, `"seq":2`, `"seq":-2`, 1), 400, wire.CodeMalformed},
		{"seq over 2^64", strings.Replace(valid, `"seq":2`, `"seq":18446744073709551616`, 1), 400, wire.CodeMalformed},
		{"seq over 2^53", rec(func(a *kido.Admission) { a.Seq = wire.MaxSeq + 1 }), 400, wire.CodeBadBatch},
		{"seq 0", rec(func(a *kido.Admission) { a.Seq = 0 }), 400, wire.CodeBadBatch},
		{"unknown kind", rec(func(a *kido.Admission) { a.Kind = "jump" }), 400, wire.CodeBadRecord},
		{"bad hash", strings.Replace(valid, `"hash":"`, `"hash":"0`, 1), 400, wire.CodeBadHash},
		{"too large", `{"admissions":[],"audits":[],"pad":"` + strings.Repeat("x", wire.MaxUploadBody) + `"}`, 413, wire.CodeTooLarge},
		{"other gate's records", rec(func(a *kido.Admission) { a.Gate = other.id }), 403, wire.CodeWrongGate},
		{"reason on an entry", rec(func(a *kido.Admission) { a.Reason = "x" }), 400, wire.CodeBadRecord},
		{"reason with a newline", rec(func(a *kido.Admission) { a.Kind, a.Text, a.Reason = kido.KindManual, "", "a\nb" }), 400, wire.CodeBadRecord},
		{"reason with a bidi override", rec(func(a *kido.Admission) { a.Kind, a.Text, a.Reason = kido.KindManual, "", "a\u202eb" }), 400, wire.CodeBadRecord},
	}
	before := f.state(t, ev)
	for _, c := range cases {
		a := g.do(t, http.MethodPost, "/v1/gate/upload", []byte(c.body))
		if a.status != c.status || a.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.status, a.body, c.status, c.code)
		}
		if c.status == 400 && !strings.Contains(string(a.body), "hint") {
			t.Errorf("%s: no hint in %s", c.name, a.body)
		}
		if after := f.state(t, ev); after != before {
			t.Errorf("%s changed the state:\n%s\n%s", c.name, before, after)
		}
	}
}

// A record whose ticket fails verification is stored as refused, with its
// text, and the gate's records behind it are stored and acknowledged: one
// bad record never stalls a gate's queue (issue 10, "imbalanced results").
func TestUploadStoresRefusedAndCarriesOn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 6)
	g, other := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	ev2 := f.event(t)
	foreign := f.issue(t, ev2, "x", 1)[0]
	forged := []byte(tks[1].Text)
	forged[100] = '0' + (forged[100]-'0'+1)%10

	bad := func(mod func(*kido.Admission)) kido.Admission {
		a := g.admission(tks[1], kido.KindEntry, admitTime)
		mod(&a)
		a.Hash = wire.AdmissionHash(a)
		return a
	}
	cases := []struct {
		name string
		a    kido.Admission
	}{
		{"forged ticket", bad(func(a *kido.Admission) { a.Text = string(forged) })},
		{"serial not the ticket's", bad(func(a *kido.Admission) { a.Serial = tks[2].Serial })},
		{"ticket of another event", bad(func(a *kido.Admission) { a.Text, a.Serial, a.Tier = foreign.Text, foreign.Serial, foreign.Tier })},
		{"manual, never issued", bad(func(a *kido.Admission) { a.Kind, a.Text, a.Serial, a.Reason = kido.KindManual, "", 999, "lost" })},
	}
	good := g.admission(tks[0], kido.KindEntry, admitTime)
	req := wire.UploadRequest{Admissions: []kido.Admission{}}
	for _, c := range cases {
		req.Admissions = append(req.Admissions, c.a)
	}
	req.Admissions = append(req.Admissions, good)
	ans := g.upload(t, req)
	if ans.status != http.StatusOK {
		t.Fatalf("upload: %d %s", ans.status, ans.body)
	}
	r := ans.upload(t)
	if r.Acked != good.Seq || r.Stored != len(cases)+1 || len(r.Flagged) != len(cases) {
		t.Fatalf("upload: %+v, want everything acknowledged and %d flagged", r, len(cases))
	}
	for i, fl := range r.Flagged {
		if fl.Seq != cases[i].a.Seq || fl.Status != wire.StatusRefused || fl.Reason == "" {
			t.Errorf("%s: flagged %+v", cases[i].name, fl)
		}
	}
	// A retry is a duplicate, recorded once in the refused-uploads log.
	if r := g.upload(t, req).upload(t); r.Duplicates != len(cases)+1 || r.Stored != 0 {
		t.Errorf("retry: %+v", r)
	}
	sts, _ := f.admin.GateStatuses(ctx, ev, 0)
	if sts[0].Refused != len(cases) || sts[1].Refused != 0 || sts[0].Acked != good.Seq {
		t.Errorf("gate statuses: %+v", sts)
	}
	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 1 || rep.Refused != len(cases) || len(rep.Flagged) != len(cases) {
		t.Fatalf("report: %+v", rep)
	}
	for i, fl := range rep.Flagged {
		if fl.Hash != cases[i].a.Hash || fl.Text != cases[i].a.Text || fl.Status != wire.StatusRefused || fl.GateName != "North 1" {
			t.Errorf("report lists %+v, want %s kept whole", fl, cases[i].name)
		}
	}
	// Nothing refused reached the feed: only the good admission is there.
	var fed []uint64
	for _, c := range other.changes(t, "0.0", 0).Changes {
		if c.Kind == wire.ChangeAdmission {
			fed = append(fed, c.Admission.Seq)
		}
	}
	if len(fed) != 1 || fed[0] != good.Seq {
		t.Errorf("admissions in the feed: %v, want only %d", fed, good.Seq)
	}
}

// metric returns the value of one sample of GET /metrics, such as
// `kido_upload_checks_total{by="signature"}`.
func (f *fixture) metric(t testing.TB, name string) int {
	t.Helper()
	sc, err := promtext.Get(context.Background(), f.srv.Client(), f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := sc.Map()[name]
	if !ok {
		t.Fatalf("no metric %s in: %v", name, sc.Map())
	}
	return int(v)
}

// textless is a Store that keeps no ticket texts, so that every uploaded
// admission must be verified by its signature.
type textless struct{ server.Store }

func (s textless) IssuedTickets(ctx context.Context, ev uint32, serials []uint32) (map[uint32]server.Issued, error) {
	m, err := s.Store.IssuedTickets(ctx, ev, serials)
	for k, v := range m {
		v.Text = ""
		m[k] = v
	}
	return m, err
}

// TestUploadChecksByIssuedTextOrSignature covers both ways an uploaded
// admission is found authentic (docs/sync-protocol.md §3.3): its text is
// the one the server issued, or, failing that, its signature verifies; a
// forged text with a valid serial is refused either way, and a large batch
// is verified on every core with the failing record named.
func TestUploadChecksByIssuedTextOrSignature(t *testing.T) {
	byText, bySig := `kido_upload_checks_total{by="issued_text"}`, `kido_upload_checks_total{by="signature"}`
	forge := func(text string) string {
		b := []byte(text)
		b[100] = '0' + (b[100]-'0'+1)%10
		return string(b)
	}
	for _, c := range []struct {
		name  string
		store func(server.Store) server.Store
		text  bool // whether texts are kept and compared
	}{
		{"issued texts", func(s server.Store) server.Store { return s }, true},
		{"no texts", func(s server.Store) server.Store { return textless{s} }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureWith(t, func(cfg *server.Config) { cfg.Store = c.store(cfg.Store) })
			ev := f.event(t)
			tks := f.issue(t, ev, "b1", 200)
			g := f.gate(t, ev, "North 1")

			if a := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{g.admission(tks[0], kido.KindEntry, admitTime)}}); a.status != 200 {
				t.Fatalf("genuine admission: %d %s", a.status, a.body)
			}
			wantText, wantSig := 0, 1
			if c.text {
				wantText, wantSig = 1, 0
			}
			if gt, gs := f.metric(t, byText), f.metric(t, bySig); gt != wantText || gs != wantSig {
				t.Errorf("checked by text %d, by signature %d; want %d, %d", gt, gs, wantText, wantSig)
			}

			// A forged text with a serial that was issued: never the
			// issued text, so it goes to the signature, which fails; the
			// record is kept as refused and counted nowhere.
			forged := kido.Admission{Gate: g.id, Seq: 2, Serial: tks[1].Serial, Tier: tks[1].Tier, Kind: kido.KindEntry, At: admitTime, Corrected: admitTime, Text: forge(tks[1].Text)}
			forged.Hash = wire.AdmissionHash(forged)
			a := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{forged}})
			if r := a.upload(t); a.status != 200 || len(r.Flagged) != 1 || r.Flagged[0].Status != wire.StatusRefused {
				t.Fatalf("forged text with a valid serial: %d %s", a.status, a.body)
			}
			if gs := f.metric(t, bySig); gs != wantSig+1 {
				t.Errorf("forged text checked by signature %d times in all, want %d", gs, wantSig+1)
			}

			// A full batch with one forged text among genuine ones: the
			// genuine ones are stored and counted, the forged one refused.
			g.seq = 2
			var batch []kido.Admission
			for i := 2; i < 150; i++ {
				batch = append(batch, g.admission(tks[i], kido.KindEntry, admitTime))
			}
			bad := &batch[97]
			bad.Text = forge(bad.Text)
			bad.Hash = wire.AdmissionHash(*bad)
			a = g.upload(t, wire.UploadRequest{Admissions: batch})
			r := a.upload(t)
			if a.status != 200 || r.Acked != 150 || r.Stored != 148 || len(r.Flagged) != 1 || r.Flagged[0].Seq != bad.Seq {
				t.Fatalf("batch with a forged record: %d %s", a.status, a.body)
			}
			rep, err := f.admin.Report(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Admitted != 148 || rep.Refused != 2 {
				t.Errorf("report: admitted %d refused %d, want 148, 2", rep.Admitted, rep.Refused)
			}
		})
	}
}

func TestGateAuth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	g := f.gate(t, ev, "North 1")
	// No credential, an unknown one, an admin token on a gate endpoint and a
	// gate credential on an operator endpoint.
	for _, c := range []struct {
		cred   string
		path   string
		status int
		code   string
	}{
		{"", "/v1/gate/upload", 401, "unauthorized"},
		{"kido_NOPE", "/v1/gate/upload", 401, "unauthorized"},
		{f.token, "/v1/gate/upload", 403, "forbidden"},
		{f.token, "/v1/gate/changes?cursor=0.0", 403, "forbidden"},
	} {
		h := &gateDev{cred: c.cred, f: f}
		method := http.MethodPost
		if strings.Contains(c.path, "changes") {
			method = http.MethodGet
		}
		if a := h.do(t, method, c.path, []byte(`{"admissions":[],"audits":[]}`)); a.status != c.status || a.code() != c.code {
			t.Errorf("%q on %s: %d %s", c.cred, c.path, a.status, a.body)
		}
	}
	if a := g.do(t, http.MethodGet, "/v1/events/1/report", nil); a.status != 403 {
		t.Errorf("gate credential on report: %d %s", a.status, a.body)
	}
	// Malformed heartbeat header.
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/gate/changes?cursor=0.0", nil)
	req.Header.Set("Authorization", "Bearer "+g.cred)
	req.Header.Set(wire.HeaderGatePending, "-1")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("bad heartbeat header: %d", resp.StatusCode)
	}

	// Revoked: the next contact of any kind is 401 gate_revoked.
	if _, err := f.admin.RevokeGate(ctx, ev, g.id); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/gate/upload", "/v1/gate/changes?cursor=0.0", "/v1/gate/snapshot"} {
		method := http.MethodGet
		if strings.HasSuffix(path, "upload") {
			method = http.MethodPost
		}
		a := g.do(t, method, path, []byte(`{"admissions":[],"audits":[]}`))
		if a.status != 401 || a.code() != wire.CodeGateRevoked {
			t.Errorf("revoked gate on %s: %d %s", path, a.status, a.body)
		}
		id, _ := ticket.ParsePublicKey(f.info.ID)
		if err := wire.VerifyAnswer(id.Bytes(), wire.GateRevokedSignedMessage(ev, g.id, a.body), a.header.Get(wire.HeaderSignature)); err != nil {
			t.Errorf("revocation on %s not signed for gate %d of event %d: %v", path, g.id, ev, err)
		}
	}
	sts, _ := f.admin.GateStatuses(ctx, ev, 0)
	if !sts[0].Revoked {
		t.Error("gate not shown revoked")
	}
	if _, err := f.admin.RevokeGate(ctx, ev, 99); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("revoke unknown gate: %v", err)
	}
}

func TestHeartbeatAndSilentGates(t *testing.T) {
	var mu sync.Mutex
	now := start.Add(30 * time.Minute) // during the event
	f := newFixtureWith(t, func(c *server.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	ctx := context.Background()
	ev := f.event(t)
	g1, g2 := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	g1.changes(t, "0.0", 0)
	sts, err := f.admin.GateStatuses(ctx, ev, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := sts[0]
	// g.do sends a device clock 90 s ahead of the real clock; the server's
	// clock here is the fake one, so the skew is whatever lies between.
	wantSkew := time.Until(now.Add(-90 * time.Second))
	if st.LastContact == nil || !st.LastContact.Equal(now) || st.Pending != 3 || st.Version != "gate-test/1" || st.Silent {
		t.Errorf("gate 1 after contact: %+v", st)
	}
	if d := time.Duration(st.ClockSkewMS)*time.Millisecond + wantSkew; d < -time.Minute || d > time.Minute {
		t.Errorf("skew %d ms, want about %v", st.ClockSkewMS, -wantSkew)
	}
	// Free space and replica freshness: the gate's last sync, 30 s before
	// it sent by its clock, in the server's time.
	if st.FreeBytes != 8<<30 || st.Synced == nil || st.Synced.Sub(now.Add(-30*time.Second)).Abs() > time.Second {
		t.Errorf("gate 1's free space and last sync: %d, %v; want 8 GiB and %v", st.FreeBytes, st.Synced, now.Add(-30*time.Second))
	}
	if !sts[1].Silent || sts[1].LastContact != nil || sts[1].ID != g2.id || sts[1].FreeBytes != -1 || sts[1].Synced != nil {
		t.Errorf("gate 2 never in contact: %+v", sts[1])
	}
	// Heartbeats survive a flush to the store.
	if err := f.server.FlushHeartbeats(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(3 * time.Minute)
	mu.Unlock()
	sts, _ = f.admin.GateStatuses(ctx, ev, 0)
	if !sts[0].Silent {
		t.Errorf("gate 1 silent 3 min: %+v", sts[0])
	}
	if sts, _ = f.admin.GateStatuses(ctx, ev, 5*time.Minute); sts[0].Silent {
		t.Errorf("gate 1 with silent_after 5m: %+v", sts[0])
	}
	// After the event nobody is silent.
	mu.Lock()
	now = start.Add(12 * time.Hour)
	mu.Unlock()
	if sts, _ = f.admin.GateStatuses(ctx, ev, 0); sts[0].Silent || sts[1].Silent {
		t.Errorf("after the event: %+v", sts)
	}
}

// TestUploadLowersPending: the pending count a gate sends with an upload
// was taken before it, so the server lowers it by what the upload
// acknowledged; readiness right after the gate's last upload then sees
// none waiting.
func TestUploadLowersPending(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 4)
	g := f.gate(t, ev, "North 1")
	pending := func() int64 {
		t.Helper()
		sts, err := f.admin.GateStatuses(ctx, ev, 0)
		if err != nil {
			t.Fatal(err)
		}
		return sts[0].Pending
	}
	// g.do reports 3 pending; this batch acknowledges 2 of them.
	a1, a2 := g.admission(tks[0], kido.KindEntry, admitTime), g.admission(tks[1], kido.KindEntry, admitTime)
	if ans := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{a1, a2}}); ans.status != http.StatusOK {
		t.Fatalf("upload: %d %s", ans.status, ans.body)
	}
	if got := pending(); got != 1 {
		t.Errorf("pending after 2 of 3 acknowledged: %d, want 1", got)
	}
	// 4 acknowledged against 3 reported: never below 0.
	a3, a4 := g.admission(tks[2], kido.KindEntry, admitTime), g.admission(tks[3], kido.KindEntry, admitTime)
	if ans := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{a1, a2, a3, a4}}); ans.status != http.StatusOK {
		t.Fatalf("upload: %d %s", ans.status, ans.body)
	}
	if got := pending(); got != 0 {
		t.Errorf("pending after all acknowledged: %d, want 0", got)
	}
}

// TestSnapshotNeedsNonce: a snapshot is signed with the gate's fresh nonce
// (docs/sync-protocol.md §13), so a request without a well-formed one is
// refused before anything is read.
func TestSnapshotNeedsNonce(t *testing.T) {
	f := newFixture(t)
	g := f.gate(t, f.event(t), "North 1")
	for _, q := range []string{"", "?nonce=short", "?nonce=" + url.QueryEscape("0123456789abcdef\n"), "?nonce=" + strings.Repeat("a", 129)} {
		if a := g.do(t, http.MethodGet, "/v1/gate/snapshot"+q, nil); a.status != http.StatusBadRequest || a.header.Get(wire.HeaderSignature) != "" {
			t.Errorf("snapshot%s: %d %s, want 400 unsigned", q, a.status, a.body)
		}
	}
	a := g.do(t, http.MethodGet, "/v1/gate/snapshot?nonce=0123456789abcdef", nil)
	id, _ := ticket.ParsePublicKey(f.info.ID)
	if err := wire.VerifyAnswer(id.Bytes(), wire.SnapshotSignedMessage("0123456789abcdef", a.body), a.header.Get(wire.HeaderSignature)); a.status != http.StatusOK || err != nil {
		t.Errorf("snapshot with a nonce: %d, %v", a.status, err)
	}
}
