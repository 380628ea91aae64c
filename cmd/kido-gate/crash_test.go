package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
)

// TestCrashDurability runs two real "kido-gate scan -" processes on one
// replica, feeds both the same stream of tickets, kills them with SIGKILL at
// random moments, and starts again, 30 times. Afterwards every admission
// either process printed must be in the replica under the sequence number
// it printed, sequence numbers must have no gaps, and no single-entry ticket
// may have been admitted twice.
func TestCrashDurability(t *testing.T) {
	bin, err := exec.LookPath("kido-gate")
	if err != nil {
		t.Fatal(err) // installed in PATH by testscript.Main
	}
	dir := t.TempDir()
	const tickets = 1500
	f := gatetest.New(tickets, gatetest.GateBoth, time.Now())
	if err := writeReplica(dir, f, ""); err != nil {
		t.Fatal(err)
	}
	texts := make([]string, tickets+1)
	for s := 1; s <= tickets; s++ {
		texts[s] = f.Ticket(uint32(s))
	}

	type printed struct {
		Decision string `json:"decision"`
		Serial   uint32 `json:"serial"`
		Seq      uint64 `json:"seq"`
	}
	var mu sync.Mutex
	var admits []printed
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 30; round++ {
		var wg sync.WaitGroup
		var cmds []*exec.Cmd
		for p := 0; p < 2; p++ {
			cmd := exec.Command(bin, "scan", "-data", dir, "-json", "-")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
			seed := rng.Uint64()
			wg.Add(2)
			go func() { // the scanner: random tickets, many repeats
				defer wg.Done()
				feed := rand.New(rand.NewPCG(seed, 0))
				for i := 0; i < 400; i++ {
					if _, err := io.WriteString(stdin, texts[1+feed.IntN(tickets)]+"\r\n"); err != nil {
						return // killed
					}
				}
				stdin.Close()
			}()
			go func() { // the screen: what staff saw
				defer wg.Done()
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					var p printed
					if json.Unmarshal(sc.Bytes(), &p) != nil {
						continue // a line cut short by the kill was never shown whole
					}
					if p.Decision == "admit" {
						mu.Lock()
						admits = append(admits, p)
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(5+rng.IntN(120)) * time.Millisecond)
		for _, cmd := range cmds {
			cmd.Process.Kill() // SIGKILL
		}
		wg.Wait()
		for _, cmd := range cmds {
			cmd.Wait()
		}
	}
	if len(admits) == 0 {
		t.Fatal("no admission printed in 30 rounds: the processes never got going")
	}

	r, err := replica.Open(filepath.Join(dir, replicaFile), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recorded, err := r.OwnAdmissions(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[uint64]uint32{}
	entries := map[uint32]int{}
	for i, p := range recorded {
		if p.Seq != uint64(i+1) {
			t.Fatalf("sequence numbers have a gap: position %d holds seq %d", i, p.Seq)
		}
		bySeq[p.Seq] = p.Serial
		if p.Kind != "exit" {
			entries[p.Serial]++
		}
	}
	for _, a := range admits {
		if got, ok := bySeq[a.Seq]; !ok || got != a.Serial {
			t.Errorf("printed admit of serial %d as seq %d, replica has serial %d (present %v)", a.Serial, a.Seq, got, ok)
		}
	}
	for s := uint32(1); s <= tickets; s++ {
		if gatetest.TierOf(s) == gatetest.TierGA && entries[s] > 1 {
			t.Errorf("single-entry serial %d admitted %d times", s, entries[s])
		}
	}
	t.Logf("%d admissions printed over 30 killed rounds, %d recorded", len(admits), len(recorded))
}
