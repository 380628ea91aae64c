package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// checkSigner confirms, inside the issuing transaction (which holds the
// event's row lock, as AddKey and RevokeKey take it), that the signer's
// key is still the event's current unrevoked key.
func checkSigner(ctx context.Context, tx *wtx, event uint32, sg server.Signer) error {
	var ok bool
	err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM keys WHERE event = $1 AND id = $2 AND current AND NOT revoked)", event, sg.Key).Scan(&ok)
	if err != nil {
		return fmt.Errorf("postgres: signing key: %w", err)
	}
	if !ok {
		return server.Errorf(server.ErrConflict, "retry", "event %d's signing key changed during the request", event)
	}
	return nil
}

func tierSet(ctx context.Context, q querier, event uint32) (map[uint8]bool, error) {
	ts, err := tiers(ctx, q, event)
	if err != nil {
		return nil, err
	}
	m := make(map[uint8]bool, len(ts))
	for _, t := range ts {
		m[t.ID] = true
	}
	return m, nil
}

// issuer signs new tickets and collects them for one COPY, so a large
// batch costs one round trip rather than one per ticket.
type issuer struct {
	event uint32
	sg    server.Signer
	next  uint64
	rows  [][]any
	tx    *wtx
}

// newIssuer checks the signer and finds the next serial; the caller holds
// the event's row lock, so no other transaction takes the same serials.
func newIssuer(ctx context.Context, tx *wtx, event uint32, sg server.Signer) (*issuer, error) {
	if err := checkSigner(ctx, tx, event, sg); err != nil {
		return nil, err
	}
	is := &issuer{tx: tx, event: event, sg: sg}
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(serial), 0) + 1 FROM tickets WHERE event = $1", event).Scan(&is.next); err != nil {
		return nil, fmt.Errorf("postgres: issue: %w", err)
	}
	return is, nil
}

// issue signs one ticket and queues it; batch and item are nil for a
// reissue, replaces is 0 for a fresh ticket.
func (is *issuer) issue(it wire.IssueItem, batch, item any, replaces uint32) (wire.IssuedTicket, error) {
	if is.next > math.MaxUint32 {
		return wire.IssuedTicket{}, server.Errorf(server.ErrConflict, "", "event %d has used every serial number", is.event)
	}
	serial := uint32(is.next)
	is.next++
	text := is.sg.Sign(ticket.Claims{Event: is.event, Serial: serial, Tier: it.Tier})
	var rep any
	if replaces != 0 {
		rep = int64(replaces)
	}
	is.rows = append(is.rows, []any{int64(is.event), int64(serial), int16(it.Tier), it.Holder, it.Reading, it.Email, it.OrderRef, text, is.sg.Key, batch, item, rep})
	re := kido.RosterEntry{Serial: serial, Tier: it.Tier, Holder: it.Holder, Reading: it.Reading, OrderRef: it.OrderRef}
	if err := is.tx.logChange(is.event, wire.Change{Kind: wire.ChangeRoster, Roster: &re}); err != nil {
		return wire.IssuedTicket{}, err
	}
	return wire.IssuedTicket{Serial: serial, Tier: it.Tier, Holder: it.Holder, OrderRef: it.OrderRef, Text: text, Replaces: replaces}, nil
}

// flush inserts the queued tickets.
func (is *issuer) flush(ctx context.Context) error {
	if len(is.rows) == 0 {
		return nil
	}
	cols := []string{"event", "serial", "tier", "holder", "reading", "email", "order_ref", "text", "key", "batch", "item", "replaces"}
	if _, err := is.tx.CopyFrom(ctx, pgx.Identifier{"tickets"}, cols, pgx.CopyFromRows(is.rows)); err != nil {
		return fmt.Errorf("postgres: issue: %w", err)
	}
	is.rows = nil
	return nil
}

type stored struct {
	wire.IssueItem
	serial     uint32
	text       string
	revoked    bool
	replaces   uint32
	replacedBy uint32
	item       int // number in its batch; -1 for a reissue
}

const ticketCols = "serial, tier, holder, reading, email, order_ref, text, revoked, COALESCE(replaces, 0), COALESCE(replaced_by, 0), COALESCE(item, -1)"

