package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

// imageName is the PNG file name of a ticket.
func imageName(event, serial uint32) string {
	return fmt.Sprintf("e%d-%08d.png", event, serial)
}

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

// renderer writes ticket PNGs with one worker per CPU: rendering the QR
// codes is the cost of a large issue, signing on the server is not.
type renderer struct {
	event   uint32
	dir     string
	jobs    chan *wire.IssuedTicket
	wg      sync.WaitGroup
	done    atomic.Int64
	errOnce sync.Once
	err     error
	cancel  context.CancelFunc
}

func newRenderer(ctx context.Context, event uint32, dir string) (*renderer, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	r := &renderer{event: event, dir: dir, jobs: make(chan *wire.IssuedTicket, 1024), cancel: cancel}
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
		png, err := qr.Render(t.Text)
		if err != nil {
			r.fail(fmt.Errorf("render serial %d: %w", t.Serial, err))
			continue
		}
		if err := os.WriteFile(filepath.Join(r.dir, imageName(r.event, t.Serial)), png, 0o644); err != nil {
			r.fail(fmt.Errorf("write image: %w", err))
			continue
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

// writeManifest writes the manifest CSV atomically: it appears whole or
// not at all, so its presence means every image beside it was written.
func writeManifest(path string, event uint32, tickets []wire.IssuedTicket, tierNames map[uint8]string, withReplaces bool) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	defer os.Remove(tmp)
	cw := csv.NewWriter(f)
	header := []string{"serial", "holder", "tier", "order_ref", "text", "image"}
	if withReplaces {
		header = append(header, "replaces")
	}
	cw.Write(header)
	for _, t := range tickets {
		tier, ok := tierNames[t.Tier]
		if !ok {
			tier = strconv.Itoa(int(t.Tier))
		}
		row := []string{strconv.FormatUint(uint64(t.Serial), 10), t.Holder, tier, t.OrderRef, t.Text, imageName(event, t.Serial)}
		if withReplaces {
			row = append(row, strconv.FormatUint(uint64(t.Replaces), 10))
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
