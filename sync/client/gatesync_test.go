package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

func TestGateCallsCarryHeartbeat(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		switch r.URL.Path {
		case "/v1/gate/upload":
			var req wire.UploadRequest
			raw, _ := io.ReadAll(r.Body)
			if err := wire.Decode(bytes.NewReader(raw), &req, wire.MaxUploadBody); err != nil {
				w.WriteHeader(400)
				return
			}
			body, _ := json.Marshal(wire.UploadResponse{Acked: uint64(len(req.Admissions))})
			signUpload(w, raw, body)
			w.Write(body)
		case "/v1/gate/changes":
			if r.URL.Query().Get("cursor") != "12.00ab" || r.URL.Query().Get("wait") != "25s" {
				w.WriteHeader(400)
				return
			}
			body, _ := json.Marshal(wire.Changes{Changes: []wire.Change{}, Cursor: "13.00cd"})
			w.Header().Set(wire.HeaderSignature, wire.SignAnswer(testIdentity, wire.ChangesSignedMessage(7, "12.00ab", body)))
			w.Write(body)
		}
	}))
	defer srv.Close()
	hbTime := time.Date(2027, 8, 1, 1, 2, 3, 0, time.UTC)
	c, err := NewGate(srv.URL, "cred", testPin, Security{}, func() wire.Heartbeat { return wire.Heartbeat{Version: "0.1.0", Pending: 7, Time: hbTime} })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if resp, err := c.Upload(ctx, &wire.UploadRequest{Admissions: []kido.Admission{}, Audits: []wire.AuditRecord{}}); err != nil || resp.Acked != 0 {
		t.Fatalf("upload: %v %+v", err, resp)
	}
	ch, err := c.Changes(ctx, "12.00ab", 25*time.Second)
	if err != nil || ch.Cursor != "13.00cd" {
		t.Fatalf("changes: %v %+v", err, ch)
	}
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	for _, h := range got {
		hb, err := wire.ParseHeartbeat(h)
		if err != nil || hb.Version != "0.1.0" || hb.Pending != 7 || !hb.Time.Equal(hbTime) || h.Get("Authorization") != "Bearer cred" {
			t.Errorf("headers %v: %+v %v", h, hb, err)
		}
	}
}

func TestUploadConflictCarriesAnswer(t *testing.T) {
	body := `{"acked":9,"audit_acked":2,"highest":9,"audit_highest":2,"stored":1,"duplicates":0,
		"quarantined":[{"record":"admission","seq":8}],"server_time":"2027-08-01T01:02:05Z",
		"error":"server: gate 3 seq 8 reused with other content","code":"seq_conflict","hint":"call the operator"}`
	for _, tt := range []struct {
		name, body string
		want       error
		wantResp   bool
	}{
		{"seq conflict", body, ErrConflict, true},
		{"409 without an upload answer", `{"error":"server: conflict","code":"conflict"}`, ErrServer, false},
		{"400 is no answer", "", ErrBadRequest, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.body == "" {
					w.WriteHeader(400)
					w.Write([]byte(`{"error":"server: admission 4: bad ticket","code":"bad_ticket"}`))
					return
				}
				raw, _ := io.ReadAll(r.Body)
				signUpload(w, raw, []byte(tt.body))
				w.WriteHeader(409)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, _ := NewGate(srv.URL, "cred", testPin, Security{}, func() wire.Heartbeat { return wire.Heartbeat{Pending: -1} })
			resp, err := c.Upload(context.Background(), &wire.UploadRequest{})
			if !errors.Is(err, tt.want) || (resp != nil) != tt.wantResp {
				t.Fatalf("got %+v, %v; want %v with answer %v", resp, err, tt.want, tt.wantResp)
			}
			if tt.wantResp && (resp.Acked != 9 || len(resp.Quarantined) != 1 || resp.Quarantined[0].Seq != 8) {
				t.Errorf("answer %+v", resp)
			}
		})
	}
}
