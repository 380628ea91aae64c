package vectorfiles

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteThenDiff(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stale"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	if err := Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if d, err := Diff(dir, files); err != nil || len(d) != 0 {
		t.Fatalf("after Write: %q, %v", d, err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("changed"), 0o644)
	os.WriteFile(filepath.Join(dir, "extra"), nil, 0o644)
	os.Remove(filepath.Join(dir, "b"))
	d, err := Diff(dir, files)
	want := []string{"a differs from the generator's output", "extra is not made by the generator", "b is missing"}
	if err != nil || !slices.Equal(d, want) {
		t.Errorf("got %q, %v; want %q", d, err, want)
	}
}

func TestSplit(t *testing.T) {
	fields, body, err := Split([]byte("expect: ok\nkey: a\nkey: b\n\nbody\n\nmore"), "key")
	want := []Field{{"expect", "ok"}, {"key", "a"}, {"key", "b"}}
	if err != nil || !slices.Equal(fields, want) || string(body) != "body\n\nmore" {
		t.Fatalf("got %q, %q, %v", fields, body, err)
	}
	for _, bad := range []string{"expect: ok\n", "expect ok\n\nbody", "expect: a\nexpect: b\n\nbody"} {
		if _, _, err := Split([]byte(bad)); err == nil {
			t.Errorf("Split(%q) accepted", bad)
		}
	}
}
