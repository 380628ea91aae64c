package ticket_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/ticket"
)

var (
	t0  = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	day = 24 * time.Hour
)

// forged returns t with one signature bit flipped.
func forged(t *ticket.Ticket) *ticket.Ticket {
	c := *t
	c.Signature[0] ^= 0x80
	return &c
}

// TestVerifyOrder pins the verdict when several faults hold at once: the
// first check in the documented order wins.
func TestVerifyOrder(t *testing.T) {
	priv := testKey(t, "a")
	tk := ticket.Sign(priv, ticket.Claims{Event: 7, Serial: 1})
	key := func(event uint32, from, to time.Time, revoked bool) ticket.Key {
		return ticket.Key{Public: priv.Public(), Event: event, NotBefore: from, NotAfter: to, Revoked: revoked}
	}
	past := t0.Add(-2 * day)
	tests := []struct {
		name string
		ring *ticket.Keyring
		tk   *ticket.Ticket
		want error
	}{
		{"valid", ticket.NewKeyring(key(7, t0.Add(-day), t0.Add(day), false)), tk, nil},
		{"valid at both window ends", ticket.NewKeyring(key(7, t0, t0, false)), tk, nil},
		{"empty keyring", ticket.NewKeyring(), tk, ticket.ErrUnknownKey},
		{"zero keyring", &ticket.Keyring{}, tk, ticket.ErrUnknownKey},
		{"other event beats revoked, expired, forged", ticket.NewKeyring(key(8, past, past, true)), forged(tk), ticket.ErrUnknownKey},
		{"revoked beats expired and forged", ticket.NewKeyring(key(7, past, past, true)), forged(tk), ticket.ErrKeyRevoked},
		{"expired beats forged", ticket.NewKeyring(key(7, past, past, false)), forged(tk), ticket.ErrKeyNotValid},
		{"not yet valid", ticket.NewKeyring(key(7, t0.Add(time.Nanosecond), time.Time{}, false)), tk, ticket.ErrKeyNotValid},
		{"expired a nanosecond ago", ticket.NewKeyring(key(7, time.Time{}, t0.Add(-time.Nanosecond), false)), tk, ticket.ErrKeyNotValid},
		{"forged", ticket.NewKeyring(key(7, time.Time{}, time.Time{}, false)), forged(tk), ticket.ErrBadSignature},
	}
	all := []error{ticket.ErrUnknownKey, ticket.ErrKeyRevoked, ticket.ErrKeyNotValid, ticket.ErrBadSignature}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ring.Verify(tt.tk, t0)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			for _, e := range all {
				if errors.Is(err, e) != (e == tt.want) {
					t.Fatalf("Verify = %v, want exactly %v", err, tt.want)
				}
			}
		})
	}
}

func TestKeyringAddReplaces(t *testing.T) {
	priv := testKey(t, "a")
	tk := ticket.Sign(priv, ticket.Claims{Event: 7})
	k := ticket.Key{Public: priv.Public(), Event: 7}
	kr := ticket.NewKeyring(k)
	if err := kr.Verify(tk, t0); err != nil {
		t.Fatal(err)
	}
	k.Revoked = true
	kr.Add(k)
	if err := kr.Verify(tk, t0); !errors.Is(err, ticket.ErrKeyRevoked) || kr.Len() != 1 {
		t.Fatalf("after revoking: Verify = %v, Len = %d", err, kr.Len())
	}
	if got, ok := kr.Lookup(k.ID()); !ok || !got.Revoked {
		t.Fatalf("Lookup = %+v, %v", got, ok)
	}
}

// TestZeroKeyNeverMatches: a Key left without a public key must not make
// Verify panic inside crypto/ed25519.
func TestZeroKeyNeverMatches(t *testing.T) {
	var zero ticket.Key
	tk := &ticket.Ticket{KeyID: zero.ID()}
	if err := ticket.NewKeyring(zero).Verify(tk, t0); !errors.Is(err, ticket.ErrUnknownKey) {
		t.Fatalf("Verify = %v, want %v", err, ticket.ErrUnknownKey)
	}
}

// TestVerifyConcurrent is for -race: gates verify from several goroutines.
func TestVerifyConcurrent(t *testing.T) {
	priv := testKey(t, "a")
	kr := ticket.NewKeyring(ticket.Key{Public: priv.Public(), Event: 7})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tk := ticket.Sign(priv, ticket.Claims{Event: 7, Serial: uint32(i)})
			if err := kr.Verify(tk, t0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
