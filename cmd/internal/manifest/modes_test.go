package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"kido.dev/kido/sync/wire"
)

// TestPrivateModes: the manifest and the ticket images hold holders'
// names and valid tickets: they are written 0600, also over an image that
// existed with a looser mode.
func TestPrivateModes(t *testing.T) {
	dir := t.TempDir()
	tk := wire.IssuedTicket{Serial: 7, Tier: 1, Holder: "山田 太郎", Text: "0100"}
	img := filepath.Join(dir, ImageName(2, 7))
	if err := os.WriteFile(img, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteImage(dir, 2, &tk); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, Issued)
	if err := Write(path, 2, []wire.IssuedTicket{tk}, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{img, path} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600", p, err)
		}
	}
}
