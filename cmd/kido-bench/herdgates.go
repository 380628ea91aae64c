package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"kido.dev/kido/gate/bench"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
)

// herdSpec is what the gates process of the herd runs: the gates prepared
// by the parent, each with its replica directory, credential and server.
type herdSpec struct {
	URL   string         `json:"url"` // every gate's server but for those that name their own
	Gates []herdSpecGate `json:"gates"`
}

type herdSpecGate struct {
	ID         uint32 `json:"id"`
	Replica    string `json:"replica"`
	Credential string `json:"credential"`
	URL        string `json:"url,omitempty"` // the instance this gate syncs with
}

// herdSummary is what the gates process reports when told to stop.
type herdSummary struct {
	Uploads, Accepted        int // upload answers in all, and with 200
	UploadP50, UploadP99     time.Duration
	AcceptedP50, AcceptedP99 time.Duration
	Answers                  map[string]int // as the gates saw them
	Learned                  int            // admissions made elsewhere, learned from the feed
}

const herdGatesUsage = `usage: kido-bench herd-gates -spec FILE

Internal: the process in which the herd's gates run their sync loops, apart
from the process that measures the server. It prints "started" once every
loop runs, then "learned N M" every half second (admissions made elsewhere
learned from the feed, all gates together, and the fewest one gate has
learned); when its stdin closes it stops
the loops and prints a JSON summary.

Example (kido-bench runs it itself):

	kido-bench herd-gates -spec work/herd/spec.json

Flags:
`

// runHerdGates is the herd-gates subcommand.
func runHerdGates(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herd-gates", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, herdGatesUsage); fs.PrintDefaults() }
	specFile := fs.String("spec", "", "gates to run, as JSON `file`")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process to `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*specFile)
	if err != nil {
		return fmt.Errorf("herd-gates: %w", err)
	}
	var spec herdSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("herd-gates: spec: %w", err)
	}
	rec := &recorder{}
	gates := make([]*syncGate, 0, len(spec.Gates))
	defer func() {
		for _, g := range gates {
			g.r.Close()
		}
	}()
	for _, sg := range spec.Gates {
		key, err := gatedir.OptionalKey(filepath.Dir(sg.Replica))
		if err != nil {
			return err
		}
		r, err := replica.Open(sg.Replica, replica.Options{Key: key})
		if err != nil {
			return err
		}
		url := spec.URL
		if sg.URL != "" {
			url = sg.URL
		}
		g, err := newSyncGate(url, sg.Credential, sg.ID, r, rec, nil)
		if err != nil {
			r.Close()
			return err
		}
		gates = append(gates, g)
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	out := bufio.NewWriter(stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := runAll(runCtx, gates)
	say("started")
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, stdin); close(stop) }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
			say("learned %d %d", learned(gates), fewestLearned(gates))
		}
	}
	cancel()
	wait()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	p := bench.Percentile
	sum := herdSummary{
		Uploads: len(rec.uploads), Accepted: len(rec.accepted),
		UploadP50: p(rec.uploads, 50), UploadP99: p(rec.uploads, 99),
		AcceptedP50: p(rec.accepted, 50), AcceptedP99: p(rec.accepted, 99),
		Answers: rec.answers, Learned: learned(gates),
	}
	j, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	say("%s", j)
	return nil
}

// fewestLearned is the fewest admissions made elsewhere that one gate has
// learned from the feed.
func fewestLearned(gates []*syncGate) int {
	fewest := -1
	for _, g := range gates {
		if n := g.s.Status().Moved.Learned; fewest < 0 || n < fewest {
			fewest = n
		}
	}
	return max(fewest, 0)
}

// learned is how many admissions made elsewhere the gates have learned
// from the feed, in all.
func learned(gates []*syncGate) int {
	n := 0
	for _, g := range gates {
		n += g.s.Status().Moved.Learned
	}
	return n
}
