package mesh

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// Limits of one exchange (docs/mesh.md, "Messages"). A record that a gate
// can sign (a ticket text of 188 digits, a staff reason of at most
// kido.MaxReason bytes) encodes in well under 2 KiB, so MaxRecords of them
// fit in MaxBody several times over.
const (
	MaxRecords = 128     // records in one exchange, either way
	MaxVector  = 4096    // origin gates in one version vector
	MaxBody    = 1 << 20 // bytes of one exchange body, either way
)

// ExchangePath is the one HTTP resource of a node: POST an Exchange, get
// one back.
const ExchangePath = "/kido-mesh/v1/exchange"

// Entry is one origin gate's entry in a version vector: the gate holds
// every signed record of Gate with seq 1..Seq.
type Entry struct {
	Gate uint32 `json:"gate"`
	Seq  uint64 `json:"seq"`
}

// Exchange is both the request and the answer of one round: the sender's
// version vector, and records the sender believes the receiver lacks.
// More, in an answer only, says the answer was cut at MaxRecords and the
// receiver of it lacks more.
type Exchange struct {
	Vector  []Entry          `json:"vector"`
	Records []kido.Admission `json:"records"`
	More    bool             `json:"more,omitempty"`
}

// ErrMalformed is the verdict on an exchange body that is not one
// well-formed Exchange within the limits.
var ErrMalformed = errors.New("mesh: malformed exchange")

// DecodeExchange reads one Exchange of at most MaxBody bytes with the
// protocol's strict JSON decoder (wire.Decode: no unknown, repeated or
// miscased keys) and checks it: vector entries in strictly ascending gate
// order with seqs in 1..wire.MaxSeq, at most MaxVector of them; at most
// MaxRecords records in strictly ascending (gate, seq) order, each with a
// gate and a seq in range. Whether a record is true is the Store's
// question (MeshLearn), not the decoder's. request says whether this is a
// request, which cannot say More. Errors wrap ErrMalformed.
func DecodeExchange(r io.Reader, request bool) (*Exchange, error) {
	var x Exchange
	if err := wire.Decode(r, &x, MaxBody); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := x.check(request); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &x, nil
}

func (x *Exchange) check(request bool) error {
	if x.Vector == nil || x.Records == nil {
		return errors.New("vector and records must both be arrays")
	}
	if len(x.Vector) > MaxVector {
		return fmt.Errorf("%d vector entries, at most %d", len(x.Vector), MaxVector)
	}
	for i, e := range x.Vector {
		if e.Gate == 0 || e.Seq == 0 || e.Seq > wire.MaxSeq {
			return fmt.Errorf("vector entry %d: gate %d seq %d out of range", i, e.Gate, e.Seq)
		}
		if i > 0 && e.Gate <= x.Vector[i-1].Gate {
			return fmt.Errorf("vector entry %d: gate %d after %d: gates must be strictly ascending", i, e.Gate, x.Vector[i-1].Gate)
		}
	}
	if len(x.Records) > MaxRecords {
		return fmt.Errorf("%d records, at most %d", len(x.Records), MaxRecords)
	}
	for i, a := range x.Records {
		if a.Gate == 0 || a.Seq == 0 || a.Seq > wire.MaxSeq {
			return fmt.Errorf("record %d: gate %d seq %d out of range", i, a.Gate, a.Seq)
		}
		if i > 0 {
			p := x.Records[i-1]
			if a.Gate < p.Gate || a.Gate == p.Gate && a.Seq <= p.Seq {
				return fmt.Errorf("record %d: (gate %d, seq %d) after (%d, %d): records must be in strictly ascending (gate, seq) order", i, a.Gate, a.Seq, p.Gate, p.Seq)
			}
		}
	}
	if request && x.More {
		return errors.New("a request cannot say more")
	}
	return nil
}

// encode writes x as JSON, refusing what DecodeExchange would refuse, so
// that a node never sends what its peer must drop.
func (x *Exchange) encode(request bool) ([]byte, error) {
	if x.Vector == nil {
		x.Vector = []Entry{}
	}
	if x.Records == nil {
		x.Records = []kido.Admission{}
	}
	if err := x.check(request); err != nil {
		return nil, fmt.Errorf("mesh: encode exchange: %w", err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("mesh: encode exchange: %w", err)
	}
	if len(b) > MaxBody {
		return nil, fmt.Errorf("mesh: encode exchange: %d bytes, at most %d", len(b), MaxBody)
	}
	return b, nil
}

// VectorOf returns v as vector entries in ascending gate order, without
// zero entries.
func VectorOf(v map[uint32]uint64) []Entry {
	out := make([]Entry, 0, len(v))
	for g, s := range v {
		if g != 0 && s != 0 {
			out = append(out, Entry{Gate: g, Seq: s})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.Gate, b.Gate) })
	return out
}

// vectorMap is the inverse of VectorOf.
func vectorMap(es []Entry) map[uint32]uint64 {
	m := make(map[uint32]uint64, len(es))
	for _, e := range es {
		m[e.Gate] = e.Seq
	}
	return m
}
