// Package enrol makes a gate's data directory (gate/gatedir) from a
// one-time enrolment code: it registers the device with the server, which
// must prove it is the server the code names (client.Enroll checks the
// fingerprint and the signature of the answer), stores the credential
// atomically and readable by its owner only, and builds the replica from
// the server's snapshot under a temporary name, so that a half-built
// replica never looks like one. kido-gate enroll and kido-server -demo
// both enrol through it.
package enrol

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// Refusals before anything is sent or written.
var (
	ErrEnrolled       = errors.New("enrol: already enrolled")
	ErrCredentialHeld = errors.New("enrol: a credential is stored already")
	ErrNeedCode       = errors.New("enrol: no enrolment code and no stored credential")
)

// ErrDownload wraps a failed snapshot download after the gate was
// registered: the credential is stored, and enrolling again without a
// code finishes the job.
var ErrDownload = errors.New("enrol: the replica download failed")

// Config says what to enrol.
type Config struct {
	Dir    string // the gate's data directory; made (mode 0700) if missing
	Server string // the server's URL
	// Code is the one-time enrolment code. Empty finishes an enrolment
	// whose download failed, with the credential stored in Dir.
	Code   string
	Device string // the device's name, shown to operators
	// Security is how the server may be reached (-insecure-http, -ca).
	Security client.Security
	// Registered, if set, is called once the code was accepted and the
	// credential stored, before the download starts.
	Registered func(*wire.EnrollResponse)
}

// Result is what an enrolment made.
type Result struct {
	Enrolled *wire.EnrollResponse // nil when Code was empty
	Snapshot *wire.Snapshot       // what the replica was built from
}

// Gate enrols the gate cfg describes. It refuses a directory that holds a
// replica, and a code for a directory that holds a credential.
func Gate(ctx context.Context, cfg Config) (Result, error) {
	var res Result
	if err := cfg.Security.Check(cfg.Server); err != nil {
		return res, err
	}
	hc, err := cfg.Security.HTTPClient(60 * time.Second)
	if err != nil {
		return res, err
	}
	dbPath := gatedir.Replica(cfg.Dir)
	if _, err := os.Stat(dbPath); err == nil {
		return res, fmt.Errorf("%w: %s exists", ErrEnrolled, dbPath)
	}
	if err := privfile.MkdirAll(cfg.Dir); err != nil {
		return res, fmt.Errorf("enrol: data directory: %w", err)
	}
	cred, err := gatedir.ReadCredential(cfg.Dir)
	switch {
	case err == nil && cfg.Code != "":
		return res, fmt.Errorf("%w: %s exists", ErrCredentialHeld, gatedir.Credential(cfg.Dir))
	case errors.Is(err, fs.ErrNotExist) && cfg.Code == "":
		return res, ErrNeedCode
	case errors.Is(err, fs.ErrNotExist):
		// The key is stored only once the server recorded it, beside the
		// credential: a refused enrolment leaves nothing behind.
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return res, fmt.Errorf("enrol: gate key: %w", err)
		}
		anon, err := client.New(cfg.Server, "", hc)
		if err != nil {
			return res, err
		}
		if res.Enrolled, err = anon.EnrollKey(ctx, cfg.Code, cfg.Device, key.Public().(ed25519.PublicKey)); err != nil {
			return res, err
		}
		cred = res.Enrolled.Credential
		e := res.Enrolled
		if err := gatedir.WriteKey(cfg.Dir, key); err != nil {
			return res, err
		}
		if err := gatedir.WritePin(cfg.Dir, gatedir.Pin{Server: e.Server.ID, Event: e.Gate.Event, Gate: e.Gate.ID}); err != nil {
			return res, err
		}
		if err := gatedir.WriteCredential(cfg.Dir, cred); err != nil {
			return res, err
		}
		if cfg.Registered != nil {
			cfg.Registered(res.Enrolled)
		}
	case err != nil:
		return res, err
	}

	pin, err := gatedir.ReadPin(cfg.Dir)
	if err != nil {
		return res, fmt.Errorf("enrol: %w\nhint: nothing says which server this credential's snapshot must come from; enrol again with a new code from kidoctl gate add", err)
	}
	c, err := client.New(cfg.Server, cred, hc)
	if err != nil {
		return res, err
	}
	// The snapshot must be signed by the identity the enrolment proved, for
	// this gate (docs/sync-protocol.md §13).
	if c, err = c.Pinned(client.Pin{Identity: pin.Server, Event: pin.Event, Gate: pin.Gate}); err != nil {
		return res, err
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrDownload, err)
	}
	if snap.Server.ID != pin.Server {
		return res, fmt.Errorf("enrol: the snapshot names server %s, not %s that enrolled this gate\nhint: check that the server URL points at one server, not a load balancer over several",
			snap.Server.ID, pin.Server)
	}
	if err := build(ctx, dbPath, snap, c.BaseURL()); err != nil {
		return res, err
	}
	os.Remove(gatedir.PinPath(cfg.Dir)) // the replica holds the pin now
	res.Snapshot = snap
	return res, nil
}

// build makes the replica at path from snap, under a temporary name
// renamed into place when whole.
func build(ctx context.Context, path string, snap *wire.Snapshot, serverURL string) error {
	tmp := path + ".new"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	r, err := replica.Create(tmp, replica.Options{})
	if err != nil {
		return err
	}
	err = r.Apply(ctx, snap, serverURL)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	return nil
}
