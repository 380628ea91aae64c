package mesh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

func TestDecodeExchange(t *testing.T) {
	rec := func(gate uint32, seq uint64) string {
		b, err := json.Marshal(record(gate, seq, 7))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	tests := []struct {
		name    string
		body    string
		request bool
		err     string // "" means accepted
	}{
		{name: "empty", body: `{"vector":[],"records":[]}`, request: true},
		{name: "vector and records", body: `{"vector":[{"gate":1,"seq":3},{"gate":2,"seq":1}],"records":[` + rec(1, 4) + `,` + rec(1, 5) + `,` + rec(2, 2) + `]}`, request: true},
		{name: "answer with more", body: `{"vector":[],"records":[],"more":true}`},
		{name: "request with more", body: `{"vector":[],"records":[],"more":true}`, request: true, err: "a request cannot say more"},
		{name: "null", body: `null`, err: "null"},
		{name: "missing records", body: `{"vector":[]}`, err: "vector and records must both be arrays"},
		{name: "unknown key", body: `{"vector":[],"records":[],"extra":1}`, err: "unknown field"},
		{name: "miscased key", body: `{"Vector":[],"records":[]}`, err: `"Vector"`},
		{name: "key twice", body: `{"vector":[],"vector":[],"records":[]}`, err: "given twice"},
		{name: "trailing data", body: `{"vector":[],"records":[]} {}`, err: "data after"},
		{name: "gate 0 in vector", body: `{"vector":[{"gate":0,"seq":1}],"records":[]}`, err: "out of range"},
		{name: "seq 0 in vector", body: `{"vector":[{"gate":1,"seq":0}],"records":[]}`, err: "out of range"},
		{name: "seq over max", body: fmt.Sprintf(`{"vector":[{"gate":1,"seq":%d}],"records":[]}`, uint64(wire.MaxSeq)+1), err: "out of range"},
		{name: "gate over uint32", body: `{"vector":[{"gate":4294967296,"seq":1}],"records":[]}`, err: "cannot unmarshal"},
		{name: "vector not ascending", body: `{"vector":[{"gate":2,"seq":1},{"gate":1,"seq":1}],"records":[]}`, err: "strictly ascending"},
		{name: "vector gate twice", body: `{"vector":[{"gate":1,"seq":1},{"gate":1,"seq":2}],"records":[]}`, err: "strictly ascending"},
		{name: "records not ascending", body: `{"vector":[],"records":[` + rec(1, 5) + `,` + rec(1, 4) + `]}`, err: "strictly ascending (gate, seq)"},
		{name: "record twice", body: `{"vector":[],"records":[` + rec(1, 5) + `,` + rec(1, 5) + `]}`, err: "strictly ascending (gate, seq)"},
		{name: "record of gate 0", body: `{"vector":[],"records":[` + rec(0, 5) + `]}`, err: "out of range"},
		{name: "unknown record key", body: `{"vector":[],"records":[{"gate":1,"seq":1,"serial_":2}]}`, err: "unknown field"},
		{name: "too many records", body: `{"vector":[],"records":[` + many(MaxRecords+1, func(i int) string { return rec(1, uint64(i+1)) }) + `]}`, err: "at most 128"},
		{name: "too long vector", body: `{"vector":[` + many(MaxVector+1, func(i int) string { return fmt.Sprintf(`{"gate":%d,"seq":1}`, i+1) }) + `],"records":[]}`, err: "at most 4096"},
		{name: "too large", body: `{"vector":[],"records":[],"x":"` + strings.Repeat("a", MaxBody) + `"}`, err: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := DecodeExchange(strings.NewReader(tt.body), tt.request)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err != "" && err == nil:
				t.Fatalf("accepted %+v, want an error with %q", x, tt.err)
			case tt.err != "" && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %q, want ErrMalformed with %q", err, tt.err)
			}
		})
	}
}

// What a node encodes, its peer decodes to the same value; what it would
// have to refuse, it does not send.
func TestEncodeExchange(t *testing.T) {
	x := &Exchange{Vector: VectorOf(map[uint32]uint64{3: 9, 1: 4, 2: 0}), Records: []kido.Admission{record(1, 5, 8), record(3, 10, 9)}, More: true}
	b, err := x.encode(false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeExchange(bytes.NewReader(b), false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("decoded %+v, want %+v", got, x)
	}
	if want := []Entry{{1, 4}, {3, 9}}; !reflect.DeepEqual(x.Vector, want) {
		t.Errorf("VectorOf = %v, want %v", x.Vector, want)
	}
	if _, err := x.encode(true); err == nil {
		t.Error("a request saying more was encoded")
	}
	bad := &Exchange{Records: []kido.Admission{record(1, 5, 8), record(1, 5, 8)}}
	if _, err := bad.encode(true); err == nil {
		t.Error("a record given twice was encoded")
	}
}

// FuzzDecodeExchange: the decoder never panics, and what it accepts is
// within the limits, encodes to what it accepts, and encodes the same
// after another decoding.
func FuzzDecodeExchange(f *testing.F) {
	rec, _ := json.Marshal(record(1, 4, 7))
	for _, s := range []string{
		`{"vector":[],"records":[]}`,
		`{"vector":[{"gate":1,"seq":3},{"gate":2,"seq":1}],"records":[` + string(rec) + `],"more":true}`,
		`{"vector":[{"gate":1,"seq":3}],"records":[],"more":false}`,
		`{"vector":[{"gate":1,"seq":3}],"vector":[],"records":[]}`,
		`null`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, request bool) {
		x, err := DecodeExchange(bytes.NewReader(b), request)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(x.Records) > MaxRecords || len(x.Vector) > MaxVector {
			t.Fatalf("accepted %d records, %d vector entries", len(x.Records), len(x.Vector))
		}
		again, err := x.encode(request)
		if err != nil {
			t.Fatalf("accepted but cannot encode: %v", err)
		}
		y, err := DecodeExchange(bytes.NewReader(again), request)
		if err != nil {
			t.Fatalf("re-encoded form refused: %v\n%s", err, again)
		}
		third, err := y.encode(request)
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable (%v):\n%s\n%s", err, again, third)
		}
	})
}

func TestParseClaim(t *testing.T) {
	key := newGateKey(t, 7, 3)
	cert, err := certificate(7, 3, key.priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseClaim(cert.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	if c.event != 7 || c.gate != 3 || !c.key.Equal(key.priv.Public()) {
		t.Errorf("claim = event %d gate %d, want 7, 3 and the gate's key", c.event, c.gate)
	}
	if _, err := parseClaim(append(cert.Certificate, cert.Certificate[0])); !errors.Is(err, ErrRefusedPeer) {
		t.Errorf("two certificates: %v, want ErrRefusedPeer", err)
	}
	if _, err := parseClaim([][]byte{[]byte("junk")}); !errors.Is(err, ErrRefusedPeer) {
		t.Errorf("junk: %v, want ErrRefusedPeer", err)
	}
	for _, s := range []string{"7/3", "07/3", "7/03", "7", "7/3/1", "0/3", "7/0", "7/4294967296", "+7/3", "7/-3", ""} {
		ev, g, ok := strings.Cut(s, "/")
		e1, err1 := parseID(ev)
		e2, err2 := parseID(g)
		valid := ok && err1 == nil && err2 == nil
		if want := s == "7/3"; valid != want {
			t.Errorf("%q: valid = %v (%d, %d), want %v", s, valid, e1, e2, want)
		}
	}
}
