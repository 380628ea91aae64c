package bench

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	_ "github.com/mattn/go-sqlite3" // the baseline commit runs on the replica's SQLite

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
)

// Built describes a replica made by [BuildReplica].
type Built struct {
	Roster, Admissions int
	Made, Applied      time.Duration // fabricating the snapshot; writing it
}

// BuildReplica writes at path a replica of the gatetest event with a roster
// of serials 1..roster and admissions made at another gate, in one
// transaction as kido-gate enroll does. The gate is gatetest.GateBoth.
func BuildReplica(ctx context.Context, path string, roster, admissions int) (Built, error) {
	start := time.Now()
	f := gatetest.New(roster, gatetest.GateBoth, time.Now())
	f.Snapshot.Admissions = gatetest.Admissions(admissions, time.Now().Add(-time.Minute))
	b := Built{Roster: roster, Admissions: admissions, Made: time.Since(start)}
	r, err := replica.Create(path, replica.Options{})
	if err != nil {
		return b, err
	}
	start = time.Now()
	err = r.Apply(ctx, &f.Snapshot, "")
	b.Applied = time.Since(start)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return b, err
}

// FreshTickets returns the texts of n single-entry tickets of a replica
// built with this roster size, none revoked, counting down from serial
// roster+1-skip-…: distinct skips give disjoint sets, so one replica can
// serve several measurements in which every scan admits.
func FreshTickets(roster, skip, n int) ([]string, error) {
	f := gatetest.New(0, gatetest.GateBoth, time.Now()) // the same keys as every gatetest replica
	var texts []string
	seen := 0
	for s := uint32(roster); s > 0 && len(texts) < n; s-- {
		if gatetest.TierOf(s) != gatetest.TierGA || s == gatetest.RevokedSerial {
			continue
		}
		if seen++; seen > skip {
			texts = append(texts, f.Ticket(s))
		}
	}
	if len(texts) < n {
		return nil, fmt.Errorf("bench: a roster of %d has fewer than %d single-entry tickets after skipping %d", roster, n, skip)
	}
	return texts, nil
}

// Scans holds, per measured ticket, the duration of the scan and of its
// irreducible parts.
type Scans struct {
	Scan, Verify, Commit []time.Duration
	// Irreducible is Verify+Commit of the same iteration.
	Irreducible []time.Duration
}

// MeasureScans opens the replica at path and scans every text once (each
// must be admitted), timing after each scan one ed25519.Verify and one
// fsync'd commit of a one-row insert in baseline.db in the same directory.
func MeasureScans(ctx context.Context, path string, texts []string) (*Scans, error) {
	r, err := replica.Open(path, replica.Options{})
	if err != nil {
		return nil, err
	}
	defer r.Close()

	key := gatetest.New(0, gatetest.GateBoth, time.Now()).Key
	pub := key.Public().Bytes()
	msg := []byte("kido bench message")
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(key.Seed()), msg)

	base, err := sql.Open("sqlite3", "file:"+filepath.Join(filepath.Dir(path), "baseline.db")+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer base.Close()
	base.SetMaxOpenConns(1)
	if _, err := base.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		return nil, fmt.Errorf("bench: baseline table: %w", err)
	}
	ins, err := base.PrepareContext(ctx, "INSERT INTO t (v) VALUES (?)")
	if err != nil {
		return nil, fmt.Errorf("bench: baseline insert: %w", err)
	}
	defer ins.Close()

	n := len(texts)
	s := &Scans{Scan: make([]time.Duration, n), Verify: make([]time.Duration, n), Commit: make([]time.Duration, n), Irreducible: make([]time.Duration, n)}
	for i, text := range texts {
		t0 := time.Now()
		d, err := r.Scan(ctx, gate.Line{Text: text, Length: int64(len(text))}, false)
		s.Scan[i] = time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("bench: scan %d: %w", i, err)
		}
		if !d.Admit {
			return nil, fmt.Errorf("bench: scan %d: rejected (%s %s)", i, d.Reason, d.Detail)
		}

		t0 = time.Now()
		ok := ed25519.Verify(pub, msg, sig)
		s.Verify[i] = time.Since(t0)
		if !ok {
			return nil, errors.New("bench: baseline signature does not verify")
		}

		t0 = time.Now()
		if err := commitOne(ctx, base, ins, text[:40]); err != nil {
			return nil, err
		}
		s.Commit[i] = time.Since(t0)
		s.Irreducible[i] = s.Verify[i] + s.Commit[i]
	}
	return s, nil
}

func commitOne(ctx context.Context, db *sql.DB, ins *sql.Stmt, v string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("bench: baseline begin: %w", err)
	}
	if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, v); err != nil {
		tx.Rollback()
		return fmt.Errorf("bench: baseline insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bench: baseline commit: %w", err)
	}
	return nil
}

// Percentile returns the p-th percentile (0–100, nearest rank below) of
// ds, which it does not modify. It returns 0 for no durations.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p/100)]
}
