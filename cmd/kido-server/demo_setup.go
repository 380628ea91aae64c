package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/gate/enrol"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
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
	event                kido.Event
	tiers                []kido.Tier
	tickets              []wire.IssuedTicket
	ticketsDir           string
	gates                []kido.Gate
	gateDirs             []string
}

// setupDemo creates through the API of the server at url what a promoter
// would with kidoctl: an event running now, two tiers, tickets with their
// PNG images and manifest.csv, a promoter token, and two gates, which it
// enrols through gate/enrol as kido-gate enroll does, each in its own data
// directory.
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
	single := int(kido.EntriesSingle)
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
		added, err := cl.AddGate(ctx, w.event.ID, wire.GateCreate{Name: fmt.Sprintf("Gate %d", i), Direction: kido.DirectionEntry})
		if err != nil {
			return nil, fmt.Errorf("demo: add gate: %w", err)
		}
		gdir := filepath.Join(dir, fmt.Sprintf("gate%d", i))
		device := fmt.Sprintf("demo gate %d", i)
		if _, err := enrol.Gate(ctx, enrol.Config{Dir: gdir, Server: url, Code: added.Code, Device: device}); err != nil {
			return nil, fmt.Errorf("demo: enrol %s: %w", device, err)
		}
		w.gates = append(w.gates, added.Gate)
		w.gateDirs = append(w.gateDirs, gdir)
	}
	return w, nil
}

// writeTickets writes each ticket's QR code image and manifest.csv, as
// kidoctl issue does.
func (w *demoWorld) writeTickets() error {
	if err := privfile.MkdirAll(w.ticketsDir); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tierNames := map[uint8]string{}
	for _, t := range w.tiers {
		tierNames[t.ID] = t.Name
	}
	for i := range w.tickets {
		if err := manifest.WriteImage(w.ticketsDir, w.event.ID, &w.tickets[i]); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if err := manifest.Write(filepath.Join(w.ticketsDir, manifest.Issued), w.event.ID, w.tickets, tierNames, false); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
