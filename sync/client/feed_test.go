package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// TestChangesEncodings: the gate client asks for the compact feed, reads
// it when the answer's Content-Type says so, and refuses a compact body
// signed under the JSON domain (the signature binds the encoding); a JSON
// answer (a server of before version 2) still reads.
func TestChangesEncodings(t *testing.T) {
	at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	a := kido.Admission{Gate: 2, Seq: 1, Serial: 5, Tier: 1, Kind: kido.KindEntry, At: at, Corrected: at, Text: "x"}
	a.Hash = wire.AdmissionHash(a)
	compact, err := wire.MarshalFeed(&wire.Changes{Changes: []wire.Change{{Kind: wire.ChangeAdmission, Admission: &a}}, Cursor: "13.00cd", ServerTime: at})
	if err != nil {
		t.Fatal(err)
	}
	json := []byte(`{"changes":[],"cursor":"13.00cd","server_time":"2027-08-01T01:00:00Z"}`)
	tests := []struct {
		name, ctype string
		body        []byte
		sign        func(uint32, string, []byte) []byte
		want        error
		changes     int
	}{
		{"compact", wire.FeedV2Type, compact, wire.ChangesV2SignedMessage, nil, 1},
		{"compact signed as JSON", wire.FeedV2Type, compact, wire.ChangesSignedMessage, ErrUntrusted, 0},
		{"JSON from an older server", "application/json", json, wire.ChangesSignedMessage, nil, 0},
		{"JSON signed as compact", "application/json", json, wire.ChangesV2SignedMessage, ErrUntrusted, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var accept string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				accept = r.Header.Get("Accept")
				w.Header().Set(wire.HeaderSignature, wire.SignAnswer(testIdentity, tt.sign(7, r.URL.Query().Get("cursor"), tt.body)))
				w.Header().Set("Content-Type", tt.ctype)
				w.Write(tt.body)
			}))
			defer srv.Close()
			c, err := New(srv.URL, "cred", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c, err = c.Pinned(testPin); err != nil {
				t.Fatal(err)
			}
			ch, err := c.Changes(context.Background(), "12.00ab", 0)
			if !errors.Is(err, tt.want) || (err == nil && len(ch.Changes) != tt.changes) {
				t.Fatalf("got %+v, %v; want %d changes, %v", ch, err, tt.changes, tt.want)
			}
			if accept != wire.FeedV2Type+", application/json;q=0.5" {
				t.Errorf("Accept: %q", accept)
			}
			if err == nil && tt.changes == 1 && !wire.SameRecord(ch.Changes[0].Admission.Hash, a.Hash) {
				t.Errorf("admission %+v", ch.Changes[0].Admission)
			}
		})
	}
}
