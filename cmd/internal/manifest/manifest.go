// Package manifest writes what issuing tickets leaves in a directory, for
// kidoctl issue and reissue and kido-server -demo alike: one QR code image
// per ticket, named by ImageName, and a CSV manifest with the header
//
//	serial,holder,tier,order_ref,text,image[,replaces]
//
// where text is exactly what the QR code holds. Cells go through
// internal/safecsv, so a holder named =HYPERLINK(...) opens in a spreadsheet
// as text. The manifest is written
// atomically: it appears whole or not at all, so its presence means every
// image beside it was written first.
package manifest

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/internal/safecsv"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket/qr"
)

// Manifest file names.
const (
	Issued   = "manifest.csv" // kidoctl issue, kido-server -demo
	Reissued = "reissue.csv"  // kidoctl reissue, with the replaces column
)

// ImageName is the PNG file name of a ticket.
func ImageName(event, serial uint32) string {
	return fmt.Sprintf("e%d-%08d.png", event, serial)
}

// WriteImage writes the QR code of t as a PNG named ImageName in dir.
func WriteImage(dir string, event uint32, t *wire.IssuedTicket) error {
	png, err := qr.Render(t.Text)
	if err != nil {
		return fmt.Errorf("render serial %d: %w", t.Serial, err)
	}
	if err := privfile.WriteFile(filepath.Join(dir, ImageName(event, t.Serial)), png); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	return nil
}

// Write writes the manifest of tickets at path, naming each tier by
// tierNames (its number when the map has no name for it). withReplaces
// adds the replaces column of a reissue.
func Write(path string, event uint32, tickets []wire.IssuedTicket, tierNames map[uint8]string, withReplaces bool) error {
	err := atomicfile.WriteFile(path, privfile.Mode, func(w io.Writer) error {
		cw := safecsv.NewWriter(w)
		header := []string{"serial", "holder", "tier", "order_ref", "text", "image"}
		if withReplaces {
			header = append(header, "replaces")
		}
		cw.Write(header)
		for _, t := range tickets {
			tier, ok := tierNames[t.Tier]
			if !ok {
				tier = strconv.Itoa(int(t.Tier))
			}
			row := []string{strconv.FormatUint(uint64(t.Serial), 10), t.Holder, tier, t.OrderRef, t.Text, ImageName(event, t.Serial)}
			if withReplaces {
				row = append(row, strconv.FormatUint(uint64(t.Replaces), 10))
			}
			cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// Printable ticket file names: one PDF per ticket beside its image, and one
// PDF of every ticket of the manifest for printing in bulk.
const (
	IssuedPDF   = "tickets.pdf" // beside manifest.csv
	ReissuedPDF = "reissue.pdf" // beside reissue.csv
)

// PDFName is the file name of a ticket's printable PDF.
func PDFName(event, serial uint32) string {
	return fmt.Sprintf("e%d-%08d.pdf", event, serial)
}

// Read reads back a manifest that Write wrote, for re-rendering: each row's
// serial, holder, order reference, text and (in a reissue manifest)
// replaces. The tier is left to the caller, who takes it from the ticket
// text rather than from the name in the file.
func Read(r io.Reader) ([]wire.IssuedTicket, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	want := []string{"serial", "holder", "tier", "order_ref", "text", "image"}
	withReplaces := len(head) == len(want)+1
	if withReplaces {
		want = append(want, "replaces")
	}
	if !slices.Equal(head, want) {
		return nil, fmt.Errorf("manifest: header is %q, want %q\nhint: give the manifest.csv or reissue.csv that kidoctl issue or reissue wrote", strings.Join(head, ","), strings.Join(want, ","))
	}
	var out []wire.IssuedTicket
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = safecsv.Uncell(rec[i])
		}
		serial, err := strconv.ParseUint(rec[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("manifest: line %d: serial %q is not a number", line, rec[0])
		}
		t := wire.IssuedTicket{Serial: uint32(serial), Holder: rec[1], OrderRef: rec[3], Text: rec[4]}
		if withReplaces {
			rep, err := strconv.ParseUint(rec[6], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("manifest: line %d: replaces %q is not a number", line, rec[6])
			}
			t.Replaces = uint32(rep)
		}
		out = append(out, t)
	}
}
