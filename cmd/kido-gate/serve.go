package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"kido.dev/kido/cmd/internal/dirlock"
	"kido.dev/kido/gate/staffapp"
	"kido.dev/kido/gate/syncer"
)

const serveUsage = `usage: kido-gate serve [-data DIR] [-listen ADDR] [-pin-file FILE] [-offline] [-mesh ADDR|off] [-peer ADDR]... [-insecure-http] [-ca FILE]

The staff app: serves a page for a kiosk browser at http://ADDR (default
127.0.0.1:8710) and syncs with the server in the background, as run does.
A keyboard-wedge scanner types into the page with no click first; the
camera works too. Each verdict is on disk before the page shows it.
Find, manual admission and ticket history need the staff PIN read from
-pin-file (digits, first line); scanning needs none. See
docs/staff-guide.md and, for autostart, docs/ops/.

The page listens on loopback only unless -listen says otherwise, and a
non-loopback address needs a PIN: anyone who reaches the page can scan
and, without a PIN, search the roster.

It joins the venue mesh as run does (docs/mesh.md): it listens for the
event's other gates at -mesh (default :8711, every interface) and
exchanges admissions with them directly, server or not; -mesh off leaves
the mesh.

One run or serve at a time per data directory.

Example:

	kido-gate serve -data /var/lib/kido-gate -pin-file /etc/kido-gate/staff-pin
	chromium --kiosk http://127.0.0.1:8710

Flags:
`

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	stdout = &lockedWriter{w: stdout} // the mesh logs from its goroutines
	fs, data := newFlags("serve", serveUsage, stderr)
	listen := fs.String("listen", "127.0.0.1:8710", "serve the staff app at this `address`")
	pinFile := fs.String("pin-file", "", "read the staff PIN from this `file`")
	offline := fs.Bool("offline", false, "do not sync; scan with the replica as it is")
	mf := addMeshFlags(fs)
	sec := securityFlags(fs)
	leeway := leewayFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if err := mf.check(); err != nil {
		return err
	}
	pin, err := readPIN(*pinFile)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usageErrorf("-listen %q: %v\nhint: give host:port, such as 127.0.0.1:8710", *listen, err)
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && pin == "" {
		return usageErrorf("-listen %s is reachable from other machines and no PIN is set\nhint: add -pin-file FILE, or serve on 127.0.0.1", *listen)
	}
	r, err := openReplica(*data, *leeway)
	if err != nil {
		return err
	}
	defer r.Close()
	lock, err := dirlock.Acquire(*data, fmt.Sprintf("kido-gate serve, pid %d, at %s", os.Getpid(), *listen))
	if errors.As(err, new(*dirlock.HeldError)) {
		return fmt.Errorf("%w\nhint: one kido-gate run or serve per gate: use the one running, or stop it first", err)
	} else if err != nil {
		return err
	}
	defer lock.Release()
	if _, err := r.Status(ctx); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := staffapp.Config{
		Replica: r,
		// The replica records the staff reason with the admission and
		// refuses an admission without one (gate.ErrNoReason).
		Admit: r.Admit,
		PIN:   pin,
	}
	m, err := startMesh(ctx, r, mf, stdout)
	if err != nil {
		return err
	}
	defer func() { cancel(); m.wait() }()
	var (
		mu   sync.Mutex // both sync loops call back, each from its own goroutine
		last = staffapp.SyncState{Connecting: true}
	)
	bs, off, err := startSync(ctx, cancel, *data, r, *sec, *offline, m, func(st syncer.Status) {
		mu.Lock()
		defer mu.Unlock()
		last = staffapp.SyncState{Connecting: st.Connecting(), Online: st.Online, Error: st.Error,
			Refused: st.Refused, Conflict: st.Conflict, Revoked: st.Revoked}
	})
	if err != nil {
		return err
	}
	if off != "" {
		fmt.Fprintln(stdout, off)
	} else {
		cfg.Sync = func() staffapp.SyncState { mu.Lock(); defer mu.Unlock(); return last }
	}
	cfg.Scanned = func() { bs.nudge(); m.poke() }

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		cancel()
		bs.wait(stdout)
		return fmt.Errorf("%w\nhint: another program uses this address; stop it or pick another with -listen", err)
	}
	addr := ln.Addr().String()
	cfg.Hosts = staffapp.AllowedHosts(addr)
	hs := &http.Server{Handler: staffapp.New(cfg), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	url := "http://" + addr
	fmt.Fprintf(stdout, "kido-gate %s: staff app at %s (open it full screen: chromium --kiosk %s)\n", version, url, url)

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
	hs.Shutdown(shut)
	stop()
	cancel()
	if serr := bs.wait(stdout); serr != nil {
		return serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// readPIN reads the staff PIN from the first line of file; "" reads none.
// The PIN never goes on the command line, where ps shows it.
func readPIN(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w\nhint: -pin-file names a file holding the staff PIN on its first line", err)
	}
	pin, _, _ := strings.Cut(string(b), "\n")
	pin = strings.TrimSpace(pin)
	if len(pin) < 4 || len(pin) > 32 || strings.Trim(pin, "0123456789") != "" {
		return "", usageErrorf("-pin-file %s: the PIN must be 4 to 32 digits", file)
	}
	return pin, nil
}
