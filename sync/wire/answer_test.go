package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/sync/wire/internal/answers"
	"kido.dev/kido/ticket"
)

var answerDir = filepath.Join("testdata", "answers")

// answerVerdicts maps each expectation to the error it names.
var answerVerdicts = map[string]error{
	answers.OK:           nil,
	answers.Unsigned:     wire.ErrUnsigned,
	answers.BadSignature: wire.ErrBadSignature,
}

// TestAnswerVectors is the one loop over every file in testdata/answers:
// the verdict of VerifyAnswer over the message the gate builds from what
// it asked, and, for a sound answer, that the body decodes strictly as the
// answer it claims to be.
func TestAnswerVectors(t *testing.T) {
	entries, err := os.ReadDir(answerDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(answerDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			v, err := answers.Parse(e.Name(), data)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := answerVerdicts[v.Expect]
			if !ok {
				t.Fatalf("unknown expectation %q", v.Expect)
			}
			seen[v.Expect] = true
			id, err := ticket.ParsePublicKey(v.Identity)
			if err != nil {
				t.Fatal(err)
			}
			if got := wire.VerifyAnswer(id.Bytes(), v.Message(), v.Signature); !errors.Is(got, want) {
				t.Fatalf("got %v, want %v (%s)", got, want, v.Comment)
			}
			if want != nil {
				return
			}
			var out any = &wire.Changes{}
			switch v.Answer {
			case answers.Snapshot:
				out = &wire.Snapshot{}
			case answers.Upload:
				out = &wire.UploadResponse{}
			case answers.GateRevoked:
				out = &wire.Error{}
			}
			dec := json.NewDecoder(bytes.NewReader(v.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(out); err != nil {
				t.Errorf("a sound answer does not decode: %v", err)
			}
		})
	}
	for e := range answerVerdicts {
		if !seen[e] {
			t.Errorf("no vector expects %s", e)
		}
	}
}

// TestAnswerFilesUpToDate proves the files are exactly what the generator
// makes.
func TestAnswerFilesUpToDate(t *testing.T) {
	want := map[string][]byte{}
	for _, v := range answers.Generate() {
		want[v.Name] = v.Marshal()
		got, err := answers.Parse(v.Name, v.Marshal())
		if err != nil || got.Expect != v.Expect || got.Signature != v.Signature || !bytes.Equal(got.Message(), v.Message()) {
			t.Errorf("%s: read back %+v, %v", v.Name, got, err)
		}
	}
	diffs, err := vectorfiles.Diff(answerDir, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("%s; run: go generate ./sync/wire/internal/answers", d)
	}
}

// TestSignatureDomainsDistinct: every domain string kido signs or hashes
// under ends in its only NUL and none is a prefix of another, so a
// signature or hash made for one purpose never stands for another
// (docs/sync-protocol.md §13.2). A new domain belongs in this list.
func TestSignatureDomainsDistinct(t *testing.T) {
	first := func(m []byte) string { return string(m[:bytes.IndexByte(m, 0)+1]) }
	domains := map[string]string{
		"ticket signature":   ticket.Domain,
		"ticket key id":      ticket.KeyIDDomain,
		"enrolment answer":   first(wire.EnrollSignedMessage("n", 1, "c")),
		"identity proof":     first(wire.IdentitySignedMessage("n")),
		"feed answer":        wire.ChangesDomain,
		"feed answer v2":     first(wire.ChangesV2SignedMessage(1, "0.0", nil)),
		"snapshot":           wire.SnapshotDomain,
		"upload answer":      wire.UploadDomain,
		"gate revoked":       wire.GateRevokedDomain,
		"server fingerprint": "kido server fingerprint v1\x00",
		"admission hash":     "kido admission v1\x00",
		"admission hash v2":  "kido admission v2\x00",
		"admission sig":      wire.AdmissionSigDomain,
		"audit hash":         "kido audit v1\x00",
	}
	for a, da := range domains {
		if strings.IndexByte(da, 0) != len(da)-1 {
			t.Errorf("%s domain %q does not end in its only NUL", a, da)
		}
		for b, db := range domains {
			if a != b && strings.HasPrefix(db, da) {
				t.Errorf("%s domain %q is a prefix of %s domain %q", a, da, b, db)
			}
		}
	}
}

// FuzzVerifyAnswer: the signature header is outside input. Whatever it
// holds, VerifyAnswer accepts only the one canonical signature of the
// message: no other text (padding dropped, other base64, a changed byte)
// stands for it.
func FuzzVerifyAnswer(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	msg := wire.ChangesSignedMessage(7, "41.0f1e2d3c4b5a6978", []byte(`{"changes":[],"cursor":"42.a1b2c3d4e5f60718","server_time":"2027-08-01T01:02:30Z"}`+"\n"))
	good := wire.SignAnswer(key, msg)
	f.Add(good)
	f.Add(strings.TrimRight(good, "="))
	f.Add(good + "\n")
	f.Add("")
	pub := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, sig string) {
		err := wire.VerifyAnswer(pub, msg, sig)
		if err == nil && sig != good {
			t.Fatalf("accepted %q, which is not the canonical signature %q", sig, good)
		}
		if err != nil && !errors.Is(err, wire.ErrBadSignature) && !errors.Is(err, wire.ErrUnsigned) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// BenchmarkAnswerSignature measures what signing costs the server and
// checking costs the gate, per answer, for a feed page of 1,000 changes
// (about 300 KiB) and a snapshot of 100,000 tickets (about 12 MiB).
func BenchmarkAnswerSignature(b *testing.B) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	for _, size := range []struct {
		name string
		n    int
	}{{"page-300KiB", 300 << 10}, {"snapshot-12MiB", 12 << 20}} {
		body := bytes.Repeat([]byte("x"), size.n)
		msg := wire.SnapshotSignedMessage("7f3c9a1e5b2d4c6f8a0b1c2d3e4f5061", body)
		sig := wire.SignAnswer(key, msg)
		b.Run("sign/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				wire.SignAnswer(key, wire.SnapshotSignedMessage("7f3c9a1e5b2d4c6f8a0b1c2d3e4f5061", body))
			}
		})
		b.Run("verify/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if err := wire.VerifyAnswer(pub, wire.SnapshotSignedMessage("7f3c9a1e5b2d4c6f8a0b1c2d3e4f5061", body), sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
