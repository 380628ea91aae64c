package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

var ctx = context.Background()

// newReplica creates a replica for gateID holding a fabricated snapshot of
// n tickets, in a fresh temporary directory.
func newReplica(t testing.TB, n int, gateID uint32) (*Replica, *gatetest.Fixture) {
	t.Helper()
	return newReplicaWith(t, n, gateID, time.Now(), Options{})
}

// newReplicaAt is newReplica on a device clock stopped at now, for tests
// that order scans by time.
func newReplicaAt(t testing.TB, n int, gateID uint32, now time.Time) (*Replica, *gatetest.Fixture) {
	t.Helper()
	return newReplicaWith(t, n, gateID, now, Options{Now: func() time.Time { return now }})
}

func newReplicaWith(t testing.TB, n int, gateID uint32, now time.Time, opts Options) (*Replica, *gatetest.Fixture) {
	t.Helper()
	f := gatetest.New(n, gateID, now)
	path := filepath.Join(t.TempDir(), "replica.db")
	r, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, f
}

func scan(t testing.TB, r *Replica, text string, exit bool) gate.Decision {
	t.Helper()
	d, err := r.Scan(ctx, gate.Line{Text: text, Length: int64(len(text))}, exit)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestScanRecords(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	steps := []struct {
		text   string
		exit   bool
		reason gate.Reason
		seq    uint64
	}{
		{f.Ticket(2), false, gate.OK, 1},
		{"\uFEFF" + f.Ticket(2) + "\r", false, gate.AlreadyUsed, 0},
		{f.Ticket(3), true, gate.ExitRecorded, 2},
		{f.Ticket(3), false, gate.OK, 3}, // an exit does not use a single-entry ticket
		{f.Ticket(11), false, gate.OK, 4},
		{f.Ticket(11), false, gate.AlreadyUsed, 0},
		{f.Ticket(11), true, gate.ExitRecorded, 5},
		{f.Ticket(11), false, gate.OK, 6},
		{f.Ticket(gatetest.RevokedSerial), false, gate.Revoked, 0},
		{f.Forged(4), false, gate.BadSignature, 0},
		{"garbage", false, gate.Malformed, 0},
	}
	for i, s := range steps {
		d := scan(t, r, s.text, s.exit)
		if d.Reason != s.reason || d.Seq != s.seq {
			t.Fatalf("step %d: %s seq %d (%s), want %s seq %d", i, d.Reason, d.Seq, d.Detail, s.reason, s.seq)
		}
	}
	d := scan(t, r, f.Ticket(2), false)
	if !d.Here || !strings.Contains(d.Message(), "admitted here") || d.PriorGateName != "North 1" {
		t.Errorf("repeat here: %q (here %v, gate %q)", d.Message(), d.Here, d.PriorGateName)
	}
	var admissions, audits, maxAudit int
	r.conn.QueryRowContext(ctx, "SELECT count(*) FROM admissions").Scan(&admissions)
	r.conn.QueryRowContext(ctx, "SELECT count(*), max(audit_seq) FROM scans WHERE decision = 'reject'").Scan(&audits, &maxAudit)
	if admissions != 6 || audits != 6 || maxAudit != 6 {
		t.Errorf("%d admissions, %d rejected scans up to audit seq %d; want 6, 6, 6", admissions, audits, maxAudit)
	}
	// Recorded hashes are those of the wire records, as uploads need them.
	own, err := r.OwnAdmissions(ctx, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 4 || own[0].Seq != 3 || own[0].Serial != 3 {
		t.Fatalf("own admissions after seq 2: %+v", own)
	}
	for _, a := range own {
		if wire.AdmissionHash(a) != a.Hash || a.Text == "" {
			t.Errorf("admission %d: stored hash is not the record's, or no text", a.Seq)
		}
	}
}

// dump returns every table but the audit log, to show that a rejected scan
// changes nothing else.
func dump(t *testing.T, r *Replica) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT * FROM state", "SELECT * FROM event", "SELECT * FROM tiers", "SELECT * FROM keys",
		"SELECT * FROM gates", "SELECT * FROM roster ORDER BY serial", "SELECT * FROM admissions ORDER BY gate, seq",
		"SELECT * FROM learnt_pages ORDER BY id", "SELECT * FROM learnt_runs ORDER BY gate, lo", "SELECT * FROM learnt_signed ORDER BY gate, seq", "SELECT * FROM conflicting_admissions ORDER BY gate, seq, hash",
		"SELECT * FROM voids ORDER BY gate, from_time, created",
	} {
		rows, err := r.conn.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			rows.Scan(ptrs...)
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

func TestRejectedScanChangesOnlyAudit(t *testing.T) {
	r, f := newReplica(t, 30, gatetest.GateEntry)
	scan(t, r, f.Ticket(2), false)
	before := dump(t, r)
	bad := []string{
		"", "\x00\xff\xfe", strings.Repeat("1", 188), f.Ticket(2)[:100], f.Ticket(2) + "0",
		f.Forged(3), f.Ticket(2), f.Ticket(10), f.Ticket(gatetest.RevokedSerial),
		gatetest.Sign(f.Other, claims(4)), gatetest.Sign(f.Revoked, claims(4)),
	}
	for _, text := range bad {
		if d := scan(t, r, text, false); d.Admit {
			t.Fatalf("%q admitted", text)
		}
	}
	huge := gate.Line{Text: f.Ticket(5) + strings.Repeat(" ", gate.MaxLine), Truncated: true, Length: 10 << 20}
	if d, err := r.Scan(ctx, huge, false); err != nil || d.Reason != gate.Malformed {
		t.Fatalf("10 MB line: %v %v, want malformed", d.Reason, err)
	}
	if after := dump(t, r); after != before {
		t.Errorf("rejected scans changed the replica:\nbefore %s\nafter %s", before, after)
	}
	var n int
	r.conn.QueryRowContext(ctx, "SELECT count(*) FROM scans").Scan(&n)
	if want := 1 + len(bad) + 1; n != want {
		t.Errorf("%d audit rows, want %d", n, want)
	}
	if _, err := r.Scan(ctx, gate.Line{Text: f.Ticket(4)}, true); !errors.Is(err, kido.ErrDirection) {
		t.Errorf("exit at an entry gate: %v, want ErrDirection", err)
	}
}

// TestConcurrentScannersNeverDoubleAdmit runs two replicas (two *sql.DB,
// as two processes would have) and two goroutines on each, all scanning the
// same single-entry tickets at once.
func TestConcurrentScannersNeverDoubleAdmit(t *testing.T) {
	r1, f := newReplica(t, 200, gatetest.GateBoth)
	r2, err := Open(r1.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	var serials []uint32
	for s := uint32(1); s <= 200 && len(serials) < 60; s++ {
		if gatetest.TierOf(s) == gatetest.TierGA && s != gatetest.RevokedSerial {
			serials = append(serials, s)
		}
	}
	admits := make(map[uint32]int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w, r := range []*Replica{r1, r1, r2, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range serials {
				s := serials[(i+w*7)%len(serials)]
				d, err := r.Scan(ctx, gate.Line{Text: f.Ticket(s)}, false)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Admit {
					mu.Lock()
					admits[s]++
					mu.Unlock()
				} else if d.Reason != gate.AlreadyUsed {
					t.Errorf("serial %d: %s", s, d.Reason)
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range serials {
		if admits[s] != 1 {
			t.Errorf("serial %d admitted %d times", s, admits[s])
		}
	}
	var n, max int
	r1.conn.QueryRowContext(ctx, "SELECT count(*), max(seq) FROM admissions WHERE gate = ?", gatetest.GateBoth).Scan(&n, &max)
	if n != len(serials) || max != len(serials) {
		t.Errorf("%d admissions with max seq %d, want %d without gaps", n, max, len(serials))
	}
}

func claims(serial uint32) ticket.Claims {
	return ticket.Claims{Event: gatetest.EventID, Serial: serial, Tier: gatetest.TierOf(serial)}
}

func TestMissingReplica(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "replica.db"), Options{})
	if !errors.Is(err, gate.ErrNoReplica) || !strings.Contains(err.Error(), "hint: enrol") {
		t.Fatalf("got %v, want ErrNoReplica with a hint", err)
	}
}

func TestCorruptReplica(t *testing.T) {
	t.Run("not a database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "replica.db")
		os.WriteFile(path, []byte(strings.Repeat("this is not sqlite\n", 500)), 0o600)
		_, err := Open(path, Options{})
		if !errors.Is(err, gate.ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("another database", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "replica.db")
		db, _ := sql.Open("sqlite3", path)
		db.Exec("CREATE TABLE x (y)")
		db.Close()
		_, err := Open(path, Options{})
		if !errors.Is(err, gate.ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("damaged pages", func(t *testing.T) {
		r, f := newReplica(t, 3000, gatetest.GateBoth)
		path := r.Path()
		r.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Overwrite everything after the first two pages (header and
		// schema) with junk: the tables' pages are destroyed.
		for i := 8192; i < len(b); i++ {
			b[i] = byte(i * 7)
		}
		os.WriteFile(path, b, 0o600)
		r, err = Open(path, Options{})
		if err != nil {
			if !errors.Is(err, gate.ErrCorrupt) {
				t.Fatalf("open: %v, want ErrCorrupt", err)
			}
			return
		}
		defer r.Close()
		d, err := r.Scan(ctx, gate.Line{Text: f.Ticket(2)}, false)
		if !errors.Is(err, gate.ErrCorrupt) || d.Admit {
			t.Fatalf("scan: %v admit %v, want ErrCorrupt and no admit", err, d.Admit)
		}
		if err := r.Check(ctx); !errors.Is(err, gate.ErrCorrupt) {
			t.Errorf("check: %v, want ErrCorrupt", err)
		}
	})
}

func TestLockedReplica(t *testing.T) {
	r, f := newReplica(t, 10, gatetest.GateBoth)
	path := r.Path()
	r.Close()
	r, err := Open(path, Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	other, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Scan(ctx, gate.Line{Text: f.Ticket(2)}, false)
	if !errors.Is(err, gate.ErrLocked) || d.Admit || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("scan while locked: %v admit %v, want ErrLocked with a hint", err, d.Admit)
	}
	tx.Rollback()
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.OK || d.Seq != 1 {
		t.Fatalf("after unlock: %s seq %d, want ok seq 1 (the locked scan recorded nothing)", d.Reason, d.Seq)
	}
}

func TestDiskFull(t *testing.T) {
	r, f := newReplica(t, 2000, gatetest.GateBoth)
	var pages int
	r.conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages)
	// The connection may not grow the file: what a full disk looks like
	// to SQLite.
	if _, err := r.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	// Scan genuine tickets (padded with spaces, which the audit log keeps)
	// until the pages run out.
	var d gate.Decision
	var err error
	serial := uint32(0)
	for s := uint32(1); s <= 2000 && err == nil; s++ {
		serial = s
		d, err = r.Scan(ctx, gate.Line{Text: f.Ticket(s) + strings.Repeat(" ", 300)}, false)
	}
	if !errors.Is(err, gate.ErrDiskFull) || !strings.Contains(err.Error(), "hint: free space") || d.Admit || d.Reason != gate.Fault {
		t.Fatalf("scan on a full disk: %v, admit %v, reason %s; want ErrDiskFull with a hint, and a fault", err, d.Admit, d.Reason)
	}
	// Nothing of the failed scan was recorded: with space again, the same
	// ticket is admitted.
	if _, err := r.conn.ExecContext(ctx, "PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(serial), false); d.Reason == gate.AlreadyUsed {
		t.Errorf("serial %d: the failed scan left an admission behind", serial)
	}
}

func TestSnapshotKeepsAdmissions(t *testing.T) {
	r, f := newReplica(t, 20, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false)
	other := kido.Admission{Gate: gatetest.GateEntry, Seq: 1, Serial: 3, Tier: gatetest.TierGA, Kind: kido.KindEntry, At: time.Now().UTC(), Corrected: time.Now().UTC()}
	other.Hash = wire.AdmissionHash(other)
	snap := f.Snapshot
	snap.Admissions = []kido.Admission{other}
	snap.Roster = snap.Roster[:10]
	snap.ServerTime = time.Now().Add(time.Hour)
	if err := r.Apply(ctx, &snap, ""); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("own admission forgotten after a snapshot: %s", d.Reason)
	}
	if d := scan(t, r, f.Ticket(3), false); d.Reason != gate.AlreadyUsed || d.PriorGateName != "South" {
		t.Errorf("other gate's admission: %s at %q", d.Reason, d.PriorGateName)
	}
	if d := scan(t, r, f.Ticket(4), false); d.Seq != 2 {
		t.Errorf("seq %d after snapshot, want 2", d.Seq)
	}
	if tr := r.Clock().Now().Trusted; tr.Before(snap.ServerTime) {
		t.Errorf("trusted time %v behind the server time %v", tr, snap.ServerTime)
	}
	wrong := gatetest.New(5, gatetest.GateExit, time.Now()).Snapshot
	if err := r.Apply(ctx, &wrong, ""); err == nil || !strings.Contains(err.Error(), "belongs to gate") {
		t.Errorf("snapshot for another gate: %v", err)
	}
	// The identity the gate enrolled with stays: a snapshot naming another
	// server replaces nothing.
	alien := gatetest.New(5, gatetest.GateBoth, time.Now()).Snapshot
	alien.Server.ID = f.Other.Public().String()
	if err := r.Apply(ctx, &alien, ""); err == nil || !strings.Contains(err.Error(), "this gate enrolled with") {
		t.Errorf("snapshot of another server: %v", err)
	}
	if st, err := r.Status(ctx); err != nil || st.Server.ID != f.Snapshot.Server.ID || st.Roster != len(snap.Roster) {
		t.Errorf("after a snapshot of another server: server %s, %d tickets, %v", st.Server.ID, st.Roster, err)
	}
}

func TestTrustedTimeSurvivesRestart(t *testing.T) {
	r, f := newReplica(t, 5, gatetest.GateBoth)
	server := time.Now().Add(48 * time.Hour) // the device is two days behind
	snap := f.Snapshot
	snap.ServerTime = server
	if err := r.Apply(ctx, &snap, ""); err != nil {
		t.Fatal(err)
	}
	path := r.Path()
	r.Close()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Clock.Trusted.Before(server) || !st.Clock.DeviceBehind() || !st.ServerTime.Equal(server.Round(0).UTC()) {
		t.Errorf("after restart: trusted %v, behind %v, server time %v; want ≥ %v", st.Clock.Trusted, st.Clock.Behind, st.ServerTime, server)
	}
	// The event ended a day after "now" by the device, so by trusted time
	// it is over.
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.Expired {
		t.Errorf("scan with trusted time past the event: %s", d.Reason)
	}
}

func TestFind(t *testing.T) {
	r, f := newReplica(t, 60, gatetest.GateBoth)
	scan(t, r, f.Ticket(12), false)
	tests := []struct {
		q    string
		want []uint32
	}{
		// In name order: 佐藤 花子 12 sorts before 佐藤 花子 6.
		{"佐藤", []uint32{12, 18, 24, 30, 36, 42, 48, 54, 6, 60}},
		{"たなか", []uint32{1, 13, 19, 25, 31, 37, 43, 49, 55, 7}}, // hiragana finds ﾀﾅｶ
		{"佐藤, 花子 12", []uint32{12}},
		{"佐藤花子1", []uint32{12, 18}},
		{"花子 4", []uint32{42, 48}}, // no name begins with it: found inside names
		{"鈴木一郎 5", []uint32{5, 53, 59}},
		{"martin", []uint32{2, 8, 14, 20, 26, 32, 38, 44, 50, 56}},
		{"タナカ ジロウ 7", []uint32{7}},
		{"ｙａｍａｄａ ｔａｒｏ 3", []uint32{3, 33, 39}},
		{"ZOË MARTIN 2", []uint32{2, 20, 26}},
		{"ord-000044", []uint32{44}},
		{"12", []uint32{12}},
	}
	for _, tt := range tests {
		ms, err := r.Find(ctx, tt.q, 50)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, m := range ms {
			got = append(got, m.Serial)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Find(%q) = %v, want %v", tt.q, got, tt.want)
		}
	}
	ms, _ := r.Find(ctx, "12", 1)
	if len(ms) != 1 || ms[0].Entries != 1 || ms[0].TierName != "GA" {
		t.Errorf("serial 12: %+v, want one entry, tier GA", ms)
	}
}

func TestManualAdmit(t *testing.T) {
	r, _ := newReplica(t, 20, gatetest.GateBoth)
	// Without a reason that says something, or with one the server would
	// refuse, nothing is recorded.
	for _, reason := range []string{"", " \t", strings.Repeat("x", kido.MaxReason+1), "two\nlines", "dead \u202ephone"} {
		if d, err := r.Admit(ctx, 4, reason); !errors.Is(err, gate.ErrNoReason) || d.Reason != gate.Fault || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("admit with reason %q: %v %s, want ErrNoReason with a hint", reason, err, d.Reason)
		}
	}
	if n, m, _ := r.Pending(ctx); n != 0 || m != 0 {
		t.Fatalf("refused admits recorded %d admissions, %d audit records", n, m)
	}
	const why = "phone battery dead"
	d, err := r.Admit(ctx, 4, why)
	if err != nil || d.Reason != gate.OK || d.Kind != kido.KindManual || d.Seq != 1 {
		t.Fatalf("admit: %v %s %s %d", err, d.Reason, d.Kind, d.Seq)
	}
	if d, _ := r.Admit(ctx, 4, why); d.Reason != gate.AlreadyUsed {
		t.Errorf("second manual admit: %s", d.Reason)
	}
	if _, err := r.Admit(ctx, 999, why); !errors.Is(err, gate.ErrNotInRoster) {
		t.Errorf("unknown serial: %v", err)
	}
	// The reason is recorded and uploaded, under the hash that covers it.
	up, err := r.NextUpload(ctx, 10)
	if err != nil || len(up.Admissions) != 1 {
		t.Fatalf("upload: %v %+v", err, up)
	}
	a := up.Admissions[0]
	if a.Kind != kido.KindManual || a.Reason != why || a.Text != "" || a.Hash != wire.AdmissionHash(a) {
		t.Errorf("uploaded %+v", a)
	}
	if err := up.Check(); err != nil {
		t.Errorf("the upload does not pass the server's checks: %v", err)
	}
}

// TestScanAfterRosterSwap: the connection keeps the scan's statements
// prepared (_stmt_cache_size); after a snapshot swaps the roster table
// they must read the new one.
func TestScanAfterRosterSwap(t *testing.T) {
	r, f := newReplica(t, 20, gatetest.GateBoth)
	if d := scan(t, r, f.Ticket(2), false); !d.Admit || d.Holder == "" {
		t.Fatalf("first scan: %+v", d)
	}
	snap := f.Snapshot
	snap.Roster = slices.Clone(snap.Roster)
	for i := range snap.Roster {
		switch snap.Roster[i].Serial {
		case 4:
			snap.Roster[i].Revoked = true
		case 5:
			snap.Roster[i].Holder = "Renamed Holder"
		}
	}
	if err := r.Apply(ctx, &snap, ""); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(4), false); d.Reason != gate.Revoked {
		t.Errorf("serial revoked by the snapshot: %s", d.Reason)
	}
	if d := scan(t, r, f.Ticket(5), false); !d.Admit || d.Holder != "Renamed Holder" || d.Seq != 2 {
		t.Errorf("after the swap: admit %v, holder %q, seq %d", d.Admit, d.Holder, d.Seq)
	}
}
