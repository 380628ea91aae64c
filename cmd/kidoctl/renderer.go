package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// checkIssued makes sure a ticket the server sent is what was asked for:
// its text parses and names the event, serial and tier it claims.
func checkIssued(event uint32, t wire.IssuedTicket) error {
	p, err := ticket.Parse(t.Text)
	if err != nil {
		return fmt.Errorf("server sent serial %d with a bad ticket text: %w", t.Serial, err)
	}
	if p.Event != event || p.Serial != t.Serial || p.Tier != t.Tier {
		return fmt.Errorf("server sent serial %d whose text names event %d serial %d tier %d", t.Serial, p.Event, p.Serial, p.Tier)
	}
	return nil
}

// renderer writes ticket PNGs, and PDFs when it has a printer, with one
// worker per CPU: rendering is the cost of a large issue, signing on the
// server is not.
type renderer struct {
	event   uint32
	dir     string
	print   *printer // nil: images only
	jobs    chan *wire.IssuedTicket
	wg      sync.WaitGroup
	done    atomic.Int64
	errOnce sync.Once
	err     error
	cancel  context.CancelFunc
}

func newRenderer(ctx context.Context, event uint32, dir string, print *printer) (*renderer, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	r := &renderer{event: event, dir: dir, print: print, jobs: make(chan *wire.IssuedTicket, 1024), cancel: cancel}
	for range runtime.GOMAXPROCS(0) {
		r.wg.Add(1)
		go r.work(ctx)
	}
	return r, ctx
}

func (r *renderer) fail(err error) {
	r.errOnce.Do(func() { r.err = err; r.cancel() })
}

func (r *renderer) work(ctx context.Context) {
	defer r.wg.Done()
	for t := range r.jobs {
		if ctx.Err() != nil {
			continue // drain, so the producer never blocks
		}
		if err := manifest.WriteImage(r.dir, r.event, t); err != nil {
			r.fail(err)
			continue
		}
		if r.print != nil {
			if err := r.print.writeOne(t); err != nil {
				r.fail(err)
				continue
			}
		}
		r.done.Add(1)
	}
}

// wait closes the queue and waits for the workers; it returns the first
// error of any worker.
func (r *renderer) wait() error {
	close(r.jobs)
	r.wg.Wait()
	r.cancel()
	return r.err
}

// progress prints a progress line to a terminal every 200 ms until stop
// is called; elsewhere it prints nothing.
func progress(w io.Writer, total int, issued, rendered func() int64) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	show := func() {
		fmt.Fprintf(w, "\rkidoctl: issued %d/%d, images %d/%d, %s ", issued(), total, rendered(), total, time.Since(start).Round(time.Second))
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				show()
			case <-quit:
				show()
				fmt.Fprintln(w)
				return
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}
