package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/client"
)

// demoConfig holds -demo and -demo-dir.
type demoConfig struct {
	on  bool
	dir string
}

func demoFlags(fs *flag.FlagSet) *demoConfig {
	d := &demoConfig{}
	fs.BoolVar(&d.on, "demo", false, "run the quickstart: this server with a demo event, tickets and two enrolled gates in -demo-dir, and the steps to try printed; Ctrl-C stops it and removes the directory")
	fs.StringVar(&d.dir, "demo-dir", "./kido-demo", "`directory` of the demo (with -demo); leftovers of an earlier demo there are removed")
	return d
}

// demoMarker marks a directory as the demo's own, so that only such a
// directory is ever removed.
const demoMarker = ".kido-demo"

// demoStartTimeout bounds the wait for the server to listen.
const demoStartTimeout = 30 * time.Second

// runDemo runs the server of c with its data in dir, fills it with a demo
// (see setupDemo), prints the steps to try, and serves until ctx is done;
// then it stops the server and removes dir.
func runDemo(ctx context.Context, c config, dir string, stdout io.Writer) error {
	if c.certFile != "" {
		return errors.New("-demo serves plain HTTP on loopback\nhint: drop -tls-cert and -tls-key")
	}
	dir = filepath.Clean(dir)
	leftovers, err := prepareDemoDir(ctx, dir)
	if err != nil {
		return err
	}
	// Tell a busy port before anything is written.
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("demo: cannot listen on %s: %w\nhint: another kido-server or demo uses it; stop that one, or let the demo pick a free port: -listen 127.0.0.1:0", c.listen, err)
	}
	l.Close()
	if leftovers {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("demo: remove leftovers of an earlier demo: %w\nhint: remove %s by hand, or use another -demo-dir", err, dir)
		}
		fmt.Fprintf(stdout, "kido demo: removed the leftovers of an earlier demo in %s\n", dir)
	}
	if err := privfile.MkdirAll(dir); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, demoMarker), []byte("kido-server -demo made this directory and removes it when it stops\n"), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	err = demo(ctx, c, dir, stdout)
	if rerr := os.RemoveAll(dir); rerr != nil {
		fmt.Fprintf(stdout, "kido demo: could not remove %s: %v\n", dir, rerr)
	} else {
		fmt.Fprintf(stdout, "kido demo: server stopped; removed %s\n", dir)
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // Ctrl-C while setting up
	}
	return err
}

// demo serves until ctx is done; the caller removes dir.
func demo(ctx context.Context, c config, dir string, stdout io.Writer) error {
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, privfile.Mode)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer logFile.Close()
	c.data = filepath.Join(dir, "server")
	c.masterKey = "" // the demo's own, made in c.data
	c.addrFile = filepath.Join(dir, "server.addr")

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(sctx, c, slog.New(slog.NewTextHandler(logFile, nil))) }()

	url, err := awaitAddr(ctx, c.addrFile, served)
	if err == nil {
		var w *demoWorld
		if w, err = setupDemo(ctx, url, filepath.Join(c.data, "admin.token"), dir); err == nil {
			w.log = logPath
			w.print(stdout)
			return <-served
		}
	}
	stop()
	if serr := <-served; err == nil {
		err = serr
	}
	return err
}

// awaitAddr waits until serve has written the URL it listens on to path.
func awaitAddr(ctx context.Context, path string, served <-chan error) (string, error) {
	deadline := time.After(demoStartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// serve writes the file in one call; the newline ends it.
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case err := <-served:
			if err == nil {
				err = errors.New("demo: the server stopped before it listened")
			}
			return "", err
		case <-ctx.Done():
			return "", ctx.Err()
		case <-deadline:
			return "", fmt.Errorf("demo: the server did not listen within %s\nhint: see %s", demoStartTimeout, filepath.Join(filepath.Dir(path), "server.log"))
		case <-tick.C:
		}
	}
}

// prepareDemoDir checks that dir may be used: it does not exist, is
// empty, or holds an earlier demo that is not running (leftovers is then
// true). A running demo there, or a directory that is not a demo's, is an
// error, and nothing is touched.
func prepareDemoDir(ctx context.Context, dir string) (leftovers bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("demo: %w", err)
	case len(entries) == 0:
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
		return false, fmt.Errorf("demo: %s exists and is not a kido demo directory\nhint: choose another one with -demo-dir", dir)
	}
	if url, ok := runningDemo(ctx, dir); ok {
		return false, fmt.Errorf("demo: a demo is already running in %s, on %s\nhint: stop it with Ctrl-C in its terminal, or run another one with -demo-dir DIR -listen 127.0.0.1:0", dir, url)
	}
	return true, nil
}

// runningDemo reports whether the server of the demo in dir still answers.
func runningDemo(ctx context.Context, dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "server.addr"))
	if err != nil {
		return "", false
	}
	url := strings.TrimSpace(string(b))
	cl, err := client.New(url, "", &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		return "", false
	}
	_, err = cl.Health(ctx)
	return url, err == nil
}
