package manifest

import (
	"os"
	"path/filepath"
	"strings"
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

// TestReadBack: what Write wrote, Read gives back, holders that had to be
// neutralised included.
func TestReadBack(t *testing.T) {
	tickets := []wire.IssuedTicket{
		{Serial: 7, Tier: 1, Holder: "Smith, Jo", OrderRef: "A-1", Text: "0100", Replaces: 3},
		{Serial: 9, Tier: 1, Holder: `=HYPERLINK("http://x","y")`, OrderRef: "'quoted", Text: "0102", Replaces: 4},
	}
	for _, replaces := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), Issued)
		if err := Write(path, 2, tickets, nil, replaces); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			want := tickets[i]
			want.Tier = 0
			if !replaces {
				want.Replaces = 0
			}
			if g != want {
				t.Errorf("replaces %v: row %d = %+v, want %+v", replaces, i, g, want)
			}
		}
	}
}

func TestReadRejects(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "EOF"},
		{"name,email\n", "header is"},
		{"serial,holder,tier,order_ref,text,image\nx,a,b,c,d,e\n", "line 2: serial \"x\""},
		{"serial,holder,tier,order_ref,text,image,replaces\n1,a,b,c,d,e,-1\n", "line 2: replaces"},
		{"serial,holder,tier,order_ref,text,image\n1,a\n", "wrong number of fields"},
	} {
		_, err := Read(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Read(%q) = %v, want an error with %q", c.in, err, c.want)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add("serial,holder,tier,order_ref,text,image\n1,'=a,b,c,d,e\n")
	f.Add("serial,holder,tier,order_ref,text,image,replaces\n1,a,b,c,d,e,2\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Read(strings.NewReader(in))
		if err != nil {
			return
		}
		// What was read writes back and reads back the same.
		path := filepath.Join(t.TempDir(), Issued)
		if err := Write(path, 1, got, nil, true); err != nil {
			return // csv refuses what it cannot write (invalid UTF-8)
		}
		b, _ := os.ReadFile(path)
		again, err := Read(strings.NewReader(string(b)))
		if err != nil || len(again) != len(got) {
			t.Fatalf("read back %d rows, %v; want %d", len(again), err, len(got))
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("row %d: %+v became %+v", i, got[i], again[i])
			}
		}
	})
}
