package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server/servertest"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// serverURL returns the server URL the replica in dir syncs with.
func serverURL(t *testing.T, dir string) string {
	t.Helper()
	r, err := openReplica(dir, kido.DefaultLeeway)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.ServerURL
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestSyncMovesServer: a gate whose server moved to a new URL follows it
// with sync -server, and only to a server that proves the identity the
// gate enrolled with; a refused move changes nothing and sends no
// credential.
func TestSyncMovesServer(t *testing.T) {
	ls := startServer(t, 10)
	old := ls.url
	dir := filepath.Join(t.TempDir(), "gate")
	if out, err := gateCmd(t, "enroll", "-server", old, "-code", ls.gateCode(t, "North 1"), "-data", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if out, err := gateCmd(t, "scan", "-data", dir, ls.tickets[2].Text); err != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}

	// The server moves: the old address answers no more, and sync says
	// how to follow it.
	moved := ls.srv.Listen(t)
	ls.srv.HTTP.Close()
	out, err := gateCmd(t, "sync", "-data", dir)
	if exitCodeOf(err) != 1 || !strings.Contains(out, "cannot reach server at "+old) ||
		!strings.Contains(out, "hint: check that kido-server is running and that this device reaches it; if the server moved to a new URL, point the gate at it: kido-gate sync -server URL") ||
		strings.Contains(out, "KIDO_SERVER") {
		t.Errorf("sync with the server gone: exit %d\n%s", exitCodeOf(err), out)
	}

	// Another kido server is refused, naming both identities.
	other := servertest.Start(t)
	out, err = gateCmd(t, "sync", "-data", dir, "-server", other.URL)
	if exitCodeOf(err) != 1 || !strings.Contains(out, "server URL not changed, the gate still syncs with "+old) ||
		!strings.Contains(out, "(fingerprint "+other.Info.Fingerprint+"), not "+ls.srv.Info.ID+" (fingerprint "+ls.srv.Info.Fingerprint+")") {
		t.Errorf("sync -server to another server: exit %d\n%s", exitCodeOf(err), out)
	}
	if got := serverURL(t, dir); got != old {
		t.Errorf("after a refused move the gate syncs with %s, want %s", got, old)
	}

	// An impostor that names the gate's server but signs with a key of
	// its own is refused too, and never sees the credential.
	own, err := ticket.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var credentialSeen atomic.Bool
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			credentialSeen.Store(true)
		}
		var req wire.IdentityRequest
		json.NewDecoder(r.Body).Decode(&req)
		sig := ed25519.Sign(ed25519.NewKeyFromSeed(own.Seed()), wire.IdentitySignedMessage(req.Nonce))
		json.NewEncoder(w).Encode(wire.IdentityProof{Server: ls.srv.Info, Signature: base64.StdEncoding.EncodeToString(sig)})
	}))
	defer impostor.Close()
	out, err = gateCmd(t, "sync", "-data", dir, "-server", impostor.URL)
	if exitCodeOf(err) != 1 || !strings.Contains(out, "does not prove an identity") {
		t.Errorf("sync -server to an impostor: exit %d\n%s", exitCodeOf(err), out)
	}
	if credentialSeen.Load() {
		t.Error("the gate sent its credential to a server that did not prove its identity")
	}
	if got := serverURL(t, dir); got != old {
		t.Errorf("after a refused move the gate syncs with %s, want %s", got, old)
	}

	// A server that proves the identity but does not take the credential
	// (say, one restored from a backup older than the gate) is not kept.
	h := ls.srv.Core.Handler()
	forgetful := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/gate/") {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(wire.Error{Error: "server: unknown or revoked token", Code: "unauthorized"})
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer forgetful.Close()
	out, err = gateCmd(t, "sync", "-data", dir, "-server", forgetful.URL)
	if exitCodeOf(err) != 1 || !strings.Contains(out, "the server URL was not changed: the gate still syncs with "+old) {
		t.Errorf("sync -server to a server that refuses the credential: exit %d\n%s", exitCodeOf(err), out)
	}
	if got := serverURL(t, dir); got != old {
		t.Errorf("after a failed move the gate syncs with %s, want %s", got, old)
	}

	// The server at its new address proves the identity: the gate moves,
	// uploads its admission there, and syncs there from now on.
	out, err = gateCmd(t, "sync", "-data", dir, "-server", moved)
	if err != nil || !strings.Contains(out, "server moved: "+old+" → "+moved) || !strings.Contains(out, "1 stored") {
		t.Fatalf("sync -server to the moved server: %v\n%s", err, out)
	}
	if got := serverURL(t, dir); got != moved {
		t.Errorf("after the move the gate syncs with %s, want %s", got, moved)
	}
	if out, err := gateCmd(t, "sync", "-data", dir); err != nil || !strings.Contains(out, "0 records wait for upload") {
		t.Errorf("sync after the move: %v\n%s", err, out)
	}
	admin, err := client.New(moved, ls.srv.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := admin.Report(context.Background(), ls.event)
	if err != nil || rep.Admitted != 1 {
		t.Errorf("server report after the move: %+v, %v; want 1 admitted", rep, err)
	}
}
