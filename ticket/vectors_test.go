package ticket_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/internal/vectors"
)

var vectorDir = filepath.Join("testdata", "vectors")

// verdicts maps each expectation to the error it names.
var verdicts = map[string]error{
	vectors.Valid:              nil,
	vectors.Malformed:          ticket.ErrMalformed,
	vectors.UnsupportedVersion: ticket.ErrUnsupportedVersion,
	vectors.UnknownKey:         ticket.ErrUnknownKey,
	vectors.KeyRevoked:         ticket.ErrKeyRevoked,
	vectors.KeyNotValid:        ticket.ErrKeyNotValid,
	vectors.BadSignature:       ticket.ErrBadSignature,
}

// readVectors returns every vector file, parsed.
func readVectors(tb testing.TB) []vectors.Vector {
	tb.Helper()
	entries, err := os.ReadDir(vectorDir)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vectors.Vector
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(vectorDir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		v, err := vectors.Parse(e.Name(), data)
		if err != nil {
			tb.Fatalf("%s: %v", e.Name(), err)
		}
		vs = append(vs, v)
	}
	return vs
}

// check runs what a gate runs: Parse, then Verify.
func check(tb testing.TB, v vectors.Vector) error {
	t, err := ticket.Parse(string(v.Text))
	if err != nil {
		return err
	}
	if got := t.String(); got != string(v.Text) {
		tb.Errorf("String() = %q, want the parsed text %q", got, v.Text)
	}
	return ticket.NewKeyring(v.Keys...).Verify(t, v.Now)
}

// TestVectors is the one loop over every file in testdata/vectors.
func TestVectors(t *testing.T) {
	seen := map[string]int{}
	for _, v := range readVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want, ok := verdicts[v.Expect]
			if !ok {
				t.Fatalf("unknown expect %q", v.Expect)
			}
			seen[v.Expect]++
			got := check(t, v)
			if want == nil {
				if got != nil {
					t.Fatalf("got %v, want valid (%s)", got, v.Comment)
				}
				return
			}
			if !errors.Is(got, want) {
				t.Fatalf("got %v, want %v (%s)", got, want, v.Comment)
			}
			for name, other := range verdicts {
				if other != nil && other != want && errors.Is(got, other) {
					t.Errorf("error %v also matches %s", got, name)
				}
			}
		})
	}
	for _, e := range vectors.Expects {
		if seen[e] == 0 {
			t.Errorf("no vector expects %s", e)
		}
	}
}

// TestVectorFilesUpToDate proves the files are exactly what the generator
// makes, so a change of format or generator cannot go unnoticed.
func TestVectorFilesUpToDate(t *testing.T) {
	const fix = "run: go generate ./ticket/internal/vectors"
	want := map[string][]byte{}
	for _, v := range vectors.Generate() {
		want[v.Name] = v.Marshal()
	}
	diffs, err := vectorfiles.Diff(vectorDir, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Errorf("%s; %s", d, fix)
	}
}

// TestVectorFileFormat checks that Parse reads back what Marshal writes.
func TestVectorFileFormat(t *testing.T) {
	for _, v := range vectors.Generate() {
		got, err := vectors.Parse(v.Name, v.Marshal())
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got.Expect != v.Expect || got.Comment != v.Comment || !got.Now.Equal(v.Now) ||
			!bytes.Equal(got.Text, v.Text) || len(got.Keys) != len(v.Keys) {
			t.Fatalf("%s: read back %+v, wrote %+v", v.Name, got, v)
		}
		for i, k := range got.Keys {
			w := v.Keys[i]
			if !k.Public.Equal(w.Public) || k.Event != w.Event || !k.NotBefore.Equal(w.NotBefore) ||
				!k.NotAfter.Equal(w.NotAfter) || k.Revoked != w.Revoked {
				t.Fatalf("%s: key %d read back %+v, wrote %+v", v.Name, i, k, w)
			}
		}
	}
	for _, bad := range []string{"", "expect: valid\n", "expect: valid\ncomment: x\n\n", "expect: valid\nexpect: valid\ncomment: x\nnow: 2026-01-01T00:00:00Z\n\n", "bogus: 1\n\n"} {
		if _, err := vectors.Parse("bad", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted a bad file", bad)
		}
	}
}
