package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/cmd/internal/plural"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/gate/syncer"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

const syncUsage = `usage: kido-gate sync [-data DIR] [-json] [-server URL] [-ca FILE] [-insecure-http]

Does one round of sync with the server the gate enrolled with: uploads
every admission and rejected scan not yet acknowledged, then applies the
server's changes (other gates' admissions, revocations, keys, roster,
settings) until none is left, and reports what moved. kido-gate run does
the same continuously in the background.

-server URL moves the gate to its server's new address. The gate first
asks the server there to sign a fresh challenge with its identity key and
sends its credential only when the key is the one it enrolled with; it
keeps the new URL only when that server also takes the credential and the
round completes. A server with another identity is refused, naming both,
and nothing changes. Restart a running kido-gate run afterwards: it keeps
the address it started with.

Exit status: 0 when the round completed, 1 otherwise (what moved before
the failure is still reported).

Example:

	kido-gate sync -data /var/lib/kido-gate
	kido-gate sync -data /var/lib/kido-gate -server https://tickets2.example.org

Flags:
`

// syncOut is sync -json.
type syncOut struct {
	syncer.Report
	MovedTo  string     `json:"moved_to,omitempty"` // the server URL stored by -server
	Pending  int        `json:"pending"`            // records still not acknowledged
	Conflict string     `json:"conflict,omitempty"`
	LastSync *time.Time `json:"last_sync,omitempty"`
	Error    string     `json:"error,omitempty"`
}

func runSync(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("sync", syncUsage, stderr)
	asJSON := fs.Bool("json", false, "print a JSON object")
	server := fs.String("server", "", "move the gate to its server's new `URL` (the server must prove the identity the gate enrolled with)")
	sec := securityFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	r, err := openReplica(*data, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Status(ctx)
	if err != nil {
		return err
	}
	url := st.ServerURL
	if *server != "" {
		if url, err = checkMove(ctx, st, *server, *sec); err != nil {
			return err
		}
	}
	s, err := syncerAt(*data, r, url, *sec, nil, nil)
	if err != nil {
		return err
	}
	rep, roundErr := s.Round(ctx)
	out := syncOut{Report: rep}
	if url != st.ServerURL {
		if roundErr == nil {
			if err := r.SetServerURL(ctx, url); err != nil {
				return err
			}
			out.MovedTo = url
		} else {
			roundErr = fmt.Errorf("%w\nhint: the server URL was not changed: the gate still syncs with %s until a sync with -server %s completes", roundErr, st.ServerURL, url)
		}
	}
	if roundErr != nil {
		out.Error = roundErr.Error()
	}
	if !errors.Is(roundErr, gate.ErrRevoked) {
		st, err := r.Status(ctx)
		if err != nil {
			return err
		}
		out.Pending, out.Conflict = st.Pending+st.AuditsDue, st.Conflict
		if !st.LastSync.IsZero() {
			out.LastSync = &st.LastSync
		}
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(out); err != nil {
			return err
		}
	} else {
		if out.MovedTo != "" {
			fmt.Fprintf(stdout, "server moved: %s → %s (identity fingerprint %s proved)\n", st.ServerURL, out.MovedTo, st.Server.Fingerprint)
		}
		printSync(stdout, out)
	}
	return roundErr
}

// checkMove returns the server URL -server asks for, in the form the
// replica keeps, once the server there has proved the identity the gate
// enrolled with (docs/sync-protocol.md §12); no credential has been sent
// to it yet. The URL the gate has already needs no proof.
func checkMove(ctx context.Context, st replica.Status, to string, sec client.Security) (string, error) {
	if err := sec.Check(to); err != nil {
		return "", err
	}
	hc, err := sec.HTTPClient(60 * time.Second)
	if err != nil {
		return "", err
	}
	c, err := client.New(to, "", hc)
	if err != nil {
		return "", err
	}
	if c.BaseURL() == st.ServerURL {
		return st.ServerURL, nil
	}
	if _, err := c.ProveIdentity(ctx, st.Server.ID); err != nil {
		return "", fmt.Errorf("server URL not changed, the gate still syncs with %s: %w", st.ServerURL, err)
	}
	return c.BaseURL(), nil
}

func printSync(w io.Writer, o syncOut) {
	fmt.Fprintf(w, "uploaded %s and %s in %s: %d stored, %d already there, %d quarantined\n",
		plural.Count(o.Admissions, "admission", "admissions"), plural.Count(o.Audits, "rejected scan", "rejected scans"), plural.Count(o.Uploads, "request", "requests"),
		o.Stored, o.Duplicates, o.Quarantined)
	fmt.Fprintf(w, "pulled %s in %s", plural.Count(o.Changes, "change", "changes"), plural.Count(o.Polls, "answer", "answers"))
	if parts := pulledParts(o.Report); len(parts) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
	}
	if o.Resnapshots > 0 {
		fmt.Fprintf(w, "; %d full snapshot", o.Resnapshots)
	}
	fmt.Fprintln(w)
	if o.Error == "" {
		fmt.Fprintf(w, "%s for upload\n", plural.Count(o.Pending, "record waits", "records wait"))
	}
	if o.Conflict != "" {
		fmt.Fprintf(w, "SYNC CONFLICT, call the operator: %s\n", o.Conflict)
	}
}

