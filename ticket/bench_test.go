package ticket_test

import (
	"testing"

	"kido.dev/kido/ticket"
)

func BenchmarkSign(b *testing.B) {
	key := testKey(b, "a")
	c := ticket.Claims{Event: 1001, Tier: 1}
	for b.Loop() {
		c.Serial++
		ticket.Sign(key, c)
	}
}

func BenchmarkVerify(b *testing.B) {
	key := testKey(b, "a")
	tk := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 42})
	kr := ticket.NewKeyring(ticket.Key{Public: key.Public(), Event: 1001})
	for b.Loop() {
		if err := kr.Verify(tk, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	text := ticket.Sign(testKey(b, "a"), ticket.Claims{Event: 1001, Serial: 42}).String()
	for b.Loop() {
		if _, err := ticket.Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	tk := ticket.Sign(testKey(b, "a"), ticket.Claims{Event: 1001, Serial: 42})
	for b.Loop() {
		_ = tk.String()
	}
}
