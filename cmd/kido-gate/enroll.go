package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

const enrollUsage = `usage: kido-gate enroll -server URL -code CODE [-data DIR]

Registers this device as the gate the one-time CODE names (from kidoctl
gate add), stores its credential in DIR/credential (mode 0600), and
downloads the replica the gate decides with. The code carries the server's
fingerprint: a server that cannot prove it is the one that made the code is
refused.

If the download fails after the code was accepted, run enroll again with
-server and without -code: the stored credential is used.

Example:

	kido-gate enroll -server https://tickets.example.org -code "1234 5678 9012 3456"

Flags:
`

func runEnroll(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("enroll", enrollUsage, stderr)
	server := fs.String("server", "", "kido server `URL`, e.g. https://tickets.example.org")
	code := fs.String("code", "", "one-time enrolment `code` from kidoctl gate add")
	device := fs.String("device", hostname(), "device `name` shown to operators")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q\nhint: quote the code: -code \"1234 5678 9012 3456\"", fs.Arg(0))
	}
	if *server == "" {
		return usageErrorf("-server is required\nhint: kido-gate enroll -server URL -code CODE")
	}
	dbPath := filepath.Join(*data, replicaFile)
	credPath := filepath.Join(*data, credentialFile)
	if fileExists(dbPath) {
		return fmt.Errorf("%s is already enrolled (%s exists)\nhint: use another -data directory, or move this one aside to enrol again", *data, dbPath)
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	start := time.Now()

	cred, err := os.ReadFile(credPath)
	cred = bytes.TrimSpace(cred)
	var enrolled *wire.EnrollResponse
	switch {
	case err == nil && *code != "":
		return fmt.Errorf("%s already holds a credential\nhint: run enroll without -code to finish that enrolment, or use another -data directory", *data)
	case errors.Is(err, os.ErrNotExist) && *code == "":
		return usageErrorf("-code is required\nhint: get a code with kidoctl gate add -event E -name NAME")
	case errors.Is(err, os.ErrNotExist):
		c, err := client.New(*server, "", nil)
		if err != nil {
			return err
		}
		resp, err := c.Enroll(ctx, *code, *device)
		if err != nil {
			return err
		}
		enrolled = resp
		cred = []byte(resp.Credential)
		if err := writeCredential(credPath, cred); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enrolled as gate %d %q of event %d (server %s, fingerprint %s)\n", resp.Gate.ID, resp.Gate.Name, resp.Gate.Event, resp.Server.ID, resp.Server.Fingerprint)
	case err != nil:
		return fmt.Errorf("credential: %w", err)
	}

	c, err := client.New(*server, string(cred), nil)
	if err != nil {
		return err
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("%w\nhint: the gate is enrolled; run kido-gate enroll -server %s -data %s again (without -code) to retry the download", err, *server, *data)
	}
	if enrolled != nil && (snap.Server.ID != enrolled.Server.ID || snap.Gate.ID != enrolled.Gate.ID) {
		return fmt.Errorf("the snapshot is for gate %d of server %s, not gate %d of %s\nhint: check that -server points at one server, not a load balancer over several", snap.Gate.ID, snap.Server.ID, enrolled.Gate.ID, enrolled.Server.ID)
	}
	// Build the replica under a temporary name so that a half-applied
	// download never looks like a replica.
	tmp := dbPath + ".new"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(p)
	}
	r, err := replica.Create(tmp, replica.Options{})
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		r.Close()
		return err
	}
	err = r.Apply(ctx, snap, c.BaseURL())
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replica ready: event %d %q, %d tickets, %d keys, %d admissions (%.1f s)\n",
		snap.Event.ID, snap.Event.Name, len(snap.Roster), len(snap.Keys), len(snap.Admissions), time.Since(start).Seconds())
	return nil
}

// writeCredential stores the gate's bearer credential readable by its owner
// only: anyone holding it can upload as this gate.
func writeCredential(path string, cred []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	if _, err := f.Write(append(cred, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("credential: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("credential: %w", err)
	}
	return f.Close()
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
