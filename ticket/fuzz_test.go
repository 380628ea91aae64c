package ticket_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"kido.dev/kido/ticket"
)

// FuzzParse: Parse never panics, fails only with ErrMalformed or
// ErrUnsupportedVersion, and whatever it accepts re-encodes to exactly the
// input: there is one text per ticket, so no malleability.
func FuzzParse(f *testing.F) {
	for _, v := range readVectors(f) {
		f.Add(string(v.Text))
	}
	f.Fuzz(func(t *testing.T, text string) {
		tk, err := ticket.Parse(text)
		if err != nil {
			if !errors.Is(err, ticket.ErrMalformed) && !errors.Is(err, ticket.ErrUnsupportedVersion) {
				t.Fatalf("Parse(%q) = %v: not a Parse verdict", text, err)
			}
			return
		}
		if got := tk.String(); got != text {
			t.Fatalf("Parse(%q).String() = %q", text, got)
		}
		b, _ := tk.MarshalBinary()
		var u ticket.Ticket
		if err := u.UnmarshalBinary(b); err != nil || u != *tk {
			t.Fatalf("binary round trip of %q: %+v, %v", text, u, err)
		}
	})
}

// FuzzUnmarshalBinary: the binary form is canonical too.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, v := range readVectors(f) {
		if tk, err := ticket.Parse(string(v.Text)); err == nil {
			b, _ := tk.MarshalBinary()
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tk ticket.Ticket
		if err := tk.UnmarshalBinary(b); err != nil {
			return
		}
		if got, _ := tk.MarshalBinary(); !bytes.Equal(got, b) {
			t.Fatalf("UnmarshalBinary(%x) re-encodes as %x", b, got)
		}
		if _, err := ticket.Parse(tk.String()); err != nil {
			t.Fatalf("the text of a valid binary ticket does not parse: %v", err)
		}
	})
}

// keySeeds returns key texts to seed the key fuzzers: every vector key, a
// private key, and the pair with their case changed.
func keySeeds(f *testing.F) []string {
	priv := testKey(f, "a")
	seeds := []string{priv.String(), priv.Public().String(), strings.ToUpper(priv.Public().String()), strings.ToLower(priv.String())}
	for _, v := range readVectors(f) {
		for _, k := range v.Keys {
			seeds = append(seeds, k.Public.String())
		}
	}
	return seeds
}

// FuzzParsePublicKey: never panics; an accepted key is the canonical text
// (up to surrounding white space).
func FuzzParsePublicKey(f *testing.F) {
	for _, s := range keySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ticket.ParsePublicKey(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ticket: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if got := k.String(); got != strings.TrimSpace(s) {
			t.Fatalf("ParsePublicKey(%q).String() = %q", s, got)
		}
	})
}

// FuzzParsePrivateKey: as FuzzParsePublicKey, for private keys.
func FuzzParsePrivateKey(f *testing.F) {
	for _, s := range keySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ticket.ParsePrivateKey(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ticket: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if got := k.String(); got != strings.TrimSpace(s) {
			t.Fatalf("ParsePrivateKey(%q).String() = %q", s, got)
		}
	})
}
