package qr_test

import (
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

func benchText(b testing.TB) string {
	key, _ := issuer(b)
	return ticket.Sign(key, ticket.Claims{Event: 1001, Serial: 42, Tier: 1}).String()
}

func BenchmarkRender(b *testing.B) {
	text := benchText(b)
	for b.Loop() {
		if _, err := qr.Render(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderLibraryPNG is the baseline Render replaced: go-qrcode's
// own PNG at the same 8 px per module.
func BenchmarkRenderLibraryPNG(b *testing.B) {
	text := benchText(b)
	for b.Loop() {
		c, err := qrcode.New(text, qrcode.Medium)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.PNG(-qr.ModulePixels); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueParallel is kidoctl's bulk issue on every core: sign,
// encode, render. ns/op is wall time per ticket; 100,000 tickets take
// 100,000 × ns/op.
func BenchmarkIssueParallel(b *testing.B) {
	key, _ := issuer(b)
	b.RunParallel(func(pb *testing.PB) {
		c := ticket.Claims{Event: 1001}
		for pb.Next() {
			c.Serial++
			if _, err := qr.Render(ticket.Sign(key, c).String()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecodePNG(b *testing.B) {
	text := benchText(b)
	p := render(b, text)
	for b.Loop() {
		got, err := qr.DecodePNG(p)
		if err != nil || got != text {
			b.Fatal(got, err)
		}
	}
}

func BenchmarkVersion(b *testing.B) {
	text := benchText(b)
	for b.Loop() {
		if _, err := qr.Version(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderGoQRCode is Render with go-qrcode as the encoder, the
// path every ticket took before the table-driven version 5-M encoder and
// any other text still takes.
func BenchmarkRenderGoQRCode(b *testing.B) {
	text := benchText(b)
	for b.Loop() {
		if _, err := qr.RenderGoQRCode(text); err != nil {
			b.Fatal(err)
		}
	}
}
