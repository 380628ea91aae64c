package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// fakeEnrollServer answers enrolment like kido-server, signing with key and
// announcing announced as its identity.
func fakeEnrollServer(t *testing.T, key ticket.PrivateKey, announced ticket.PublicKey, tamper bool) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/enroll":
			var req wire.EnrollRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Authorization") != "" {
				w.WriteHeader(400)
				return
			}
			resp := wire.EnrollResponse{
				Gate:       kido.Gate{ID: 4, Event: 7, Name: "North 1", Direction: kido.DirectionBoth},
				Credential: "secret-credential",
				Server:     wire.Server{ID: announced.String(), Fingerprint: wire.Fingerprint(announced.Bytes()), Version: "test"},
			}
			priv := ed25519.NewKeyFromSeed(key.Seed())
			nonce := req.Nonce
			if tamper {
				nonce += "x"
			}
			resp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, wire.EnrollSignedMessage(nonce, resp.Gate.ID, resp.Credential)))
			json.NewEncoder(w).Encode(resp)
		case "/v1/gate/snapshot":
			if r.Header.Get("Authorization") != "Bearer secret-credential" {
				w.WriteHeader(401)
				return
			}
			body, _ := json.Marshal(wire.Snapshot{Event: kido.Event{ID: 7}, Gate: kido.Gate{ID: 4, Event: 7}, Cursor: "c1"})
			w.Header().Set(wire.HeaderSignature, wire.SignAnswer(ed25519.NewKeyFromSeed(key.Seed()), wire.SnapshotSignedMessage(r.URL.Query().Get("nonce"), body)))
			w.Write(body)
		}
	}))
}

func seedKey(b byte) ticket.PrivateKey {
	seed := make([]byte, 32)
	seed[0] = b
	k, _ := ticket.NewPrivateKeyFromSeed(seed)
	return k
}

func TestEnroll(t *testing.T) {
	server, impostor := seedKey(1), seedKey(2)
	code := wire.EnrollCode{Secret: "1234567812345678", Fingerprint: wire.Fingerprint(server.Public().Bytes())}.String()
	tests := []struct {
		name      string
		key       ticket.PrivateKey
		announced ticket.PublicKey
		tamper    bool
		code      string
		want      error
	}{
		{"genuine", server, server.Public(), false, code, nil},
		{"other server", impostor, impostor.Public(), false, code, ErrForbidden},
		{"claims the identity without its key", impostor, server.Public(), false, code, ErrForbidden},
		{"replayed answer", server, server.Public(), true, code, ErrForbidden},
		{"typo in code", server, server.Public(), false, "1234 5678 0000 0000 0000 0000", ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeEnrollServer(t, tt.key, tt.announced, tt.tamper)
			defer srv.Close()
			c, err := New(srv.URL, "", srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Enroll(context.Background(), tt.code, "tablet")
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			if resp.Gate.ID != 4 || resp.Credential != "secret-credential" {
				t.Errorf("got gate %d credential %q", resp.Gate.ID, resp.Credential)
			}
			gc, _ := New(srv.URL, resp.Credential, srv.Client())
			gc, err = gc.Pinned(Pin{Identity: resp.Server.ID, Event: resp.Gate.Event, Gate: resp.Gate.ID})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := gc.Snapshot(context.Background())
			if err != nil || snap.Cursor != "c1" {
				t.Errorf("snapshot: %v cursor %q", err, snap.Cursor)
			}
		})
	}
}
