package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

const tokenCols = "id, name, scope, events, COALESCE(gate, 0), created, revoked"

func scanToken(row pgx.Row) (wire.Token, error) {
	var t wire.Token
	var events []int64
	var created string
	var revoked *string
	if err := row.Scan(&t.ID, &t.Name, &t.Scope, &events, &t.Gate, &created, &revoked); err != nil {
		return t, err
	}
	t.Events = ids[uint32](events)
	var err error
	if t.Created, err = parseTime(created); err != nil {
		return t, err
	}
	if revoked != nil {
		r, err := parseTime(*revoked)
		if err != nil {
			return t, err
		}
		t.Revoked = &r
	}
	return t, nil
}

// CountTokens implements server.Store.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT COUNT(*) FROM tokens").Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: tokens: %w", err)
	}
	return n, nil
}

// CreateToken implements server.Store.
func (s *Store) CreateToken(ctx context.Context, t server.NewToken, now time.Time) (wire.Token, error) {
	var out wire.Token
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		out, err = insertToken(ctx, tx, t, now)
		return err
	})
	return out, err
}

func insertToken(ctx context.Context, tx *wtx, t server.NewToken, now time.Time) (wire.Token, error) {
	var gate any
	if t.Gate != 0 {
		gate = int64(t.Gate)
	}
	out, err := scanToken(tx.QueryRow(ctx, "INSERT INTO tokens (name, scope, events, gate, hash, created) VALUES ($1, $2, $3, $4, $5, $6) RETURNING "+tokenCols,
		t.Name, t.Scope, int64s(t.Events), gate, t.Hash[:], fmtTime(now)))
	if err != nil {
		return out, fmt.Errorf("postgres: create token: %w", err)
	}
	return out, nil
}

// TokenByHash implements server.Store.
func (s *Store) TokenByHash(ctx context.Context, h server.TokenHash) (wire.Token, error) {
	return s.tokenByHash(ctx, h, "revoked IS NULL")
}

// RevokedToken implements server.Store.
func (s *Store) RevokedToken(ctx context.Context, h server.TokenHash) (wire.Token, error) {
	return s.tokenByHash(ctx, h, "revoked IS NOT NULL")
}

func (s *Store) tokenByHash(ctx context.Context, h server.TokenHash, cond string) (wire.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1 AND "+cond, h[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, server.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("postgres: token: %w", err)
	}
	return t, nil
}

// Tokens implements server.Store.
func (s *Store) Tokens(ctx context.Context) ([]wire.Token, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+tokenCols+" FROM tokens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("postgres: tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wire.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements server.Store. Revoking the last unrevoked admin
// token is refused: nobody could make another.
func (s *Store) RevokeToken(ctx context.Context, id uint32, now time.Time) (wire.Token, error) {
	var out wire.Token
	err := s.write(ctx, func(tx *wtx) error {
		t, err := scanToken(tx.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "kidoctl token list shows the tokens", "no token %d", id)
		}
		if err != nil {
			return fmt.Errorf("postgres: token: %w", err)
		}
		var g kido.Gate
		if t.Gate != 0 {
			// The gate row first, as RevokeGate locks it before the tokens.
			if g, err = lockGate(ctx, tx, t.Gate); err != nil {
				return err
			}
		}
		// Locked and read again: another instance may have revoked it
		// since the read above.
		t, err = scanToken(tx.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return fmt.Errorf("postgres: token: %w", err)
		}
		if t.Revoked != nil {
			out = t
			return nil
		}
		if t.Scope == wire.ScopeAdmin {
			// Every unrevoked admin token is locked, so two instances
			// revoking the last two cannot both see the other's standing.
			var admins int
			err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM (SELECT id FROM tokens WHERE scope = $1 AND revoked IS NULL FOR UPDATE) a", wire.ScopeAdmin).Scan(&admins)
			if err != nil {
				return fmt.Errorf("postgres: token: %w", err)
			}
			if admins == 1 {
				return server.Errorf(server.ErrConflict, "create another admin token first (kidoctl token create -scope admin)", "token %d is the last admin token", id)
			}
		}
		if out, err = scanToken(tx.QueryRow(ctx, "UPDATE tokens SET revoked = $1 WHERE id = $2 RETURNING "+tokenCols, fmtTime(now), id)); err != nil {
			return fmt.Errorf("postgres: revoke token: %w", err)
		}
		if t.Gate != 0 && !g.Revoked {
			// A gate whose credential is revoked no longer syncs: tell the others.
			if err := setRevoked(ctx, tx, &g, now); err != nil {
				return fmt.Errorf("postgres: revoke token: %w", err)
			}
			return tx.logChange(g.Event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
		}
		return nil
	})
	return out, err
}
