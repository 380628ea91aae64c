package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"kido.dev/kido/gate"
)

// result is one decision as printed by scan -json, admit -json and run.
type result struct {
	Decision      string     `json:"decision"` // admit or reject
	Reason        string     `json:"reason"`   // a gate.Reason
	Message       string     `json:"message"`  // what staff are told
	Serial        uint32     `json:"serial"`   // 0 when the text is no ticket
	Tier          uint8      `json:"tier"`
	TierName      string     `json:"tier_name,omitempty"`
	Holder        string     `json:"holder"`
	OrderRef      string     `json:"order_ref,omitempty"`
	Kind          string     `json:"kind,omitempty"` // entry, exit or manual
	Seq           uint64     `json:"seq,omitempty"`  // this gate's sequence number of the recorded passage
	At            time.Time  `json:"at"`             // trusted time of the decision
	FirstAt       *time.Time `json:"first_at,omitempty"`
	FirstGate     uint32     `json:"first_gate,omitempty"`
	FirstGateName string     `json:"first_gate_name,omitempty"`
	Here          bool       `json:"here,omitempty"`        // the first admission was at this gate
	AgoSeconds    *int64     `json:"ago_seconds,omitempty"` // since the first admission
	ReplacedBy    uint32     `json:"replaced_by,omitempty"` // for reason replaced: the new serial
	Detail        string     `json:"detail,omitempty"`
	Error         string     `json:"error,omitempty"` // for reason fault: what is wrong with the replica
}

func newResult(d gate.Decision, err error) result {
	r := result{
		Decision: "reject", Reason: string(d.Reason), Message: d.Message(), Serial: d.Serial, Tier: d.Tier,
		TierName: d.TierName, Holder: d.Holder, OrderRef: d.OrderRef, Kind: d.Kind, Seq: d.Seq, At: d.At.UTC(), Detail: d.Detail,
		ReplacedBy: d.ReplacedBy,
	}
	if d.Admit {
		r.Decision = "admit"
	}
	if err != nil {
		r.Reason, r.Error = string(gate.Fault), err.Error()
		r.Message = gate.Fault.Text() + ": " + firstLine(err.Error())
	}
	if p := d.Prior; p != nil {
		at := p.At.UTC()
		ago := int64(d.Ago / time.Second)
		r.FirstAt, r.FirstGate, r.FirstGateName, r.Here, r.AgoSeconds = &at, p.Gate, d.PriorGateName, d.Here, &ago
	}
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// print writes r as one JSON line or one line of text.
func (r result) print(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	word := "REJECT"
	if r.Decision == "admit" {
		word = "ADMIT "
		if r.Kind == "exit" {
			word = "EXIT  "
		}
	}
	line := word + "  " + r.Message
	if r.Serial != 0 {
		line += fmt.Sprintf("  serial %d", r.Serial)
		if r.TierName != "" {
			line += " " + r.TierName
		}
		if r.Holder != "" {
			line += "  " + r.Holder
		}
	}
	if r.Decision != "admit" {
		line += "  [" + r.Reason + "]"
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
