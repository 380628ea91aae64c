package client

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// testIdentity is the identity key of the fake servers here; testPin pins
// it for gate 4 of event 7.
var (
	testIdentity = ed25519.NewKeyFromSeed(seedKey(1).Seed())
	testPin      = Pin{Identity: seedKey(1).Public().String(), Event: 7, Gate: 4}
)

// TestSignedAnswers checks that a gate client returns a snapshot or a
// feed answer only when it is signed by the pinned identity for this
// request, and otherwise an error wrapping ErrUntrusted with Status 0 (the
// sync loop's "not reached").
func TestSignedAnswers(t *testing.T) {
	other := ed25519.NewKeyFromSeed(seedKey(2).Seed())
	changes, _ := json.Marshal(wire.Changes{Changes: []wire.Change{}, Cursor: "13.00cd"})
	key := kido.Key{ID: "00000001", Event: 7, Public: seedKey(3).Public().String()}
	injected, _ := json.Marshal(wire.Changes{Changes: []wire.Change{{Kind: wire.ChangeKey, Key: &key}}, Cursor: "13.00cd"})
	snap, _ := json.Marshal(wire.Snapshot{Event: kido.Event{ID: 7}, Gate: kido.Gate{ID: 4, Event: 7}, Cursor: "c1"})
	otherGate, _ := json.Marshal(wire.Snapshot{Event: kido.Event{ID: 7}, Gate: kido.Gate{ID: 5, Event: 7}, Cursor: "c1"})

	type answer func(r *http.Request) (body []byte, sig string)
	signChanges := func(k ed25519.PrivateKey, event uint32, cursor string, signed, sent []byte) answer {
		return func(r *http.Request) ([]byte, string) {
			if cursor == "" {
				cursor = r.URL.Query().Get("cursor")
			}
			return sent, wire.SignAnswer(k, wire.ChangesSignedMessage(event, cursor, signed))
		}
	}
	signSnap := func(k ed25519.PrivateKey, nonce string, signed, sent []byte) answer {
		return func(r *http.Request) ([]byte, string) {
			if nonce == "" {
				nonce = r.URL.Query().Get("nonce")
			}
			return sent, wire.SignAnswer(k, wire.SnapshotSignedMessage(nonce, signed))
		}
	}
	tests := []struct {
		name     string
		snapshot bool
		answer   answer
		want     error
	}{
		{"changes signed", false, signChanges(testIdentity, 7, "", changes, changes), nil},
		{"changes unsigned", false, func(*http.Request) ([]byte, string) { return changes, "" }, ErrUntrusted},
		{"changes signed by another key", false, signChanges(other, 7, "", changes, changes), ErrUntrusted},
		{"key change injected", false, signChanges(testIdentity, 7, "", changes, injected), ErrUntrusted},
		{"changes of another event", false, signChanges(testIdentity, 8, "", changes, changes), ErrUntrusted},
		{"changes answering another cursor (replay)", false, signChanges(testIdentity, 7, "11.00ef", changes, changes), ErrUntrusted},
		{"signature not base64", false, func(*http.Request) ([]byte, string) { return changes, "!!" }, ErrUntrusted},
		{"snapshot signed", true, signSnap(testIdentity, "", snap, snap), nil},
		{"snapshot unsigned", true, func(*http.Request) ([]byte, string) { return snap, "" }, ErrUntrusted},
		{"snapshot with another nonce (replay)", true, signSnap(testIdentity, "00112233445566778899aabbccddeeff", snap, snap), ErrUntrusted},
		{"snapshot signed as changes", true, func(r *http.Request) ([]byte, string) {
			return snap, wire.SignAnswer(testIdentity, wire.ChangesSignedMessage(7, r.URL.Query().Get("nonce"), snap))
		}, ErrUntrusted},
		{"snapshot of another gate", true, signSnap(testIdentity, "", otherGate, otherGate), ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, sig := tt.answer(r)
				if sig != "" {
					w.Header().Set(wire.HeaderSignature, sig)
				}
				w.Write(body)
			}))
			defer srv.Close()
			c, err := NewGate(srv.URL, "cred", testPin, Security{}, func() wire.Heartbeat { return wire.Heartbeat{Pending: -1} })
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if tt.snapshot {
				got, err = c.Snapshot(context.Background())
			} else {
				got, err = c.Changes(context.Background(), "12.00ab", 0)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil {
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || (tt.want == ErrUntrusted && (ce.Status != 0 || ce.Hint == "")) {
				t.Errorf("error %#v: want Status 0 and a hint", err)
			}
			if got != nil && !isNilAnswer(got) {
				t.Errorf("an answer was returned with the error: %+v", got)
			}
		})
	}
}

func isNilAnswer(v any) bool {
	switch a := v.(type) {
	case *wire.Snapshot:
		return a == nil
	case *wire.Changes:
		return a == nil
	}
	return false
}

