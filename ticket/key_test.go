package ticket_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"kido.dev/kido/ticket"
)

func TestKeyTextRoundTrip(t *testing.T) {
	priv := testKey(t, "a")
	pub := priv.Public()
	ps, ss := pub.String(), priv.String()
	if !strings.HasPrefix(ps, "kidopub1") || len(ps) != 8+58 || strings.ToLower(ps) != ps {
		t.Errorf("public key text %q: want kidopub1 + 58 lowercase characters", ps)
	}
	if !strings.HasPrefix(ss, "KIDO-SECRET-KEY-1") || len(ss) != 17+58 || strings.ToUpper(ss) != ss {
		t.Errorf("private key text %q: want KIDO-SECRET-KEY-1 + 58 uppercase characters", ss)
	}
	gotPub, err := ticket.ParsePublicKey(" " + ps + "\r\n") // pasted with its line end
	if err != nil || !gotPub.Equal(pub) || gotPub.String() != ps {
		t.Fatalf("ParsePublicKey(String()) = %v, %v", gotPub, err)
	}
	gotPriv, err := ticket.ParsePrivateKey(ss)
	if err != nil || !bytes.Equal(gotPriv.Seed(), priv.Seed()) || !gotPriv.Public().Equal(pub) {
		t.Fatalf("ParsePrivateKey(String()) = %v", err)
	}
}

// TestKeyID pins the key id derivation.
func TestKeyID(t *testing.T) {
	pub := testKey(t, "a").Public()
	h := sha256.Sum256(append([]byte("kido key id v1\x00"), pub.Bytes()...))
	if id := pub.ID(); !bytes.Equal(id[:], h[:4]) {
		t.Fatalf("ID() = %x, want %x", id, h[:4])
	}
	s := pub.ID().String()
	got, err := ticket.ParseKeyID(s)
	if err != nil || got != pub.ID() || len(s) != 8 {
		t.Fatalf("ParseKeyID(%q) = %v, %v", s, got, err)
	}
	for _, bad := range []string{"", "0011223", "001122334", "zz112233", strings.ToUpper("abcdef12")} {
		if _, err := ticket.ParseKeyID(bad); err == nil {
			t.Errorf("ParseKeyID(%q) accepted", bad)
		}
	}
}

// replaceAt returns s with the character at i replaced by c.
func replaceAt(s string, i int, c byte) string { return s[:i] + string(c) + s[i+1:] }

func TestParseKeyRejects(t *testing.T) {
	priv := testKey(t, "a")
	ps, ss := priv.Public().String(), priv.String()
	// The last base32 character carries 3 key bits and 2 unused ones:
	// changing an unused bit keeps the bytes and checksum but is not
	// canonical.
	last := ps[len(ps)-1]
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	i := strings.IndexByte(alphabet, last)
	unusedBit := replaceAt(ps, len(ps)-1, alphabet[i^1])
	typo := replaceAt(ps, 20, map[bool]byte{true: 'b', false: 'a'}[ps[20] == 'a'])

	tests := []struct {
		name  string
		parse func(string) error
		in    string
		msg   string
	}{
		{"private as public", parsePub, ss, "this is a private key, not a public key"},
		{"lowercased private as public", parsePub, strings.ToLower(ss), "this is a private key"},
		{"public as private", parsePriv, ps, "this is a public key, not a private key"},
		{"other key format", parsePub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", `not a kido public key (want prefix "kidopub1")`},
		{"other private format", parsePriv, "-----BEGIN PRIVATE KEY-----", "not a kido private key"},
		{"empty", parsePub, "", "not a kido public key"},
		{"checksum typo", parsePub, typo, "checksum mismatch\nhint: check for a typo"},
		{"truncated", parsePub, ps[:len(ps)-3], "55 characters after the prefix, want 58"},
		{"joined", parsePub, ps + "x", "59 characters after the prefix"},
		{"digit outside base32", parsePub, replaceAt(ps, 20, '1'), "outside the base32 alphabet"},
		{"uppercase public", parsePub, strings.ToUpper(ps), "not in canonical form"},
		{"lowercase private", parsePriv, strings.ToLower(ss), "not in canonical form"},
		{"unused bits set", parsePub, unusedBit, "not in canonical form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse(tt.in)
			if err == nil {
				t.Fatalf("accepted %q", tt.in)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "ticket: ") {
				t.Errorf("error %q: want prefix \"ticket: \" and %q", err, tt.msg)
			}
		})
	}
}

func parsePub(s string) error  { _, err := ticket.ParsePublicKey(s); return err }
func parsePriv(s string) error { _, err := ticket.ParsePrivateKey(s); return err }

func TestKeyConstructors(t *testing.T) {
	if _, err := ticket.NewPrivateKeyFromSeed(make([]byte, 31)); err == nil {
		t.Error("NewPrivateKeyFromSeed accepted a 31-byte seed")
	}
	if _, err := ticket.NewPublicKey(make([]byte, 33)); err == nil {
		t.Error("NewPublicKey accepted 33 bytes")
	}
	pub := testKey(t, "a").Public()
	b := pub.Bytes()
	got, err := ticket.NewPublicKey(b)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("NewPublicKey(Bytes()) = %v, %v", got, err)
	}
	b[0] ^= 1 // Bytes and NewPublicKey copy: the key cannot change under us
	if !got.Equal(pub) {
		t.Error("changing the slice from Bytes changed the key")
	}
	k1, err := ticket.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := ticket.GenerateKey(nil)
	if k1.Public().Equal(k2.Public()) {
		t.Error("GenerateKey returned the same key twice")
	}
}
