package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// checkSigner confirms, inside the issuing transaction, that the signer's
// key is still the event's current unrevoked key: a rotation or a
// revocation that raced the request wins.
func checkSigner(ctx context.Context, tx *sql.Tx, event uint32, sg server.Signer) error {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM keys WHERE event = ? AND id = ? AND current = 1 AND revoked = 0", event, sg.Key).Scan(&n)
	if err != nil {
		return fmt.Errorf("sqlite: signing key: %w", err)
	}
	if n == 0 {
		return server.Errorf(server.ErrConflict, "retry", "event %d's signing key changed during the request", event)
	}
	return nil
}

func tierSet(ctx context.Context, tx *sql.Tx, event uint32) (map[uint8]bool, error) {
	ts, err := tiers(ctx, tx, event)
	if err != nil {
		return nil, err
	}
	m := make(map[uint8]bool, len(ts))
	for _, t := range ts {
		m[t.ID] = true
	}
	return m, nil
}

// issuer inserts new tickets in one transaction with prepared statements.
type issuer struct {
	ctx    context.Context
	tx     *sql.Tx
	event  uint32
	sg     server.Signer
	next   uint64
	insert *sql.Stmt
}

// newIssuer checks the signer and prepares to issue.
func newIssuer(ctx context.Context, tx *sql.Tx, event uint32, sg server.Signer) (*issuer, error) {
	if err := checkSigner(ctx, tx, event, sg); err != nil {
		return nil, err
	}
	is := &issuer{ctx: ctx, tx: tx, event: event, sg: sg}
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(serial), 0) + 1 FROM tickets WHERE event = ?", event).Scan(&is.next); err != nil {
		return nil, fmt.Errorf("sqlite: issue: %w", err)
	}
	var err error
	is.insert, err = tx.PrepareContext(ctx, `INSERT INTO tickets (event, serial, tier, holder, reading, email, order_ref, text, key, batch, item, replaces)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: issue: %w", err)
	}
	return is, nil
}

func (is *issuer) close() { is.insert.Close() }

// issue signs and stores one ticket; batch and item are nil for a reissue,
// replaces is 0 for a fresh ticket.
func (is *issuer) issue(it wire.IssueItem, batch, item any, replaces uint32) (wire.IssuedTicket, error) {
	if is.next > math.MaxUint32 {
		return wire.IssuedTicket{}, server.Errorf(server.ErrConflict, "", "event %d has used every serial number", is.event)
	}
	serial := uint32(is.next)
	is.next++
	text := is.sg.Sign(ticket.Claims{Event: is.event, Serial: serial, Tier: it.Tier})
	var rep any
	if replaces != 0 {
		rep = replaces
	}
	if _, err := is.insert.ExecContext(is.ctx, is.event, serial, it.Tier, it.Holder, it.Reading, it.Email, it.OrderRef, text, is.sg.Key, batch, item, rep); err != nil {
		return wire.IssuedTicket{}, fmt.Errorf("sqlite: issue: %w", err)
	}
	re := kido.RosterEntry{Serial: serial, Tier: it.Tier, Holder: it.Holder, Reading: it.Reading, OrderRef: it.OrderRef}
	if err := logChange(is.ctx, is.tx, is.event, wire.Change{Kind: wire.ChangeRoster, Roster: &re}); err != nil {
		return wire.IssuedTicket{}, err
	}
	return wire.IssuedTicket{Serial: serial, Tier: it.Tier, Holder: it.Holder, OrderRef: it.OrderRef, Text: text, Replaces: replaces}, nil
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

func scanTicket(row interface{ Scan(...any) error }) (stored, error) {
	var t stored
	err := row.Scan(&t.serial, &t.Tier, &t.Holder, &t.Reading, &t.Email, &t.OrderRef, &t.text, &t.revoked, &t.replaces, &t.replacedBy, &t.item)
	return t, err
}

func queryTickets(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]stored, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+ticketCols+" FROM tickets WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tickets: %w", err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: tickets: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: tickets: %w", err)
	}
	return out, nil
}

func (t stored) issued() wire.IssuedTicket {
	return wire.IssuedTicket{Serial: t.serial, Tier: t.Tier, Holder: t.Holder, OrderRef: t.OrderRef, Text: t.text, Replaces: t.replaces}
}

func (t stored) roster() kido.RosterEntry {
	return kido.RosterEntry{Serial: t.serial, Tier: t.Tier, Holder: t.Holder, Reading: t.Reading, OrderRef: t.OrderRef, Revoked: t.revoked, ReplacedBy: t.replacedBy}
}

// Issue implements server.Store.
func (s *Store) Issue(ctx context.Context, event uint32, req wire.IssueRequest, sg server.Signer) ([]wire.IssuedTicket, error) {
	out := make([]wire.IssuedTicket, 0, len(req.Tickets))
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		known, err := tierSet(ctx, tx, event)
		if err != nil {
			return err
		}
		// Items of this batch issued before, by item number.
		prior, err := queryTickets(ctx, tx, "event = ? AND batch = ? AND item BETWEEN ? AND ?",
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
			defer is.close()
		}
		for i, it := range req.Tickets {
			n := req.Offset + i
			if old, ok := before[n]; ok {
				if old.IssueItem != it {
					return server.Errorf(server.ErrConflict, "use a new -batch id for a different roster",
						"batch %q item %d was issued before with other content (serial %d)", req.Batch, n, old.serial)
				}
				given := old.issued()
				given.Existing = true
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
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// selected returns the tickets a selection names, all or an error.
func selected(ctx context.Context, tx *sql.Tx, event uint32, sel wire.Selection) ([]stored, error) {
	if _, err := getEvent(ctx, tx, event); err != nil {
		return nil, err
	}
	var out []stored
	if sel.OrderRef != "" {
		out, err := queryTickets(ctx, tx, "event = ? AND order_ref = ? ORDER BY serial", event, sel.OrderRef)
		if err == nil && len(out) == 0 {
			err = server.Errorf(server.ErrNotFound, "order references are matched exactly", "event %d has no tickets with order %q", event, sel.OrderRef)
		}
		return out, err
	}
	seen := map[uint32]bool{}
	for _, serial := range sel.Serials {
		if seen[serial] {
			continue
		}
		seen[serial] = true
		t, err := scanTicket(tx.QueryRowContext(ctx, "SELECT "+ticketCols+" FROM tickets WHERE event = ? AND serial = ?", event, serial))
		if err == sql.ErrNoRows {
			return nil, server.Errorf(server.ErrNotFound, "nothing was changed; check the serial in manifest.csv", "event %d has no ticket with serial %d", event, serial)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: select tickets: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

func revokeOne(ctx context.Context, tx *sql.Tx, event uint32, t *stored) error {
	if t.revoked {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE tickets SET revoked = 1 WHERE event = ? AND serial = ?", event, t.serial); err != nil {
		return fmt.Errorf("sqlite: revoke: %w", err)
	}
	t.revoked = true
	re := t.roster()
	if err := logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeRoster, Roster: &re}); err != nil {
		return err
	}
	return markRevoked(ctx, tx, "tickets", "serial", event, t.serial)
}

// Revoke implements server.Store. Revoking a revoked ticket changes
// nothing and is not an error.
func (s *Store) Revoke(ctx context.Context, event uint32, sel wire.Selection) ([]kido.RosterEntry, error) {
	var out []kido.RosterEntry
	err := s.write(ctx, func(tx *sql.Tx) error {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
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
		defer is.close()
		for i := range ts {
			t := &ts[i]
			if t.replacedBy != 0 {
				r, err := scanTicket(tx.QueryRowContext(ctx, "SELECT "+ticketCols+" FROM tickets WHERE event = ? AND serial = ?", event, t.replacedBy))
				if err != nil {
					return fmt.Errorf("sqlite: reissue: %w", err)
				}
				given := r.issued()
				given.Existing = true
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
			if _, err := tx.ExecContext(ctx, "UPDATE tickets SET replaced_by = ? WHERE event = ? AND serial = ?", nt.Serial, event, t.serial); err != nil {
				return fmt.Errorf("sqlite: reissue: %w", err)
			}
			t.replacedBy = nt.Serial
			if t.revoked {
				// Revoked before: the gates learn what replaced it.
				re := t.roster()
				if err := logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeRoster, Roster: &re}); err != nil {
					return err
				}
			} else if err := revokeOne(ctx, tx, event, t); err != nil {
				return err
			}
			out = append(out, nt)
		}
		return nil
	})
	return out, err
}

// Tickets implements server.Store.
func (s *Store) Tickets(ctx context.Context, event uint32, orderRef string) ([]wire.TicketRecord, error) {
	out := []wire.TicketRecord{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT t.serial, t.tier, t.holder, t.reading, t.email, t.order_ref, COALESCE(t.batch, ''), t.revoked,
			COALESCE(t.replaces, 0), COALESCE(t.replaced_by, 0), `+mailCols+`
			FROM tickets t LEFT JOIN deliveries d ON d.event = t.event AND d.serial = t.serial
			WHERE t.event = ? AND (? = '' OR t.order_ref = ?) ORDER BY t.serial`, event, orderRef, orderRef)
		if err != nil {
			return fmt.Errorf("sqlite: tickets: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t wire.TicketRecord
			var m mailRow
			if err := rows.Scan(append([]any{&t.Serial, &t.Tier, &t.Holder, &t.Reading, &t.Email, &t.OrderRef, &t.Batch, &t.Revoked, &t.Replaces, &t.ReplacedBy}, m.dest()...)...); err != nil {
				return fmt.Errorf("sqlite: tickets: %w", err)
			}
			if t.Mail, err = m.mail(); err != nil {
				return err
			}
			out = append(out, t)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: tickets: %w", err)
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
	state, run, to, answer, at sql.NullString
	attempts                   sql.NullInt64
}

func (m *mailRow) dest() []any {
	return []any{&m.state, &m.run, &m.to, &m.answer, &m.at, &m.attempts}
}

func (m *mailRow) mail() (*wire.Mail, error) {
	if !m.state.Valid {
		return nil, nil
	}
	at, err := parseTime(m.at.String)
	if err != nil {
		return nil, err
	}
	return &wire.Mail{State: m.state.String, Run: m.run.String, To: m.to.String, Answer: m.answer.String, At: at, Attempts: int(m.attempts.Int64)}, nil
}

// Deliver implements server.Store.
func (s *Store) Deliver(ctx context.Context, event uint32, req wire.DeliveryRequest, now time.Time) (wire.DeliveryResponse, error) {
	resp := wire.DeliveryResponse{Claimed: []uint32{}, Refused: []wire.DeliveryRefusal{}}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		for _, r := range req.Results {
			state := wire.MailFailed
			if r.Accepted {
				state = wire.MailSent
			}
			res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, to_addr = ?, answer = ?, at = ?
				WHERE event = ? AND serial = ? AND state = 'sending' AND run = ?`, state, r.To, r.Answer, fmtTime(now), event, r.Serial, req.Run)
			if err != nil {
				return fmt.Errorf("sqlite: deliveries: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return server.Errorf(server.ErrConflict, "", "ticket %d of event %d is not being sent by run %s", r.Serial, event, req.Run)
			}
		}
		for _, serial := range req.Claim {
			var revoked bool
			var m mailRow
			err := tx.QueryRowContext(ctx, `SELECT t.revoked, `+mailCols+` FROM tickets t
				LEFT JOIN deliveries d ON d.event = t.event AND d.serial = t.serial WHERE t.event = ? AND t.serial = ?`, event, serial).
				Scan(append([]any{&revoked}, m.dest()...)...)
			if errors.Is(err, sql.ErrNoRows) {
				resp.Refused = append(resp.Refused, wire.DeliveryRefusal{Serial: serial, Why: "unknown"})
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlite: deliveries: %w", err)
			}
			mail, err := m.mail()
			if err != nil {
				return err
			}
			if why := server.DeliveryRefused(revoked, mail, req); why != "" {
				resp.Refused = append(resp.Refused, wire.DeliveryRefusal{Serial: serial, Why: why, Mail: mail})
				continue
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO deliveries (event, serial, state, run, at, attempts) VALUES (?, ?, 'sending', ?, ?, 1)
				ON CONFLICT (event, serial) DO UPDATE SET state = 'sending', run = excluded.run, to_addr = '', answer = '', at = excluded.at,
				attempts = attempts + 1`, event, serial, req.Run, fmtTime(now))
			if err != nil {
				return fmt.Errorf("sqlite: deliveries: %w", err)
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
