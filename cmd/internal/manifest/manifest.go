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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"kido.dev/kido/internal/atomicfile"
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
	if err := os.WriteFile(filepath.Join(dir, ImageName(event, t.Serial)), png, 0o644); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	return nil
}

// Write writes the manifest of tickets at path, naming each tier by
// tierNames (its number when the map has no name for it). withReplaces
// adds the replaces column of a reissue.
func Write(path string, event uint32, tickets []wire.IssuedTicket, tierNames map[uint8]string, withReplaces bool) error {
	err := atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
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
