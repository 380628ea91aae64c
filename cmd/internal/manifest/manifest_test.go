package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"kido.dev/kido/sync/wire"
)

func TestWrite(t *testing.T) {
	tickets := []wire.IssuedTicket{
		{Serial: 7, Tier: 1, Holder: "Smith, Jo", OrderRef: "A-1", Text: "0100", Replaces: 3},
		{Serial: 8, Tier: 9, Holder: "山田 太郎", Text: "0101"},
		{Serial: 9, Tier: 1, Holder: `=HYPERLINK("http://x","y")`, OrderRef: "@SUM(A1)", Text: "0102"},
	}
	for _, c := range []struct {
		name     string
		replaces bool
		want     string
	}{
		{"issued", false, "serial,holder,tier,order_ref,text,image\n" +
			"7,\"Smith, Jo\",VIP,A-1,0100,e2-00000007.png\n" +
			"8,山田 太郎,9,,0101,e2-00000008.png\n" +
			"9,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",VIP,'@SUM(A1),0102,e2-00000009.png\n"},
		{"reissued", true, "serial,holder,tier,order_ref,text,image,replaces\n" +
			"7,\"Smith, Jo\",VIP,A-1,0100,e2-00000007.png,3\n" +
			"8,山田 太郎,9,,0101,e2-00000008.png,0\n" +
			"9,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",VIP,'@SUM(A1),0102,e2-00000009.png,0\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, Issued)
			if err := Write(path, 2, tickets, map[uint8]string{1: "VIP"}, c.replaces); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != c.want {
				t.Errorf("got %q, %v\nwant %q", got, err, c.want)
			}
			if es, _ := os.ReadDir(dir); len(es) != 1 {
				t.Errorf("directory holds %d files, want the manifest only", len(es))
			}
		})
	}
}
