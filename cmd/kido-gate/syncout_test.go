package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/wire"
)

// feedServer answers a gate's uploads with an empty acknowledgement and
// its feed with the answers given, one per cursor c0, c1, …; past the last
// it answers no change.
// Its answers are signed with the fixture's identity key, as gatetest's
// snapshot names it.
func feedServer(t *testing.T, answers ...[]wire.Change) *httptest.Server {
	t.Helper()
	identity := ed25519.NewKeyFromSeed(gatetest.New(0, gatetest.GateBoth, time.Now()).Identity.Seed())
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		switch r.URL.Path {
		case "/v1/gate/upload":
			req, _ := io.ReadAll(r.Body)
			body, _ := json.Marshal(wire.UploadResponse{ServerTime: now})
			w.Header().Set(wire.HeaderSignature, wire.SignAnswer(identity, wire.UploadSignedMessage(gatetest.EventID, gatetest.GateBoth, sha256.Sum256(req), body)))
			w.Write(body)
		case "/v1/gate/changes":
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("cursor"), "c"))
			ch := wire.Changes{Changes: []wire.Change{}, Cursor: "c" + strconv.Itoa(n), ServerTime: now}
			if n < len(answers) {
				ch.Changes, ch.Cursor = answers[n], "c"+strconv.Itoa(n+1)
			}
			body, _ := json.Marshal(ch)
			w.Header().Set(wire.HeaderSignature, wire.SignAnswer(identity, wire.ChangesSignedMessage(gatetest.EventID, r.URL.Query().Get("cursor"), body)))
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	return hs
}

// fixtureGate makes a gate directory as enrolment would, for the
// fabricated event, syncing with the server at url.
func fixtureGate(t *testing.T, f *gatetest.Fixture, url string) string {
	t.Helper()
	dir := t.TempDir()
	r, err := replica.Create(gatedir.Replica(dir), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(context.Background(), &f.Snapshot, url); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gatedir.WriteCredential(dir, "kido_test_gate"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSyncCountsEveryChange: kido-gate sync names every change it pulled
// under its kind, and the parts add up to the total, for a feed with every
// kind of change, and an admission the gate knew already.
func TestSyncCountsEveryChange(t *testing.T) {
	f := gatetest.New(20, gatetest.GateBoth, time.Now())
	at := time.Now().UTC().Add(-time.Minute)
	adm := kido.Admission{Gate: gatetest.GateEntry, Seq: 1, Serial: 4, Tier: gatetest.TierOf(4), Kind: kido.KindEntry, At: at, Corrected: at}
	adm.Hash = wire.AdmissionHash(adm)
	newGate := kido.Gate{ID: 9, Event: gatetest.EventID, Name: "West", Direction: kido.DirectionEntry}
	void := kido.Void{Event: gatetest.EventID, Gate: 9, From: at, Reason: "tablet stolen", By: "ops", Created: at}
	feed := feedServer(t,
		[]wire.Change{
			{Kind: wire.ChangeEvent, Event: &f.Snapshot.Event},
			{Kind: wire.ChangeTier, Tier: &f.Snapshot.Tiers[0]},
			{Kind: wire.ChangeKey, Key: &f.Snapshot.Keys[0]},
			{Kind: wire.ChangeGate, Gate: &newGate},
			{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 21, Tier: gatetest.TierGA, Holder: "Late Buyer"}},
			{Kind: wire.ChangeAdmission, Admission: &adm},
			{Kind: wire.ChangeVoid, Void: &void},
		},
		[]wire.Change{{Kind: wire.ChangeAdmission, Admission: &adm}}, // known by now
	)
	ctx := context.Background()

	var out bytes.Buffer
	if err := run(ctx, []string{"sync", "-data", fixtureGate(t, f, feed.URL)}, nil, &out, &out); err != nil {
		t.Fatalf("sync: %v\n%s", err, out.String())
	}
	const want = "pulled 8 changes in 3 answers: 2 admissions (1 new), 1 roster entry, 1 key, 1 tier, 1 gate, 1 event update, 1 void of a revoked gate\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("sync printed\n%s\nwant the line\n%s", out.String(), want)
	}
	m := regexp.MustCompile(`pulled (\d+) changes? in \d+ answers?: (.*)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no pulled line in\n%s", out.String())
	}
	total, _ := strconv.Atoi(m[1])
	sum := 0
	for _, part := range strings.Split(m[2], ", ") {
		n, err := strconv.Atoi(strings.Fields(part)[0])
		if err != nil {
			t.Fatalf("part %q does not start with a count", part)
		}
		sum += n
	}
	if sum != total {
		t.Errorf("parts %q add up to %d, not the %d changes pulled", m[2], sum, total)
	}

	out.Reset()
	if err := run(ctx, []string{"sync", "-json", "-data", fixtureGate(t, f, feed.URL)}, nil, &out, &out); err != nil {
		t.Fatalf("sync -json: %v\n%s", err, out.String())
	}
	var got syncOut
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	wantKinds := replica.Kinds{Event: 1, Tiers: 1, Keys: 1, Gates: 1, Roster: 1, Admissions: 2, Voids: 1}
	if got.Pulled != wantKinds || got.Pulled.Total() != got.Changes || got.Learned != 1 {
		t.Errorf("sync -json: pulled %+v of %d changes, %d learned; want %+v adding up, 1 learned", got.Pulled, got.Changes, got.Learned, wantKinds)
	}
}

// TestPlainHTTPRefused: a gate sends its credential over plain http:// to
// a host that is not this machine only with -insecure-http: enroll refuses
// the URL before anything is written, and sync refuses the URL the gate
// enrolled with, naming the flag.
func TestPlainHTTPRefused(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "gate")
	err := run(ctx, []string{"enroll", "-data", dir, "-server", "http://192.0.2.1:8700", "-code", "1234 5678 9012 3456"}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "-insecure-http") {
		t.Errorf("enroll over plain http://: %v, want a refusal naming -insecure-http", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused enrolment made %s: %v", dir, err)
	}
	f := gatetest.New(5, gatetest.GateBoth, time.Now())
	err = run(ctx, []string{"sync", "-data", fixtureGate(t, f, "http://192.0.2.1:8700")}, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "refusing plain http://") {
		t.Errorf("sync with a plain http:// server: %v, want a refusal", err)
	}
}
