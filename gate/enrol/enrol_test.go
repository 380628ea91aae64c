package enrol

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server/servertest"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// gateCode makes an event of n tickets on s and returns a code for a new
// gate of it.
func gateCode(t *testing.T, s *servertest.Server, n int) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	ev, err := s.Admin.CreateEvent(ctx, wire.EventCreate{Name: "Summer Fes", Venue: "Makuhari Messe", Start: now.Add(-time.Hour), End: now.Add(6 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tier, err := s.Admin.AddTier(ctx, ev.ID, wire.TierCreate{Name: "GA"})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]wire.IssueItem, n)
	for i := range items {
		items[i].Tier = tier.ID
	}
	if _, err := s.Admin.Issue(ctx, ev.ID, wire.IssueRequest{Batch: "b1", Tickets: items}); err != nil {
		t.Fatal(err)
	}
	g, err := s.Admin.AddGate(ctx, ev.ID, wire.GateCreate{Name: "North 1", Direction: kido.DirectionBoth})
	if err != nil {
		t.Fatal(err)
	}
	return g.Code
}

// files lists the names in dir, or none when dir does not exist.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestGate(t *testing.T) {
	s := servertest.Start(t)
	code := gateCode(t, s, 12)
	dir := filepath.Join(t.TempDir(), "gate")
	var credAtRegistration bool
	res, err := Gate(context.Background(), Config{Dir: dir, Server: s.URL, Code: code, Device: "tablet 1",
		Registered: func(*wire.EnrollResponse) {
			_, err := gatedir.ReadCredential(dir)
			credAtRegistration = err == nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Enrolled == nil || res.Enrolled.Server.ID != s.Info.ID || res.Snapshot == nil || len(res.Snapshot.Roster) != 12 {
		t.Fatalf("result %+v", res)
	}
	if !credAtRegistration {
		t.Error("Registered was called before the credential was stored")
	}
	for _, p := range []string{gatedir.Credential(dir), gatedir.Replica(dir), gatedir.Key(dir)} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p, err, fi.Mode().Perm())
		}
	}
	if got := files(t, dir); len(got) != 3 {
		t.Errorf("data directory holds %q; want the credential, the key and the replica only", got)
	}
	// The server recorded the key, and the replica's gate list carries it.
	key, err := gatedir.ReadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(res.Snapshot.Gate.Pub)) {
		t.Errorf("the snapshot names key %x for the gate, the gate holds %x", res.Snapshot.Gate.Pub, key.Public())
	}
	r, err := replica.Open(gatedir.Replica(dir), replica.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	id, own, err := r.Own(context.Background())
	r.Close()
	if err != nil || id != res.Enrolled.Gate.ID || !own.Equal(key) {
		t.Errorf("replica's own gate %d, key ok %v, %v", id, own.Equal(key), err)
	}
	if cred, _ := gatedir.ReadCredential(dir); cred != res.Enrolled.Credential {
		t.Errorf("stored credential is not the enrolment's")
	}

	// Enrolled: a second enrolment in the same directory is refused.
	if _, err := Gate(context.Background(), Config{Dir: dir, Server: s.URL, Code: gateCode(t, s, 1)}); !errors.Is(err, ErrEnrolled) {
		t.Errorf("enrolling an enrolled directory: got %v, want ErrEnrolled", err)
	}
}

// TestGateWrongServer: a code made by one server does not enrol with
// another, and nothing is written.
func TestGateWrongServer(t *testing.T) {
	a, b := servertest.Start(t), servertest.Start(t)
	code := gateCode(t, a, 1)
	dir := filepath.Join(t.TempDir(), "gate")
	if _, err := Gate(context.Background(), Config{Dir: dir, Server: b.URL, Code: code}); err == nil {
		t.Fatal("enrolled with a server that did not make the code")
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("a refused enrolment left %q", got)
	}
}

// TestGateImpostor: a server that accepts any code but cannot sign with
// the identity key the code names is refused, whatever it answers, and
// nothing is written.
func TestGateImpostor(t *testing.T) {
	real := servertest.Start(t)
	code := gateCode(t, real, 1)
	ec, err := wire.ParseEnrollCode(code)
	if err != nil {
		t.Fatal(err)
	}
	own, err := ticket.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(own.Seed())
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wire.EnrollRequest
		json.NewDecoder(r.Body).Decode(&req)
		resp := wire.EnrollResponse{
			Gate:       kido.Gate{ID: 1, Event: 1, Name: "North 1"},
			Credential: "kido_stolen",
			// The real server's name and fingerprint, its own key.
			Server: wire.Server{ID: own.Public().String(), Fingerprint: ec.Fingerprint},
		}
		resp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, wire.EnrollSignedMessage(req.Nonce, resp.Gate.ID, resp.Credential)))
		json.NewEncoder(w).Encode(resp)
	}))
	defer impostor.Close()
	dir := filepath.Join(t.TempDir(), "gate")
	_, err = Gate(context.Background(), Config{Dir: dir, Server: impostor.URL, Code: code})
	if !errors.Is(err, client.ErrForbidden) {
		t.Errorf("impostor: got %v, want ErrForbidden", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("a refused enrolment left %q", got)
	}
}

