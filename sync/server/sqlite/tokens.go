package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

const tokenCols = "id, name, scope, events, COALESCE(gate, 0), created, revoked"

func scanToken(row interface{ Scan(...any) error }) (wire.Token, error) {
	var t wire.Token
	var events, created string
	var revoked sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &t.Scope, &events, &t.Gate, &created, &revoked); err != nil {
		return t, err
	}
	var err error
	if t.Events, err = splitIDs[uint32](events, 32); err != nil {
		return t, err
	}
	if t.Created, err = parseTime(created); err != nil {
		return t, err
	}
	if revoked.Valid {
		r, err := parseTime(revoked.String)
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
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM tokens").Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: tokens: %w", err)
	}
	return n, nil
}

// CreateToken implements server.Store.
func (s *Store) CreateToken(ctx context.Context, t server.NewToken, now time.Time) (wire.Token, error) {
	var out wire.Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = insertToken(ctx, tx, t, now)
		return err
	})
	return out, err
}

func insertToken(ctx context.Context, tx *sql.Tx, t server.NewToken, now time.Time) (wire.Token, error) {
	var gate any
	if t.Gate != 0 {
		gate = t.Gate
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO tokens (name, scope, events, gate, hash, created) VALUES (?, ?, ?, ?, ?, ?)",
		t.Name, t.Scope, joinIDs(t.Events), gate, t.Hash[:], fmtTime(now))
	if err != nil {
		return wire.Token{}, fmt.Errorf("sqlite: create token: %w", err)
	}
	id, _ := res.LastInsertId()
	return scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = ?", id))
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
	t, err := scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ? AND "+cond, h[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return t, server.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: token: %w", err)
	}
	return t, nil
}

// Tokens implements server.Store.
func (s *Store) Tokens(ctx context.Context) ([]wire.Token, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+tokenCols+" FROM tokens ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	out := []wire.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements server.Store. Revoking the last unrevoked admin
// token is refused: nobody could make another.
func (s *Store) RevokeToken(ctx context.Context, id uint32, now time.Time) (wire.Token, error) {
	var out wire.Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		t, err := scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "kidoctl token list shows the tokens", "no token %d", id)
		}
		if err != nil {
			return fmt.Errorf("sqlite: token: %w", err)
		}
		if t.Revoked != nil {
			out = t
			return nil
		}
		if t.Scope == wire.ScopeAdmin {
			var admins int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM tokens WHERE scope = ? AND revoked IS NULL", wire.ScopeAdmin).Scan(&admins); err != nil {
				return fmt.Errorf("sqlite: token: %w", err)
			}
			if admins == 1 {
				return server.Errorf(server.ErrConflict, "create another admin token first (kidoctl token create -scope admin)", "token %d is the last admin token", id)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked = ? WHERE id = ?", fmtTime(now), id); err != nil {
			return fmt.Errorf("sqlite: revoke token: %w", err)
		}
		if t.Gate != 0 {
			// A gate whose credential is revoked no longer syncs: tell the others.
			if _, err := tx.ExecContext(ctx, "UPDATE gates SET revoked = 1, revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", fmtTime(now), t.Gate); err != nil {
				return fmt.Errorf("sqlite: revoke token: %w", err)
			}
			g, err := scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+" FROM gates WHERE id = ?", t.Gate))
			if err != nil {
				return fmt.Errorf("sqlite: revoke token: %w", err)
			}
			if err := logChange(ctx, tx, g.Event, wire.Change{Kind: wire.ChangeGate, Gate: &g}); err != nil {
				return err
			}
		}
		out, err = scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE id = ?", id))
		return err
	})
	return out, err
}