// TestUnpinnedRefusesAnswers: a client that was given no pin takes no
// snapshot or feed answer, signed or not.
func TestUnpinnedRefusesAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") }))
	defer srv.Close()
	c, _ := New(srv.URL, "cred", nil)
	if _, err := c.Changes(context.Background(), "1.00", time.Second); err == nil {
		t.Error("changes accepted without a pin")
	}
	if _, err := c.Snapshot(context.Background()); err == nil {
		t.Error("snapshot accepted without a pin")
	}
	if _, err := c.Pinned(Pin{Identity: ticket.PublicKey{}.String(), Event: 7, Gate: 4}); err == nil {
		t.Error("a malformed identity was pinned")
	}
}

// TestSignedRevocation: a gate client passes on 401 gate_revoked, on which
// the gate wipes itself, only when the pinned server signed it for this
// gate; otherwise it is ErrUntrusted.
func TestSignedRevocation(t *testing.T) {
	body := []byte(`{"error":"server: gate 4 was revoked","code":"gate_revoked"}` + "\n")
	for _, tt := range []struct {
		name string
		sig  string
		want error
	}{
		{"signed", wire.SignAnswer(testIdentity, wire.GateRevokedSignedMessage(7, 4, body)), ErrUnauthorized},
		{"unsigned", "", ErrUntrusted},
		{"signed for another gate", wire.SignAnswer(testIdentity, wire.GateRevokedSignedMessage(7, 5, body)), ErrUntrusted},
		{"signed by another key", wire.SignAnswer(ed25519.NewKeyFromSeed(seedKey(2).Seed()), wire.GateRevokedSignedMessage(7, 4, body)), ErrUntrusted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.sig != "" {
					w.Header().Set(wire.HeaderSignature, tt.sig)
				}
				w.WriteHeader(http.StatusUnauthorized)
				w.Write(body)
			}))
			defer srv.Close()
			c, err := NewGate(srv.URL, "cred", testPin, Security{}, func() wire.Heartbeat { return wire.Heartbeat{Pending: -1} })
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Upload(context.Background(), &wire.UploadRequest{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var ce *Error
			if tt.want == ErrUnauthorized && (!errors.As(err, &ce) || ce.Code != wire.CodeGateRevoked) {
				t.Errorf("a signed revocation lost its code: %v", err)
			}
		})
	}
}

// signUpload signs an upload answer body as testPin's server would, for
// the request body req.
func signUpload(w http.ResponseWriter, req, body []byte) {
	w.Header().Set(wire.HeaderSignature, wire.SignAnswer(testIdentity, wire.UploadSignedMessage(testPin.Event, testPin.Gate, sha256.Sum256(req), body)))
}

// TestSignedUploadAnswer: an acknowledgement moves the gate's queue (a
// false one would make it stop resending records the server never
// stored), so it counts only when signed for this gate and this batch.
func TestSignedUploadAnswer(t *testing.T) {
	answer := []byte(`{"acked":9,"audit_acked":0,"highest":9,"audit_highest":0,"stored":9,"duplicates":0,"server_time":"2027-08-01T01:02:05Z"}` + "\n")
	for _, tt := range []struct {
		name string
		sign func(req []byte) string
		want error
	}{
		{"signed", func(req []byte) string {
			return wire.SignAnswer(testIdentity, wire.UploadSignedMessage(7, 4, sha256.Sum256(req), answer))
		}, nil},
		{"unsigned", func([]byte) string { return "" }, ErrUntrusted},
		{"answer to another batch", func([]byte) string {
			return wire.SignAnswer(testIdentity, wire.UploadSignedMessage(7, 4, sha256.Sum256([]byte(`{"admissions":[],"audits":[]}`)), answer))
		}, ErrUntrusted},
		{"answer to another gate", func(req []byte) string {
			return wire.SignAnswer(testIdentity, wire.UploadSignedMessage(7, 5, sha256.Sum256(req), answer))
		}, ErrUntrusted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				req, _ := io.ReadAll(r.Body)
				if sig := tt.sign(req); sig != "" {
					w.Header().Set(wire.HeaderSignature, sig)
				}
				w.Write(answer)
			}))
			defer srv.Close()
			c, err := NewGate(srv.URL, "cred", testPin, Security{}, func() wire.Heartbeat { return wire.Heartbeat{Pending: -1} })
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
			a := kido.Admission{Gate: 4, Seq: 9, Serial: 1, Tier: 1, Kind: kido.KindManual, At: at, Corrected: at}
			a.Hash = wire.AdmissionHash(a)
			resp, err := c.Upload(context.Background(), &wire.UploadRequest{Admissions: []kido.Admission{a}, Audits: []wire.AuditRecord{}})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if (resp != nil) != (tt.want == nil) {
				t.Errorf("answer %+v with error %v", resp, err)
			}
		})
	}
}
