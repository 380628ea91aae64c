package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// mitm is an HTTP proxy between gates and the server over plain http://
// that, while attacking, rewrites answers as a network attacker would: it
// adds a change trusting its own signing key to every feed page, and its
// key to every snapshot, keeping the server's signature header.
type mitm struct {
	attack   atomic.Bool
	revoke   atomic.Bool  // answer every gate request 401 gate_revoked itself
	acks     atomic.Bool  // inflate every upload answer's acknowledgement and server time
	tampered atomic.Int64 // answers rewritten
	key      kido.Key     // the attacker's key, as a change would carry it
	srv      *httptest.Server
}

func startMITM(t *testing.T, target string, key kido.Key) *mitm {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	m := &mitm{key: key}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Header.Del("Accept-Encoding") // bodies in the clear, to rewrite them
		},
		ModifyResponse: m.modify,
	}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.revoke.Load() && strings.HasPrefix(r.URL.Path, "/v1/gate/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"server: gate was revoked","code":"gate_revoked","hint":"re-enrol"}` + "\n"))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mitm) modify(resp *http.Response) error {
	path := resp.Request.URL.Path
	if m.acks.Load() && path == "/v1/gate/upload" && resp.StatusCode == http.StatusOK {
		return m.rewrite(resp, func(doc map[string]any) {
			doc["acked"], doc["audit_acked"], doc["highest"], doc["audit_highest"] = 1000, 1000, 1000, 1000
			doc["server_time"] = time.Now().UTC().AddDate(1, 0, 0)
		})
	}
	if !m.attack.Load() || resp.StatusCode != http.StatusOK || (path != "/v1/gate/changes" && path != "/v1/gate/snapshot") {
		return nil
	}
	if path == "/v1/gate/changes" && resp.Header.Get("Content-Type") == wire.FeedV2Type {
		return m.rewriteFeed(resp)
	}
	var key any
	kb, _ := json.Marshal(m.key)
	json.Unmarshal(kb, &key)
	return m.rewrite(resp, func(doc map[string]any) {
		if path == "/v1/gate/changes" {
			doc["changes"] = append(doc["changes"].([]any), map[string]any{"kind": "key", "key": key})
		} else {
			doc["keys"] = append(doc["keys"].([]any), key)
		}
	})
}

// rewriteFeed adds the attacker's key to a compact feed page (version 2,
// docs/sync-protocol.md §4.5), keeping every header but the length.
func (m *mitm) rewriteFeed(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	ch, err := wire.UnmarshalFeed(body)
	if err != nil {
		return err
	}
	key := m.key
	ch.Changes = append(ch.Changes, wire.Change{Kind: wire.ChangeKey, Key: &key})
	out, err := wire.MarshalFeed(ch)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	m.tampered.Add(1)
	return nil
}

// rewrite replaces resp's JSON object body by what change makes of it,
// keeping every header but the length.
func (m *mitm) rewrite(resp *http.Response, change func(map[string]any)) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	change(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	out = append(out, '\n')
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	m.tampered.Add(1)
	return nil
}

