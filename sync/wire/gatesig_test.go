package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"kido.dev/kido"
)

// TestAdmissionSigVectors runs the vectors in testdata/admissionsig: each
// file has header lines ("expect:" ok, unsigned or bad_signature; "pub:"
// the gate key in hex), a blank line, then the record as JSON with its
// sig. The signatures were made independently of this package, with
// Python's cryptography, from the layout in docs/mesh.md.
func TestAdmissionSigVectors(t *testing.T) {
	verdicts := map[string]error{"ok": nil, "unsigned": ErrUnsignedRecord, "bad_signature": ErrBadRecordSig}
	files, err := filepath.Glob("testdata/admissionsig/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			hdr, body := readVector(t, f)
			want, ok := verdicts[hdr["expect"]]
			if !ok {
				t.Fatalf("unknown expectation %q", hdr["expect"])
			}
			seen[hdr["expect"]] = true
			pub, err := hex.DecodeString(hdr["pub"])
			if err != nil {
				t.Fatal(err)
			}
			var a kido.Admission
			if err := Decode(strings.NewReader(body), &a, MaxUploadBody); err != nil {
				t.Fatal(err)
			}
			if got := VerifyAdmission(pub, a); !errors.Is(got, want) || (want == nil) != (got == nil) {
				t.Errorf("VerifyAdmission = %v, want %v (%s)", got, want, hdr["comment"])
			}
			if want == nil {
				// Signing is deterministic: SignAdmission gives the same bytes.
				seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
				if s := SignAdmission(ed25519.NewKeyFromSeed(seed), a); !bytes.Equal(s.Sig, a.Sig) || s.Hash != a.Hash {
					t.Errorf("SignAdmission gives sig %x, the vector %x", s.Sig, a.Sig)
				}
			}
		})
	}
	for e := range verdicts {
		if !seen[e] {
			t.Errorf("no vector expects %s", e)
		}
	}
}

// Every field of a signed record is covered by its signature, and a
// signature does not survive a wrong-size key or a truncation.
func TestVerifyAdmissionCoversEveryField(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	a := SignAdmission(key, sampleAdmission(5))
	if err := VerifyAdmission(pub, a); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*kido.Admission){
		"gate":      func(a *kido.Admission) { a.Gate++ },
		"seq":       func(a *kido.Admission) { a.Seq++ },
		"serial":    func(a *kido.Admission) { a.Serial++ },
		"tier":      func(a *kido.Admission) { a.Tier++ },
		"kind":      func(a *kido.Admission) { a.Kind = kido.KindExit },
		"at":        func(a *kido.Admission) { a.At = a.At.Add(1) },
		"corrected": func(a *kido.Admission) { a.Corrected = a.Corrected.Add(1) },
		"text":      func(a *kido.Admission) { a.Text += "0" },
		"reason":    func(a *kido.Admission) { a.Reason = "x" },
		"sig cut":   func(a *kido.Admission) { a.Sig = a.Sig[:63] },
		"sig bit":   func(a *kido.Admission) { a.Sig = append([]byte(nil), a.Sig...); a.Sig[0] ^= 1 },
	} {
		b := a
		change(&b)
		b.Hash = AdmissionHash(b) // an attacker recomputes the hash; only the key can sign it
		if err := VerifyAdmission(pub, b); !errors.Is(err, ErrBadRecordSig) {
			t.Errorf("%s changed: %v, want ErrBadRecordSig", name, err)
		}
	}
	stale := a
	stale.Serial++
	if err := VerifyAdmission(pub, stale); !errors.Is(err, ErrBadRecordSig) {
		t.Errorf("content changed, hash kept: %v", err)
	}
	if err := VerifyAdmission(pub[:31], a); !errors.Is(err, ErrBadRecordSig) {
		t.Errorf("short key: %v", err)
	}
}

func TestCheckMeshAddr(t *testing.T) {
	for _, ok := range []string{"192.168.1.20:7421", "[fe80::1]:7421", "[::1]:1", "gate-3.local:65535", "a:80"} {
		if err := CheckMeshAddr(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "192.168.1.20", ":7421", "192.168.1.20:0", "192.168.1.20:65536", "192.168.1.20:07421",
		"192.168.1.20:+80", "http://192.168.1.20:7421", "gate 3:7421", "::1:7421", "[fe80::1%eth0]:7421",
		"-gate:80", "gate-.local:80", "a..b:80", "user@host:80", "host:80/path", "host:80\n",
		strings.Repeat("a", 64) + ":80", strings.Repeat("a.", 130) + "a:80", "[192.168.1.20]:80",
	} {
		if err := CheckMeshAddr(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHeartbeatMesh(t *testing.T) {
	h := http.Header{}
	Heartbeat{Pending: -1, Free: -1, Mesh: "10.0.0.7:7421"}.SetHeaders(h)
	if got, err := ParseHeartbeat(h); err != nil || got.Mesh != "10.0.0.7:7421" {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	for _, bad := range [][]string{{"junk"}, {"10.0.0.7:7421", "10.0.0.8:7421"}, {"10.0.0.7:7421 "}} {
		h := http.Header{HeaderGateMesh: bad}
		if _, err := ParseHeartbeat(h); !errors.Is(err, ErrBadHeartbeat) {
			t.Errorf("%q: %v, want ErrBadHeartbeat", bad, err)
		}
	}
}

// FuzzCheckMeshAddr: what it accepts is host:port as net.JoinHostPort
// writes it, with nothing a dialler would read otherwise.
func FuzzCheckMeshAddr(f *testing.F) {
	for _, s := range []string{"192.168.1.20:7421", "[::1]:80", "gate.local:1", "x:0", "[fe80::1%25eth0]:80", "a b:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckMeshAddr(s) != nil {
			return
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "" || strings.ContainsAny(s, " /@%\x00\n\r\t") {
			t.Fatalf("%q accepted", s)
		}
	})
}
