package ticket_test

import (
	"crypto/sha256"
	"fmt"
	"time"

	"kido.dev/kido/ticket"
)

// exampleKey is a fixed key so that the examples' output is stable; real
// keys come from ticket.GenerateKey.
func exampleKey() ticket.PrivateKey {
	seed := sha256.Sum256([]byte("kido example key"))
	key, err := ticket.NewPrivateKeyFromSeed(seed[:])
	if err != nil {
		panic(err)
	}
	return key
}

func ExampleSign() {
	key := exampleKey()
	t := ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 42, Tier: 1})
	text := t.String() // the exact content of the QR code
	fmt.Println("public key:", key.Public())
	fmt.Println("key id:", t.KeyID)
	fmt.Println("digits:", len(text))
	fmt.Println(text)
	// Output:
	// public key: kidopub1qub5tfxyfedqmpjfc6pzykgpexetjid4v2gequn6xvxd6c5kskgtm3x6em
	// key id: edf642a3
	// digits: 188
	// 01252781269542677938604144738822431308007712702195396834258434149862976443668821360106091922395897234318280501307157847106712152194837347452318146525554264478581886205335691781832421620239
}

func ExampleKeyring_Verify() {
	pub, err := ticket.ParsePublicKey("kidopub1qub5tfxyfedqmpjfc6pzykgpexetjid4v2gequn6xvxd6c5kskgtm3x6em")
	if err != nil {
		panic(err)
	}
	ring := ticket.NewKeyring(ticket.Key{
		Public:    pub,
		Event:     1001,
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
	})
	now := time.Date(2026, 6, 1, 18, 30, 0, 0, time.UTC)
	scans := []string{
		ticket.Sign(exampleKey(), ticket.Claims{Event: 1001, Serial: 42, Tier: 1}).String(),
		"01" + "123",
	}
	for _, scan := range scans {
		t, err := ticket.Parse(scan)
		if err == nil {
			err = ring.Verify(t, now)
		}
		if err != nil {
			fmt.Println("reject:", err)
			continue
		}
		fmt.Printf("admit: event %d serial %d tier %d\n", t.Event, t.Serial, t.Tier)
	}
	// Output:
	// admit: event 1001 serial 42 tier 1
	// reject: ticket: malformed: 5 digits, want 188
}
