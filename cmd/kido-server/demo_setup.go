package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket/qr"
)

// The demo event: two single-entry tiers and a few dozen tickets, so that
// any ticket scanned twice is a double entry.
const (
	demoZone = "Asia/Tokyo"
	demoVIP  = 6
	demoGA   = 30
)

// demoHolders are the ticket holders, Japanese and Latin names both, as
// at a venue in Japan.
var demoHolders = []string{
	"山田 太郎", "Jo Smith", "佐藤 花子", "Alex Kim", "鈴木 一郎", "Maria Rossi",
	"高橋 美咲", "Sam Lee", "田中 健", "Lena Vogel", "伊藤 さくら", "Omar Haddad",
}

// demoWorld is what setupDemo made, for the steps printed.
type demoWorld struct {
	dir, url, token, log string
	event                wire.Event
	tiers                []wire.Tier
	tickets              []wire.IssuedTicket
	ticketsDir           string
	gates                []wire.Gate
	gateDirs             []string
}

// setupDemo creates through the API of the server at url what a promoter
// would with kidoctl: an event running now, two tiers, tickets with their
// PNG images and manifest.csv, a promoter token, and two gates, which it
// enrols like kido-gate enroll does, each in its own data directory.
func setupDemo(ctx context.Context, url, adminTokenFile, dir string) (*demoWorld, error) {
	admin, err := os.ReadFile(adminTokenFile)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cl, err := client.New(url, string(bytes.TrimSpace(admin)), &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	w := &demoWorld{dir: dir, url: url, ticketsDir: filepath.Join(dir, "tickets")}
	zone, err := time.LoadLocation(demoZone)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	start := time.Now().In(zone).Truncate(time.Hour).Add(-time.Hour)
	if w.event, err = cl.CreateEvent(ctx, wire.EventCreate{Name: "kido demo", Venue: "Demo Hall",
		Start: start, End: start.Add(12 * time.Hour), TimeZone: demoZone}); err != nil {
		return nil, fmt.Errorf("demo: create event: %w", err)
	}
	single := wire.EntriesSingle
	for _, name := range []string{"VIP", "GA"} {
		t, err := cl.AddTier(ctx, w.event.ID, wire.TierCreate{Name: name, Entries: &single})
		if err != nil {
			return nil, fmt.Errorf("demo: add tier: %w", err)
		}
		w.tiers = append(w.tiers, t)
	}
	items := make([]wire.IssueItem, demoVIP+demoGA)
	for i := range items {
		tier := w.tiers[1].ID
		if i < demoVIP {
			tier = w.tiers[0].ID
		}
		items[i] = wire.IssueItem{Tier: tier, Holder: demoHolders[i%len(demoHolders)], OrderRef: fmt.Sprintf("D-%03d", i/2+1)}
	}
	issued, err := cl.Issue(ctx, w.event.ID, wire.IssueRequest{Batch: "demo", Tickets: items})
	if err != nil {
		return nil, fmt.Errorf("demo: issue tickets: %w", err)
	}
	w.tickets = issued.Tickets
	if err := w.writeTickets(); err != nil {
		return nil, err
	}
	tok, err := cl.CreateToken(ctx, wire.TokenCreate{Name: "demo promoter", Scope: wire.ScopePromoter, Events: []uint32{w.event.ID}})
	if err != nil {
		return nil, fmt.Errorf("demo: create token: %w", err)
	}
	w.token = tok.Secret
	for i := 1; i <= 2; i++ {
		added, err := cl.AddGate(ctx, w.event.ID, wire.GateCreate{Name: fmt.Sprintf("Gate %d", i), Direction: wire.DirectionEntry})
		if err != nil {
			return nil, fmt.Errorf("demo: add gate: %w", err)
		}
		gdir := filepath.Join(dir, fmt.Sprintf("gate%d", i))
		if err := enrollDemoGate(ctx, url, added.Code, fmt.Sprintf("demo gate %d", i), gdir); err != nil {
			return nil, err
		}
		w.gates = append(w.gates, added.Gate)
		w.gateDirs = append(w.gateDirs, gdir)
	}
	return w, nil
}

// ticketImage is the PNG file name of a ticket, as kidoctl issue names it.
func ticketImage(event, serial uint32) string {
	return fmt.Sprintf("e%d-%08d.png", event, serial)
}

// writeTickets writes each ticket's QR code as a PNG and manifest.csv in
// the columns of kidoctl issue.
func (w *demoWorld) writeTickets() error {
	if err := os.MkdirAll(w.ticketsDir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tierNames := map[uint8]string{}
	for _, t := range w.tiers {
		tierNames[t.ID] = t.Name
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"serial", "holder", "tier", "order_ref", "text", "image"})
	for _, t := range w.tickets {
		png, err := qr.Render(t.Text)
		if err != nil {
			return fmt.Errorf("demo: render serial %d: %w", t.Serial, err)
		}
		name := ticketImage(w.event.ID, t.Serial)
		if err := os.WriteFile(filepath.Join(w.ticketsDir, name), png, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		cw.Write([]string{strconv.FormatUint(uint64(t.Serial), 10), t.Holder, tierNames[t.Tier], t.OrderRef, t.Text, name})
	}
	cw.Flush()
	if err := os.WriteFile(filepath.Join(w.ticketsDir, "manifest.csv"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// enrollDemoGate does what kido-gate enroll does, in this process: it
// enrols with code, keeps the credential and builds the replica in dir,
// under the file names kido-gate uses (replica.db, credential), so that
// every kido-gate command works on dir.
func enrollDemoGate(ctx context.Context, url, code, device, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	anon, err := client.New(url, "", nil)
	if err != nil {
		return err
	}
	resp, err := anon.Enroll(ctx, code, device)
	if err != nil {
		return fmt.Errorf("demo: enrol %s: %w", device, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credential"), []byte(resp.Credential+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	gc, err := client.New(url, resp.Credential, nil)
	if err != nil {
		return err
	}
	snap, err := gc.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("demo: snapshot for %s: %w", device, err)
	}
	r, err := replica.Create(filepath.Join(dir, "replica.db"), replica.Options{})
	if err != nil {
		return err
	}
	err = r.Apply(ctx, snap, url)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}
