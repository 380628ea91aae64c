package wire

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"kido.dev/kido"
)

func TestDammVector(t *testing.T) {
	// The worked example from Damm's thesis and Wikipedia: 572 → 4.
	if got := damm("572"); got != 4 {
		t.Fatalf("damm(572) = %d, want 4", got)
	}
}

func TestEnrollCodeRoundTrip(t *testing.T) {
	c := EnrollCode{Secret: "0123456789012345", Fingerprint: "8901234"}
	s := c.String()
	if len(s) != 29 || strings.Count(s, " ") != 5 {
		t.Fatalf("String() = %q, want six groups of four", s)
	}
	if c.ID() != "0123" {
		t.Errorf("ID() = %q, want the first four digits", c.ID())
	}
	for _, in := range []string{s, strings.ReplaceAll(s, " ", ""), strings.ReplaceAll(s, " ", "-"), toFullWidth(s)} {
		got, err := ParseEnrollCode(in)
		if err != nil || got != c {
			t.Errorf("ParseEnrollCode(%q) = %+v, %v; want %+v", in, got, err, c)
		}
	}
}

func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			r = '０' + (r - '0')
		} else if r == ' ' {
			r = '\u3000'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestEnrollCodeCatchesTypos(t *testing.T) {
	digits := strings.ReplaceAll(EnrollCode{Secret: "3141592653589793", Fingerprint: "5358979"}.String(), " ", "")
	for i := 0; i < len(digits); i++ {
		for d := byte('0'); d <= '9'; d++ {
			if d == digits[i] {
				continue
			}
			b := []byte(digits)
			b[i] = d
			if _, err := ParseEnrollCode(string(b)); !errors.Is(err, ErrBadEnrollCode) {
				t.Errorf("single typo %s accepted", b)
			}
		}
		if i+1 < len(digits) && digits[i] != digits[i+1] {
			b := []byte(digits)
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := ParseEnrollCode(string(b)); !errors.Is(err, ErrBadEnrollCode) {
				t.Errorf("transposition %s accepted", b)
			}
		}
	}
	for _, bad := range []string{"", "1234", "1234 5678 9012 3456 7890 123a", strings.Repeat("1", 25), "1234 5678 9012 3456"} {
		if _, err := ParseEnrollCode(bad); !errors.Is(err, ErrBadEnrollCode) {
			t.Errorf("ParseEnrollCode(%q) = %v, want ErrBadEnrollCode", bad, err)
		}
	}
}

func TestVerifyEnrollResponse(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	code := EnrollCode{Secret: "1234567812345678", Fingerprint: Fingerprint(pub)}
	sign := func(k ed25519.PrivateKey, nonce string) *EnrollResponse {
		r := &EnrollResponse{Gate: kido.Gate{ID: 7}, Credential: "cred", Server: Server{Fingerprint: Fingerprint(k.Public().(ed25519.PublicKey))}}
		r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k, EnrollSignedMessage(nonce, 7, "cred")))
		return r
	}
	if err := VerifyEnrollResponse(sign(priv, "n1"), pub, "n1", code); err != nil {
		t.Fatalf("good response rejected: %v", err)
	}
	if err := VerifyEnrollResponse(sign(priv, "n1"), pub, "n2", code); err == nil {
		t.Error("response for another nonce accepted")
	}
	if err := VerifyEnrollResponse(sign(otherPriv, "n1"), otherPub, "n1", code); err == nil {
		t.Error("response from a server with another fingerprint accepted")
	}
	r := sign(priv, "n1")
	r.Credential = "stolen"
	if err := VerifyEnrollResponse(r, pub, "n1", code); err == nil {
		t.Error("response with a swapped credential accepted")
	}
}

func FuzzParseEnrollCode(f *testing.F) {
	f.Add(EnrollCode{Secret: "0123456789012345", Fingerprint: "6789012"}.String())
	f.Add("０１２３")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseEnrollCode(s)
		if err != nil {
			return
		}
		// Whatever parses formats to a code that parses to the same thing.
		again, err := ParseEnrollCode(c.String())
		if err != nil || again != c {
			t.Fatalf("%q: re-parse of %q gave %+v, %v", s, c.String(), again, err)
		}
	})
}
