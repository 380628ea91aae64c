package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// BenchmarkPropagation measures how long an admission uploaded at one gate
// takes to reach the other gates of the event that are long-polling the
// feed, over loopback: from the start of the upload to each poll's answer.
// It reports the median and the 99th percentile over every (admission,
// gate) pair. Run with a fixed count, e.g. -benchtime=200x.
func BenchmarkPropagation(b *testing.B) {
	f := newFixture(b)
	ev := f.event(b)
	tk := f.issue(b, ev, "b1", 1)[0]
	up := f.gate(b, ev, "Uploader")
	const pollers = 20
	got := make(chan time.Time, pollers*4)
	stop := make(chan struct{})
	for i := 0; i < pollers; i++ {
		g := f.gate(b, ev, "Poller")
		cur := g.snapshotCursor(b)
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/gate/changes?"+url.Values{"cursor": {cur}, "wait": {"25s"}}.Encode(), nil)
				req.Header.Set("Authorization", "Bearer "+g.cred)
				resp, err := f.srv.Client().Do(req)
				if err != nil {
					return
				}
				var c wire.Changes
				err = json.NewDecoder(resp.Body).Decode(&c)
				resp.Body.Close()
				if err != nil {
					return
				}
				cur = c.Cursor
				for _, ch := range c.Changes {
					if ch.Kind == wire.ChangeAdmission {
						got <- time.Now()
						break
					}
				}
			}
		}()
	}
	var lat []time.Duration
	time.Sleep(200 * time.Millisecond) // every poller waiting
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		adm := up.admission(tk, kido.KindEntry, admitTime)
		body, _ := json.Marshal(wire.UploadRequest{Admissions: []kido.Admission{adm}})
		t0 := time.Now()
		if a := up.do(b, http.MethodPost, "/v1/gate/upload", body); a.status != http.StatusOK {
			b.Fatalf("upload: %d %s", a.status, a.body)
		}
		for j := 0; j < pollers; j++ {
			select {
			case t := <-got:
				lat = append(lat, t.Sub(t0))
			case <-time.After(10 * time.Second):
				b.Fatalf("admission %d reached only %d of %d gates", i, j, pollers)
			}
		}
		// Let the pollers be back in their long-polls, as online gates are.
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	close(stop)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkUploadBatch measures the server's side of one full upload
// batch (wire.MaxBatch admissions of issued tickets), as each gate of a
// reconnecting herd sends them: decode, check, verify, store in one
// transaction, answer. ns/op is per batch.
func BenchmarkUploadBatch(b *testing.B) {
	f := newFixture(b)
	ev := f.event(b)
	const per = wire.MaxBatch
	tks := f.issue(b, ev, "b1", per)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		g := f.gate(b, ev, "Herd")
		req := wire.UploadRequest{}
		for _, tk := range tks {
			req.Admissions = append(req.Admissions, g.admission(tk, kido.KindEntry, admitTime))
		}
		body, _ := json.Marshal(req)
		b.StartTimer()
		if a := g.do(b, http.MethodPost, "/v1/gate/upload", body); a.status != http.StatusOK {
			b.Fatalf("upload: %d %s", a.status, a.body)
		}
	}
}
