package replica

import (
	"encoding/json"
	"testing"

	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// FuzzApplyChanges feeds arbitrary feed answers (as the client decodes
// them) to a real replica: no panic, and an answer that is refused leaves
// the replica exactly as it was.
func FuzzApplyChanges(f *testing.F) {
	f.Add([]byte(`{"changes":[{"kind":"roster","roster":{"serial":3,"tier":1,"holder":"x","revoked":true}}],"cursor":"c1","server_time":"2027-08-01T00:00:00Z"}`))
	f.Add([]byte(`{"changes":[{"kind":"tier","tier":{"id":1,"event":7,"name":"GA","entries":-1}}],"cursor":"c1","server_time":"2027-08-01T00:00:00Z"}`))
	f.Add([]byte(`{"changes":[{"kind":"gate","gate":{"id":1,"event":7,"name":"N","direction":"up","revoked":false}}],"cursor":"c2","server_time":"2027-08-01T00:00:00Z"}`))
	f.Add([]byte(`{"changes":[{"kind":"admission","admission":{"gate":2,"seq":1,"serial":3,"tier":1,"kind":"entry","at":"2027-08-01T00:00:00Z","corrected":"2027-08-01T00:00:00Z","hash":"00"}}],"cursor":"c3","server_time":"2027-08-01T00:00:00Z"}`))
	// Admissions with a check only, as from a compact page: learnt.
	f.Add([]byte(`{"changes":[{"kind":"admission","admission":{"gate":9,"seq":1,"serial":3,"tier":1,"kind":"entry","at":"0001-01-01T00:00:00Z","corrected":"2027-08-01T00:00:00Z","hash":"0123456789abcdef"}},{"kind":"admission","admission":{"gate":9,"seq":2,"serial":4,"tier":1,"kind":"exit","at":"0001-01-01T00:00:00Z","corrected":"2027-08-01T00:00:00Z","hash":"fedcba9876543210"}}],"cursor":"c5","server_time":"2027-08-01T00:00:00Z"}`))
	// An undo with a check only: kept in admissions, beside the learnt entry it annuls.
	f.Add([]byte(`{"changes":[{"kind":"admission","admission":{"gate":9,"seq":1,"serial":3,"tier":1,"kind":"entry","at":"0001-01-01T00:00:00Z","corrected":"2027-08-01T00:00:00Z","hash":"0123456789abcdef"}},{"kind":"admission","admission":{"gate":9,"seq":2,"serial":3,"tier":1,"kind":"undo","undoes":1,"at":"0001-01-01T00:00:00Z","corrected":"2027-08-01T00:01:00Z","hash":"fedcba9876543210"}}],"cursor":"c6","server_time":"2027-08-01T00:00:00Z"}`))
	f.Add([]byte(`{"changes":[{"kind":"void","void":{"event":7,"gate":2,"from":"2027-08-01T00:00:00Z","reason":"stolen","by":"ops","created":"2027-08-01T01:00:00Z"}}],"cursor":"c4","server_time":"2027-08-01T00:00:00Z"}`))
	f.Add([]byte(`{"changes":[{"kind":"void","void":{"event":0,"gate":2,"from":"0001-01-01T00:00:00Z"}}],"cursor":"c4","server_time":"2027-08-01T00:00:00Z"}`))
	f.Add([]byte(`{"changes":[{"kind":"admission","admission":{"gate":2,"seq":2,"serial":3,"tier":1,"kind":"undo","at":"2027-08-01T00:00:00Z","corrected":"2027-08-01T00:00:00Z","undoes":1,"hash":"0011223344556677"}}],"cursor":"c5","server_time":"2027-08-01T00:00:00Z"}`))
	// Corrections: a retired tier, a ticket replaced by another.
	f.Add([]byte(`{"changes":[{"kind":"tier","tier":{"id":2,"event":7,"name":"VIP","entries":1,"retired":true}},{"kind":"roster","roster":{"serial":3,"tier":1,"holder":"x","revoked":true,"replaced_by":21}}],"cursor":"c5","server_time":"2027-08-01T00:00:00Z"}`))
	r, _ := newReplica(f, 20, gatetest.GateBoth)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ch wire.Changes
		if json.Unmarshal(data, &ch) != nil {
			return
		}
		before := dump(t, r)
		if _, err := r.ApplyChanges(ctx, &ch); err != nil && dump(t, r) != before {
			t.Fatalf("refused answer changed the replica: %v", err)
		}
		// Whatever was applied, learnt or not, the counts read it.
		if _, err := r.Status(ctx); err != nil {
			t.Fatalf("status after an answer: %v", err)
		}
	})
}