// pulledParts names the pulled changes by kind, every one under exactly
// one name, so that the parts add up to the changes pulled.
func pulledParts(r syncer.Report) []string {
	k := r.Pulled
	var parts []string
	if k.Admissions > 0 {
		p := fmt.Sprintf("%s (%d new", plural.Count(k.Admissions, "admission", "admissions"), r.Learned)
		if r.Conflicting > 0 {
			p += fmt.Sprintf(", %d held beside this gate's own", r.Conflicting)
		}
		parts = append(parts, p+")")
	}
	for _, c := range []struct {
		n         int
		one, many string
	}{
		{k.Roster, "roster entry", "roster entries"},
		{k.Keys, "key", "keys"},
		{k.Tiers, "tier", "tiers"},
		{k.Gates, "gate", "gates"},
		{k.Event, "event update", "event updates"},
		{k.Voids, "void of a revoked gate", "voids of revoked gates"},
	} {
		if c.n > 0 {
			parts = append(parts, plural.Count(c.n, c.one, c.many))
		}
	}
	return parts
}

// newSyncer sets up the sync of the gate in dir with the server URL its
// replica remembers.
func newSyncer(ctx context.Context, dir string, r *replica.Replica, sec client.Security, m *meshRun, onChange func(syncer.Status)) (*syncer.Syncer, error) {
	st, err := r.Status(ctx)
	if err != nil {
		return nil, err
	}
	return syncerAt(dir, r, st.ServerURL, sec, m, onChange)
}

// syncerAt sets up the sync of the gate in dir with the server at url: its
// credential, the identity, event and gate its answers must be signed for
// (as the replica holds them since enrolment), and a wipe of the
// credential when the server says the gate was revoked. With a mesh node
// m, each heartbeat reports the address its peers can reach it at.
func syncerAt(dir string, r *replica.Replica, url string, sec client.Security, m *meshRun, onChange func(syncer.Status)) (*syncer.Syncer, error) {
	cred, err := gatedir.ReadCredential(dir)
	if err != nil {
		return nil, fmt.Errorf("%w\nhint: this gate has no credential; enrol it: kido-gate enroll -server URL -code CODE", err)
	}
	st, err := r.Status(context.Background())
	if err != nil {
		return nil, err
	}
	pin := client.Pin{Identity: st.Server.ID, Event: st.Event.ID, Gate: st.Gate.ID}
	hb := syncer.Heartbeat(r, version, time.Now, func() (int64, error) { return doctor.FreeSpace(dir) })
	if m != nil {
		base := hb
		hb = func() wire.Heartbeat {
			h := base()
			h.Mesh = m.advertised(url)
			return h
		}
	}
	c, err := client.NewGate(url, cred, pin, sec, hb)
	if err != nil {
		return nil, err
	}
	return syncer.New(syncer.Config{
		Replica:  r,
		Server:   c.WithUnreachableHint("check that kido-server is running and that this device reaches it; if the server moved to a new URL, point the gate at it: kido-gate sync -server URL"),
		Forget:   func() error { return gatedir.Forget(dir) },
		OnChange: onChange,
	}), nil
}

// backgroundSync is the sync loop that kido-gate run and serve keep going
// while they scan.
type backgroundSync struct {
	s    *syncer.Syncer // nil when the gate does not sync
	done chan error     // the loop's end; nil at once when it does not run
}

// startSync starts the sync loop of the gate in dir in the background,
// unless offline or the gate has no credential; off then says why, in
// words for the operator. A revoked gate cannot scan: the loop then calls
// stop.
func startSync(ctx context.Context, stop context.CancelFunc, dir string, r *replica.Replica, sec client.Security, offline bool, m *meshRun, onChange func(syncer.Status)) (bs *backgroundSync, off string, err error) {
	bs = &backgroundSync{done: make(chan error, 1)}
	switch {
	case offline:
		bs.done <- nil
		return bs, "sync: off (-offline)", nil
	case !fileExists(filepath.Join(dir, credentialFile)):
		bs.done <- nil
		return bs, "sync: off, this gate has no credential (enrol it to sync)", nil
	}
	if bs.s, err = newSyncer(ctx, dir, r, sec, m, onChange); err != nil {
		return nil, "", err
	}
	go func() {
		err := bs.s.Run(ctx)
		if errors.Is(err, gate.ErrRevoked) {
			stop()
		}
		bs.done <- err
	}()
	return bs, "", nil
}

// nudge has the uploader send at once what was just recorded.
func (bs *backgroundSync) nudge() {
	if bs.s != nil {
		bs.s.Nudge()
	}
}

// wait waits for the loop to end (its context cancelled) and reports a
// revocation of the gate, the one end that is an error.
func (bs *backgroundSync) wait(out io.Writer) error {
	if err := <-bs.done; errors.Is(err, gate.ErrRevoked) {
		fmt.Fprintf(out, "THIS GATE WAS REVOKED by the operator: %s\n", firstLine(err.Error()))
		return err
	}
	return nil
}