func scanTicket(row pgx.Row) (stored, error) {
	var t stored
	var tier int16
	err := row.Scan(&t.serial, &tier, &t.Holder, &t.Reading, &t.Email, &t.OrderRef, &t.text, &t.revoked, &t.replaces, &t.replacedBy, &t.item)
	t.Tier = uint8(tier)
	return t, err
}

func queryTickets(ctx context.Context, q querier, where string, args ...any) ([]stored, error) {
	rows, err := q.Query(ctx, "SELECT "+ticketCols+" FROM tickets WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: tickets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) { return scanTicket(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: tickets: %w", err)
	}
	return out, nil
}

func (t stored) issued() wire.IssuedTicket {
	return wire.IssuedTicket{Serial: t.serial, Tier: t.Tier, Holder: t.Holder, OrderRef: t.OrderRef, Text: t.text, Replaces: t.replaces}
}

func (t stored) roster() kido.RosterEntry {
	return kido.RosterEntry{Serial: t.serial, Tier: t.Tier, Holder: t.Holder, Reading: t.Reading, OrderRef: t.OrderRef, Revoked: t.revoked, ReplacedBy: t.replacedBy}
}

// Issue implements server.Store. The event's row lock makes two
// instances' retries of one chunk issue it once.
func (s *Store) Issue(ctx context.Context, event uint32, req wire.IssueRequest, sg server.Signer) ([]wire.IssuedTicket, error) {
	var out []wire.IssuedTicket
	err := s.write(ctx, func(tx *wtx) error {
		out = make([]wire.IssuedTicket, 0, len(req.Tickets))
		if _, err := getEvent(ctx, tx, event, true); err != nil {
			return err
		}
		known, err := tierSet(ctx, tx, event)
		if err != nil {
			return err
		}
		prior, err := queryTickets(ctx, tx, "event = $1 AND batch = $2 AND item BETWEEN $3 AND $4",
			event, req.Batch, req.Offset, req.Offset+len(req.Tickets)-1)
		if err != nil {
			return err
		}
		before := make(map[int]stored, len(prior))
		for _, t := range prior {
			before[t.item] = t
		}
		var is *issuer
		if len(before) < len(req.Tickets) {
			if is, err = newIssuer(ctx, tx, event, sg); err != nil {
				return err
			}
		}
		for i, it := range req.Tickets {
			n := req.Offset + i
			if old, ok := before[n]; ok {
				if old.IssueItem != it {
					return server.Errorf(server.ErrConflict, "use a new -batch id for a different roster",
						"batch %q item %d was issued before with other content (serial %d)", req.Batch, n, old.serial)
				}
				given := old.issued()
				given.Existing = true // handed back, not issued now
				out = append(out, given)
				continue
			}
			if !known[it.Tier] {
				return server.Errorf(server.ErrInvalid, fmt.Sprintf("kidoctl event show %d lists its tiers", event), "item %d: event %d has no tier %d", n, event, it.Tier)
			}
			t, err := is.issue(it, req.Batch, n, 0)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		if is != nil {
			return is.flush(ctx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// selected returns the tickets a selection names, all or an error, with
// the event's row lock taken.
func selected(ctx context.Context, tx *wtx, event uint32, sel wire.Selection) ([]stored, error) {
	if _, err := getEvent(ctx, tx, event, true); err != nil {
		return nil, err
	}
	if sel.OrderRef != "" {
		out, err := queryTickets(ctx, tx, "event = $1 AND order_ref = $2 ORDER BY serial", event, sel.OrderRef)
		if err == nil && len(out) == 0 {
			err = server.Errorf(server.ErrNotFound, "order references are matched exactly", "event %d has no tickets with order %q", event, sel.OrderRef)
		}
		return out, err
	}
	var out []stored
	seen := map[uint32]bool{}
	for _, serial := range sel.Serials {
		if seen[serial] {
			continue
		}
		seen[serial] = true
		t, err := scanTicket(tx.QueryRow(ctx, "SELECT "+ticketCols+" FROM tickets WHERE event = $1 AND serial = $2", event, serial))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, server.Errorf(server.ErrNotFound, "nothing was changed; check the serial in manifest.csv", "event %d has no ticket with serial %d", event, serial)
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: select tickets: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

func revokeOne(ctx context.Context, tx *wtx, event uint32, t *stored) error {
	if t.revoked {
		return nil
	}
	if _, err := tx.Exec(ctx, "UPDATE tickets SET revoked = true WHERE event = $1 AND serial = $2", event, t.serial); err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	t.revoked = true
	re := t.roster()
	return tx.logRevocation(event, wire.Change{Kind: wire.ChangeRoster, Roster: &re}, &revocation{"tickets", "serial", int64(t.serial)})
}

// Revoke implements server.Store. Revoking a revoked ticket changes
// nothing and is not an error.
func (s *Store) Revoke(ctx context.Context, event uint32, sel wire.Selection) ([]kido.RosterEntry, error) {
	var out []kido.RosterEntry
	err := s.write(ctx, func(tx *wtx) error {
		out = nil
		ts, err := selected(ctx, tx, event, sel)
		if err != nil {
			return err
		}
		for i := range ts {
			if err := revokeOne(ctx, tx, event, &ts[i]); err != nil {
				return err
			}
			out = append(out, ts[i].roster())
		}
		return nil
	})
	return out, err
}

// Reissue implements server.Store. Selected by serial, a ticket already
// reissued gives back its replacement; selected by order, the order's
// valid tickets are reissued.
func (s *Store) Reissue(ctx context.Context, event uint32, sel wire.Selection, sg server.Signer) ([]wire.IssuedTicket, error) {
	var out []wire.IssuedTicket
	err := s.write(ctx, func(tx *wtx) error {
		out = nil
		ts, err := selected(ctx, tx, event, sel)
		if err != nil {
			return err
		}
		if sel.OrderRef != "" {
			valid := ts[:0]
			for _, t := range ts {
				if !t.revoked {
					valid = append(valid, t)
				}
			}
			if len(valid) == 0 {
				return server.Errorf(server.ErrNotFound, "reissue revoked tickets by serial", "order %q has no valid tickets to reissue", sel.OrderRef)
			}
			ts = valid
		}
		is, err := newIssuer(ctx, tx, event, sg)
		if err != nil {
			return err
		}
		for i := range ts {
			t := &ts[i]
			if t.replacedBy != 0 {
				r, err := scanTicket(tx.QueryRow(ctx, "SELECT "+ticketCols+" FROM tickets WHERE event = $1 AND serial = $2", event, t.replacedBy))
				if err != nil {
					return fmt.Errorf("postgres: reissue: %w", err)
				}
				given := r.issued()
				given.Existing = true // handed back, not issued now
				out = append(out, given)
				continue
			}
			// The replacement first, so that the revocation's roster change
			// names it: a gate refuses the old ticket as replaced by serial
			// N, and never learns of N before N is in its roster.
			nt, err := is.issue(t.IssueItem, nil, nil, t.serial)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE tickets SET replaced_by = $1 WHERE event = $2 AND serial = $3", nt.Serial, event, t.serial); err != nil {
				return fmt.Errorf("postgres: reissue: %w", err)
			}
			t.replacedBy = nt.Serial
			if t.revoked {
				// Revoked before: the gates learn what replaced it.
				re := t.roster()
				if err := tx.logChange(event, wire.Change{Kind: wire.ChangeRoster, Roster: &re}); err != nil {
					return err
				}
			} else if err := revokeOne(ctx, tx, event, t); err != nil {
				return err
			}
			out = append(out, nt)
		}
		return is.flush(ctx)
	})
	return out, err
}

// Tickets implements server.Store.
func (s *Store) Tickets(ctx context.Context, event uint32, orderRef string) ([]wire.TicketRecord, error) {
	out := []wire.TicketRecord{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT t.serial, t.tier, t.holder, t.reading, t.email, t.order_ref, COALESCE(t.batch, ''), t.revoked,
			COALESCE(t.replaces, 0), COALESCE(t.replaced_by, 0), `+mailCols+`
			FROM tickets t LEFT JOIN deliveries d ON d.event = t.event AND d.serial = t.serial
			WHERE t.event = $1 AND ($2 = '' OR t.order_ref = $2) ORDER BY t.serial`, event, orderRef)
		if err != nil {
			return fmt.Errorf("postgres: tickets: %w", err)
		}
		var serial, replaces, replacedBy int64
		var tier int16
		var t wire.TicketRecord
		var m mailRow
		_, err = pgx.ForEachRow(rows, append([]any{&serial, &tier, &t.Holder, &t.Reading, &t.Email, &t.OrderRef, &t.Batch, &t.Revoked, &replaces, &replacedBy}, m.dest()...), func() error {
			t.Serial, t.Tier, t.Replaces, t.ReplacedBy = uint32(serial), uint8(tier), uint32(replaces), uint32(replacedBy)
			var err error
			if t.Mail, err = m.mail(); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
		if err != nil {
			return fmt.Errorf("postgres: tickets: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mailCols are a deliveries row d's columns as mailRow scans them; NULL
// when the ticket was never mailed.
const mailCols = "d.state, d.run, d.to_addr, d.answer, d.at, d.attempts"

type mailRow struct {
	state, run, to, answer, at *string
	attempts                   *int32
}

func (m *mailRow) dest() []any {
	return []any{&m.state, &m.run, &m.to, &m.answer, &m.at, &m.attempts}
}

func (m *mailRow) mail() (*wire.Mail, error) {
	if m.state == nil {
		return nil, nil
	}
	at, err := parseTime(*m.at)
	if err != nil {
		return nil, err
	}
	return &wire.Mail{State: *m.state, Run: *m.run, To: *m.to, Answer: *m.answer, At: at, Attempts: int(*m.attempts)}, nil
}

// Deliver implements server.Store. The ticket rows are locked (FOR
// UPDATE) so that two runs claiming one ticket at once serialise and the
// second sees the first's claim.
func (s *Store) Deliver(ctx context.Context, event uint32, req wire.DeliveryRequest, now time.Time) (wire.DeliveryResponse, error) {
	var resp wire.DeliveryResponse
	err := s.write(ctx, func(tx *wtx) error {
		resp = wire.DeliveryResponse{Claimed: []uint32{}, Refused: []wire.DeliveryRefusal{}}
		if _, err := getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		for _, r := range req.Results {
			state := wire.MailFailed
			if r.Accepted {
				state = wire.MailSent
			}
			tag, err := tx.Exec(ctx, `UPDATE deliveries SET state = $1, to_addr = $2, answer = $3, at = $4
				WHERE event = $5 AND serial = $6 AND state = 'sending' AND run = $7`, state, r.To, r.Answer, fmtTime(now), event, r.Serial, req.Run)
			if err != nil {
				return fmt.Errorf("postgres: deliveries: %w", err)
			}
			if tag.RowsAffected() != 1 {
				return server.Errorf(server.ErrConflict, "", "ticket %d of event %d is not being sent by run %s", r.Serial, event, req.Run)
			}
		}
		for _, serial := range req.Claim {
			var revoked bool
			var m mailRow
			err := tx.QueryRow(ctx, `SELECT t.revoked, `+mailCols+` FROM tickets t
				LEFT JOIN deliveries d ON d.event = t.event AND d.serial = t.serial WHERE t.event = $1 AND t.serial = $2 FOR UPDATE OF t`, event, serial).
				Scan(append([]any{&revoked}, m.dest()...)...)
			if errors.Is(err, pgx.ErrNoRows) {
				resp.Refused = append(resp.Refused, wire.DeliveryRefusal{Serial: serial, Why: "unknown"})
				continue
			}
			if err != nil {
				return fmt.Errorf("postgres: deliveries: %w", err)
			}
			mail, err := m.mail()
			if err != nil {
				return err
			}
			if why := server.DeliveryRefused(revoked, mail, req); why != "" {
				resp.Refused = append(resp.Refused, wire.DeliveryRefusal{Serial: serial, Why: why, Mail: mail})
				continue
			}
			_, err = tx.Exec(ctx, `INSERT INTO deliveries (event, serial, state, run, at, attempts) VALUES ($1, $2, 'sending', $3, $4, 1)
				ON CONFLICT (event, serial) DO UPDATE SET state = 'sending', run = excluded.run, to_addr = '', answer = '', at = excluded.at,
				attempts = deliveries.attempts + 1`, event, serial, req.Run, fmtTime(now))
			if err != nil {
				return fmt.Errorf("postgres: deliveries: %w", err)
			}
			resp.Claimed = append(resp.Claimed, serial)
		}
		return nil
	})
	if err != nil {
		return wire.DeliveryResponse{}, err
	}
	return resp, nil
}
