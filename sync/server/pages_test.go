package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// getPage asks the feed from cursor in the encoding accept names and
// returns the answer after checking its signature under domain sign.
func (g *gateDev) getPage(t testing.TB, cursor, accept string, sign func(uint32, string, []byte) []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.f.srv.URL+"/v1/gate/changes?"+url.Values{"cursor": {cursor}}.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+g.cred)
	req.Header.Set("Accept", accept)
	resp, err := g.f.srv.Client().Do(req)
	if err != nil {
		t.Error(err)
		return answer{}
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	a := answer{resp.StatusCode, resp.Header, body.Bytes()}
	id, _ := ticket.ParsePublicKey(g.f.info.ID)
	if err := wire.VerifyAnswer(id.Bytes(), sign(g.event, cursor, a.body), a.header.Get(wire.HeaderSignature)); a.status != 200 || err != nil {
		t.Errorf("gate %d from %s: %d %v", g.id, cursor, a.status, err)
	}
	return a
}

// TestFeedPageBuiltOnce: many gates of an event asking from one cursor
// get the same bytes and signature, from one page built once; the page
// after a full one is built before it is asked for; the JSON encoding an
// older gate asks for is its own page; a commit makes a page that ended
// at the log head be built again, with the new change.
func TestFeedPageBuiltOnce(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	const gates = 20
	var gs []*gateDev
	for range gates {
		gs = append(gs, f.gate(t, ev, "Herd"))
	}
	up := f.gate(t, ev, "Uploader")
	tks := f.issue(t, ev, "b1", server.MaxCompactChanges+200)
	cur := gs[0].snapshotCursor(t)
	up.uploadEntries(t, tks)

	pages := make([]answer, gates)
	var wg sync.WaitGroup
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages[i] = g.getPage(t, cur, wire.FeedV2Type, wire.ChangesV2SignedMessage)
		}()
	}
	wg.Wait()
	if n := f.server.PagesBuilt(ev, cur, true); n != 1 {
		t.Errorf("%d gates asking from one cursor: %d pages built, want 1", gates, n)
	}
	for i, p := range pages {
		if !bytes.Equal(p.body, pages[0].body) || p.header.Get(wire.HeaderSignature) != pages[0].header.Get(wire.HeaderSignature) {
			t.Errorf("gate %d got other bytes or another signature than gate 0", i)
		}
	}
	full, err := wire.UnmarshalFeed(pages[0].body)
	if err != nil || len(full.Changes) != server.MaxCompactChanges || pages[0].header.Get("Content-Type") != wire.FeedV2Type {
		t.Fatalf("page: %v, type %q; want %d changes", err, pages[0].header.Get("Content-Type"), server.MaxCompactChanges)
	}

	// The next page is being built already.
	for deadline := time.Now().Add(10 * time.Second); f.server.PagesBuilt(ev, full.Cursor, true) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the page after a full one was not built before it was asked for")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// An older gate asks for JSON: a page of its own, built once too.
	j1 := gs[0].getPage(t, cur, "application/json", wire.ChangesSignedMessage)
	j2 := gs[1].getPage(t, cur, "application/json", wire.ChangesSignedMessage)
	if n := f.server.PagesBuilt(ev, cur, false); n != 1 || !bytes.Equal(j1.body, j2.body) || j1.header.Get("Content-Type") != "application/json" {
		t.Errorf("JSON pages: %d built, same bytes %v, type %q", n, bytes.Equal(j1.body, j2.body), j1.header.Get("Content-Type"))
	}
	var jp wire.Changes
	if err := json.Unmarshal(j1.body, &jp); err != nil || len(jp.Changes) != server.MaxChanges {
		t.Errorf("JSON page: %d changes, %v; want %d", len(jp.Changes), err, server.MaxChanges)
	}

	// The rest ends at the log head: after a commit it is read again.
	tail := gs[0].getPage(t, full.Cursor, wire.FeedV2Type, wire.ChangesV2SignedMessage)
	if p, err := wire.UnmarshalFeed(tail.body); err != nil || len(p.Changes) != len(tks)-server.MaxCompactChanges {
		t.Fatalf("tail: %v; want %d changes", err, len(tks)-server.MaxCompactChanges)
	}
	more := f.issue(t, ev, "b2", 1)
	if a := up.upload(t, wire.UploadRequest{Admissions: []kido.Admission{up.admission(more[0], kido.KindEntry, admitTime)}}); a.status != 200 {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}
	again := gs[1].getPage(t, full.Cursor, wire.FeedV2Type, wire.ChangesV2SignedMessage)
	p, err := wire.UnmarshalFeed(again.body)
	if err != nil || len(p.Changes) < len(tks)-server.MaxCompactChanges+1 {
		t.Fatalf("tail after a commit: %d changes, %v; want the new admission too", len(p.Changes), err)
	}
}

// uploadEntries uploads an entry of each ticket, a batch at a time.
func (g *gateDev) uploadEntries(t testing.TB, tks []wire.IssuedTicket) {
	t.Helper()
	for i := 0; i < len(tks); i += wire.MaxBatch {
		var req wire.UploadRequest
		for _, tk := range tks[i:min(i+wire.MaxBatch, len(tks))] {
			req.Admissions = append(req.Admissions, g.admission(tk, kido.KindEntry, admitTime))
		}
		if a := g.upload(t, req); a.status != 200 {
			t.Fatalf("upload: %d %s", a.status, a.body)
		}
	}
}
