package ticket_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"kido.dev/kido/ticket"
)

// testKey returns a deterministic private key named name.
func testKey(tb testing.TB, name string) ticket.PrivateKey {
	tb.Helper()
	seed := sha256.Sum256([]byte("kido unit test key " + name))
	k, err := ticket.NewPrivateKeyFromSeed(seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestSizes(t *testing.T) {
	if ticket.BinaryLen != 78 || ticket.TextLen != 188 {
		t.Fatalf("BinaryLen, TextLen = %d, %d; the spec says 78, 188", ticket.BinaryLen, ticket.TextLen)
	}
	tk := ticket.Sign(testKey(t, "a"), ticket.Claims{Event: 1, Serial: 2, Tier: 3})
	b, err := tk.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != ticket.BinaryLen {
		t.Errorf("binary form is %d bytes, want %d", len(b), ticket.BinaryLen)
	}
	s := tk.String()
	if len(s) != ticket.TextLen || !strings.HasPrefix(s, "01") || strings.Trim(s, "0123456789") != "" {
		t.Errorf("text form %q: want %d digits starting 01", s, ticket.TextLen)
	}
}

// TestSignedMessage pins exactly which bytes are signed.
func TestSignedMessage(t *testing.T) {
	key := testKey(t, "a")
	tk := ticket.Sign(key, ticket.Claims{Event: 0x01020304, Serial: 0xa0b0c0d0, Tier: 0xee})
	id := key.Public().ID()
	want := append([]byte("kido ticket signature v1\x00"), 1, id[0], id[1], id[2], id[3], 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0, 0xee)
	if got := tk.SignedMessage(); !bytes.Equal(got, want) {
		t.Fatalf("SignedMessage() = %x, want %x", got, want)
	}
	if !ed25519.Verify(key.Public().Bytes(), want, tk.Signature[:]) {
		t.Fatal("the signature does not verify over the documented message")
	}
	b, _ := tk.MarshalBinary()
	if !bytes.Equal(b[:ticket.SignedLen], want[len(ticket.Domain):]) || !bytes.Equal(b[ticket.SignedLen:], tk.Signature[:]) {
		t.Fatalf("binary form %x is not signed part || signature", b)
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t, "a")
	claims := []ticket.Claims{{}, {Event: 1<<32 - 1, Serial: 1<<32 - 1, Tier: 255}}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		claims = append(claims, ticket.Claims{Event: r.Uint32(), Serial: r.Uint32(), Tier: uint8(r.UintN(256))})
	}
	for _, c := range claims {
		tk := ticket.Sign(key, c)
		got, err := ticket.Parse(tk.String())
		if err != nil {
			t.Fatalf("Parse(String()) for %+v: %v", c, err)
		}
		if *got != *tk {
			t.Fatalf("Parse(String()) = %+v, want %+v", got, tk)
		}
		b, _ := tk.MarshalBinary()
		var u ticket.Ticket
		if err := u.UnmarshalBinary(b); err != nil || u != *tk {
			t.Fatalf("UnmarshalBinary(MarshalBinary()) = %+v, %v; want %+v", u, err, tk)
		}
	}
}

// TestParseOrder pins the order of Parse's checks (docs/ticket-format.md).
func TestParseOrder(t *testing.T) {
	valid := ticket.Sign(testKey(t, "a"), ticket.Claims{Event: 1}).String()
	tests := []struct {
		name, in string
		want     error
		msg      string
	}{
		{"empty", "", ticket.ErrMalformed, "0 characters, want 188"},
		{"one digit", "1", ticket.ErrMalformed, "1 characters"},
		{"non-digit before version", "0x", ticket.ErrMalformed, "character 2 is not a digit"},
		{"non-digit beats unknown version", "02" + valid[2:100] + "-", ticket.ErrMalformed, "character 101"},
		{"version before length", "02", ticket.ErrUnsupportedVersion, "version 2"},
		{"version 00", "00" + valid[2:], ticket.ErrUnsupportedVersion, "version 0"},
		{"length after version", "01", ticket.ErrMalformed, "2 digits, want 188"},
		{"too long", valid + "5", ticket.ErrMalformed, "189 digits"},
		{"out of range", "01" + strings.Repeat("9", 186), ticket.ErrMalformed, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, err := ticket.Parse(tt.in)
			if !errors.Is(err, tt.want) || tk != nil {
				t.Fatalf("Parse = %v, %v; want nil, %v", tk, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestUnmarshalBinaryRejects(t *testing.T) {
	good, _ := ticket.Sign(testKey(t, "a"), ticket.Claims{}).MarshalBinary()
	v2 := bytes.Clone(good)
	v2[0] = 2
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ticket.ErrMalformed},
		{"version 2", v2, ticket.ErrUnsupportedVersion},
		{"truncated", good[:ticket.BinaryLen-1], ticket.ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ticket.ErrMalformed},
	}
	for _, tt := range tests {
		var tk ticket.Ticket
		if err := tk.UnmarshalBinary(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: UnmarshalBinary = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestErrorStyle checks the verdict messages follow the house rules.
func TestErrorStyle(t *testing.T) {
	for _, err := range []error{ticket.ErrMalformed, ticket.ErrUnsupportedVersion, ticket.ErrUnknownKey,
		ticket.ErrKeyRevoked, ticket.ErrKeyNotValid, ticket.ErrBadSignature} {
		s := err.Error()
		if !strings.HasPrefix(s, "ticket: ") || strings.ToLower(s) != s || strings.HasSuffix(s, ".") {
			t.Errorf("%q: want a lowercase message prefixed \"ticket: \" with no final period", s)
		}
	}
}
