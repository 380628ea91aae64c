package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/ticket/qr"
)

const scanUsage = `usage: kido-gate scan [-data DIR] [-json] [-exit] (TEXT… | -image FILE | -)

Decides on each ticket and records the decision in the replica before
printing it. TEXT is what the QR code holds; -image reads it from a PNG,
JPEG or GIF picture; - reads one ticket per line from stdin, as a
keyboard-wedge scanner types it (CR, spaces and a byte-order mark are
ignored). -exit records exits at a gate that works both ways.

Exit status: 0 if every ticket was admitted, 1 if any was rejected or the
replica could not be used, 2 for a usage mistake.

Example:

	kido-gate scan -json 01000…
	kido-gate scan -data /var/lib/kido-gate - < /dev/ttyACM0

Flags:
`

func runScan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("scan", scanUsage, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per scan")
	exit := fs.Bool("exit", false, "record exits (at a gate whose direction is both)")
	image := fs.String("image", "", "read the ticket from the QR code in this image `file`")
	leeway := leewayFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	texts := fs.Args()
	fromStdin := len(texts) == 1 && texts[0] == "-"
	switch {
	case *image != "" && len(texts) > 0:
		return usageErrorf("give either -image or ticket texts, not both")
	case *image == "" && len(texts) == 0:
		return usageErrorf("no ticket given\nhint: kido-gate scan TEXT, kido-gate scan -image FILE, or kido-gate scan - to read lines from stdin")
	}
	if *image != "" {
		text, err := qr.DecodeFile(*image)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%w\nhint: check the file name and the directory it is in", err)
		case errors.Is(err, qr.ErrNotFound):
			return fmt.Errorf("%w\nhint: photograph the code straight on, filling most of the picture", err)
		case err != nil:
			return err // unreadable or not an image: qr says what to give
		}
		texts = []string{text}
	}
	r, err := openReplica(*data, *leeway)
	if err != nil {
		return err
	}
	defer r.Close()
	s := &scanner{r: r, exit: *exit, asJSON: *asJSON, stdout: stdout, stderr: stderr}
	if fromStdin {
		err = eachLine(ctx, stdin, s.scan)
	} else {
		for _, t := range texts {
			if err = s.scan(ctx, gate.Line{Text: t, Length: int64(len(t))}); err != nil {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if s.rejected > 0 {
		return errRejected
	}
	return nil
}

// scanner decides on lines and prints the results.
type scanner struct {
	r              gate.Recorder
	exit, asJSON   bool
	stdout, stderr io.Writer
	rejected       int
}

func (s *scanner) scan(ctx context.Context, l gate.Line) error {
	d, err := s.r.Scan(ctx, l, s.exit)
	if errors.Is(err, kido.ErrDirection) {
		return err // a setting, not a scan: stop
	}
	if err != nil || !d.Admit {
		s.rejected++
	}
	if err != nil {
		fmt.Fprintln(s.stderr, "kido-gate:", err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return newResult(d, err).print(s.stdout, s.asJSON)
}

// eachLine calls fn for each non-blank line of r until EOF or until ctx is
// done (reading happens in its own goroutine, so an interrupt is not held up
// by a blocked read).
func eachLine(ctx context.Context, r io.Reader, fn func(context.Context, gate.Line) error) error {
	type item struct {
		l   gate.Line
		err error
	}
	lines := make(chan item)
	done := make(chan struct{})
	defer close(done)
	go func() {
		lr := gate.NewLineReader(r)
		for {
			l, err := lr.Next()
			select {
			case lines <- item{l, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it := <-lines:
			if it.err == io.EOF {
				return nil
			}
			if it.err != nil {
				return fmt.Errorf("read stdin: %w", it.err)
			}
			if !it.l.Truncated && gate.NormalizeScan(it.l.Text) == "" {
				continue // a blank line is not a scan
			}
			if err := fn(ctx, it.l); err != nil {
				return err
			}
		}
	}
}