// TestGateResume: when the download fails after the code was accepted,
// the credential is kept, a code is then refused, and enrolling without
// one finishes the job.
func TestGateResume(t *testing.T) {
	s := servertest.Start(t)
	var failSnapshot atomic.Bool
	failSnapshot.Store(true)
	h := s.Core.Handler()
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/gate/snapshot" && failSnapshot.Load() {
			http.Error(w, `{"error":"test: down"}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	dir := filepath.Join(t.TempDir(), "gate")
	ctx := context.Background()

	res, err := Gate(ctx, Config{Dir: dir, Server: flaky.URL, Code: gateCode(t, s, 3)})
	if !errors.Is(err, ErrDownload) || !errors.Is(err, client.ErrUnavailable) || res.Enrolled == nil {
		t.Fatalf("download failure: got %v (enrolled %v), want ErrDownload wrapping ErrUnavailable", err, res.Enrolled != nil)
	}
	if got := files(t, dir); !slices.Equal(got, []string{gatedir.CredentialFile, gatedir.KeyFile, gatedir.PinFile}) {
		t.Fatalf("after a failed download the directory holds %q, want the credential, the key and the pin only", got)
	}
	if _, err := Gate(ctx, Config{Dir: dir, Server: flaky.URL, Code: gateCode(t, s, 1)}); !errors.Is(err, ErrCredentialHeld) {
		t.Errorf("a code for a directory with a credential: got %v, want ErrCredentialHeld", err)
	}
	failSnapshot.Store(false)
	res, err = Gate(ctx, Config{Dir: dir, Server: flaky.URL})
	if err != nil || res.Enrolled != nil || len(res.Snapshot.Roster) != 3 {
		t.Fatalf("resumed: %v, %+v", err, res)
	}
	if _, err := os.Stat(gatedir.Replica(dir)); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(gatedir.PinPath(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the pin outlived the replica's build: %v", err)
	}

	if _, err := Gate(ctx, Config{Dir: filepath.Join(t.TempDir(), "empty"), Server: s.URL}); !errors.Is(err, ErrNeedCode) {
		t.Errorf("no code, no credential: got %v, want ErrNeedCode", err)
	}
}

// TestGateTamperedSnapshot: a snapshot changed on its way (here a ticket
// revocation undone) is refused before a replica exists, and the
// credential and pin stay so that a download over a sound path finishes
// the enrolment.
func TestGateTamperedSnapshot(t *testing.T) {
	s := servertest.Start(t)
	h := s.Core.Handler()
	var tamper atomic.Bool
	var tampered atomic.Int32
	tamper.Store(true)
	mitm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/gate/snapshot" || !tamper.Load() {
			h.ServeHTTP(w, r)
			return
		}
		r.Header.Del("Accept-Encoding")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := bytes.Replace(rec.Body.Bytes(), []byte(`"revoked":false`), []byte(`"revoked":true`), 1)
		if !bytes.Equal(body, rec.Body.Bytes()) {
			tampered.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	defer mitm.Close()
	dir := filepath.Join(t.TempDir(), "gate")
	ctx := context.Background()
	_, err := Gate(ctx, Config{Dir: dir, Server: mitm.URL, Code: gateCode(t, s, 2)})
	if !errors.Is(err, ErrDownload) || !errors.Is(err, client.ErrUntrusted) {
		t.Fatalf("tampered snapshot: got %v, want ErrDownload wrapping ErrUntrusted", err)
	}
	if tampered.Load() == 0 {
		t.Fatal("the proxy found nothing to tamper with")
	}
	if _, err := os.Stat(gatedir.Replica(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a replica was built from a tampered snapshot: %v", err)
	}
	tamper.Store(false)
	if _, err := Gate(ctx, Config{Dir: dir, Server: mitm.URL}); err != nil {
		t.Fatalf("resumed over a sound path: %v", err)
	}
}