// replicaDigest hashes what a gate decides from and where its feed
// stands: event, tiers, keys, gates, roster, admissions (learnt ones too)
// and the cursor.
// No process may have the replica open.
func replicaDigest(t *testing.T, g *gateDir) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+gatedir.Replica(g.dir)+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := sha256.New()
	for _, q := range []string{
		"SELECT * FROM event", "SELECT * FROM tiers ORDER BY id", "SELECT * FROM keys ORDER BY id",
		"SELECT * FROM gates ORDER BY id", "SELECT * FROM roster ORDER BY serial",
		"SELECT * FROM admissions ORDER BY gate, seq", "SELECT * FROM learnt_pages ORDER BY id",
		"SELECT * FROM learnt_runs ORDER BY gate, lo", "SELECT cursor FROM state",
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s %v\n", q, vals)
		}
		rows.Close()
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestMITMCannotInjectKey is issue 10's attack, with the real binaries: a
// proxy between kido-gate and kido-server over plain http:// adds its own
// signing key to the feed and to a snapshot. The gate refuses both
// answers, a ticket signed with the attacker's key stays unknown_key,
// nothing in the replica changes, and status shows the fault with its
// hint. A revocation the proxy forges wipes nothing. Once the proxy
// stops, the gate syncs again.
func TestMITMCannotInjectKey(t *testing.T) {
	srv := startServer(t)
	ev := newEvent(t, srv, 4)
	attacker, err := ticket.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	m := startMITM(t, srv.url, kido.Key{ID: attacker.Public().ID().String(), Public: attacker.Public().String(),
		Event: ev.id, Current: true, Created: created})
	forged := ticket.Sign(attacker, ticket.Claims{Event: ev.id, Serial: 2, Tier: ev.tier}).String()
	scanForged := func(g *gateDir, when string) {
		t.Helper()
		out, err := gateRun(g.dir, strings.NewReader(forged+"\r\n"), "scan", "-json", "-")
		var s scanned
		if jerr := json.Unmarshal(bytes.TrimSpace(out), &s); jerr != nil {
			t.Fatalf("scan %s: %v %v\n%s", when, err, jerr, out)
		}
		if s.Decision == "admit" || s.Reason != "unknown_key" {
			t.Fatalf("the attacker's ticket %s: %+v, want reject unknown_key", when, s)
		}
	}

	g := ev.enroll(t, "North 1", m.srv.URL) // through the proxy, while it passes traffic
	scanForged(g, "before the attack")

	if _, err := ev.scanAll(g, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	before := replicaDigest(t, g)

	// A false acknowledgement would make the gate stop resending the
	// admission the server never stored, and a false server time would
	// move its trusted clock: the answer is refused, the admission waits.
	m.acks.Store(true)
	if out, err := gateRun(g.dir, nil, "sync"); err == nil || !strings.Contains(string(out), "POST /v1/gate/upload") || !strings.Contains(string(out), "nothing was applied") {
		t.Fatalf("sync under forged acknowledgements: %v\n%s\nwant a refusal", err, out)
	}
	if st, err := g.status(); err != nil || st.Pending != 1 || st.Acked != 0 {
		t.Fatalf("after a forged acknowledgement: %+v, %v; want the admission still pending", st, err)
	}
	m.acks.Store(false)

	// The upload goes through; the feed page with the admission, and the
	// empty one after it, get the attacker's key.
	m.attack.Store(true)
	out, err := gateRun(g.dir, nil, "sync")
	if err == nil || !strings.Contains(string(out), "nothing was applied") {
		t.Fatalf("sync through the attacker: %v\n%s\nwant a refusal", err, out)
	}
	if m.tampered.Load() == 0 {
		t.Fatal("the proxy rewrote no answer")
	}
	if got := replicaDigest(t, g); got != before {
		t.Error("the replica changed under a forged feed answer")
	}
	st, err := g.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.SyncState != "offline" || !strings.Contains(st.SyncError, "not signed by the server this gate enrolled with") || !strings.Contains(st.SyncError, "hint:") {
		t.Errorf("status after the attack: state %q, error %q; want the forged answer and a hint", st.SyncState, st.SyncError)
	}
	scanForged(g, "during the attack")

	// A gate enrolled while the attacker tampers with snapshots gets no
	// replica at all.
	g2 := &gateDir{name: "South 1", dir: t.TempDir() + "/gate"}
	var added struct {
		kido.Gate
		Code        string    `json:"code"`
		Expires     time.Time `json:"expires"`
		Fingerprint string    `json:"fingerprint"`
	}
	srv.ctlJSON(&added, "gate", "add", "-event", strconv.FormatUint(uint64(ev.id), 10), "-name", g2.name)
	out, err = gateRun(g2.dir, nil, "enroll", "-server", m.srv.URL, "-code", added.Code, "-device", g2.name)
	if err == nil || !strings.Contains(string(out), "nothing was applied") {
		t.Fatalf("enrol through the attacker: %v\n%s\nwant a refusal", err, out)
	}
	if _, err := gateRun(g2.dir, nil, "status"); err == nil {
		t.Error("a gate enrolled from a tampered snapshot has a replica")
	}

	// A forged revocation would make the gate wipe its replica and
	// credential, records not yet uploaded with them: it is not signed,
	// so nothing is wiped.
	m.attack.Store(false)
	m.revoke.Store(true)
	if out, err := gateRun(g.dir, nil, "sync"); err == nil || !strings.Contains(string(out), "unsigned; nothing was applied") {
		t.Fatalf("sync under a forged revocation: %v\n%s\nwant a refusal", err, out)
	}
	for _, f := range []string{gatedir.Replica(g.dir), gatedir.Credential(g.dir)} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a forged revocation wiped the gate: %v", err)
		}
	}
	m.revoke.Store(false)

	// The attack ends: the same gate syncs, uploads its admission, and
	// still does not know the attacker's key.
	if out, err := gateRun(g.dir, nil, "sync"); err != nil {
		t.Fatalf("sync after the attack: %v\n%s", err, out)
	}
	if st, err := g.status(); err != nil || st.SyncState != "ok" || st.Pending != 0 {
		t.Errorf("status after the attack ended: %+v, %v", st, err)
	}
	scanForged(g, "after the attack")
}
