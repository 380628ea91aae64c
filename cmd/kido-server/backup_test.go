package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupAndRestoreRefuse: mistakes are refused with a hint and change
// nothing in the data directory.
func TestBackupAndRestoreRefuse(t *testing.T) {
	data := t.TempDir()
	db := filepath.Join(data, dbName)
	if err := os.WriteFile(db, []byte("the live database"), 0o600); err != nil {
		t.Fatal(err)
	}
	notACopy := filepath.Join(t.TempDir(), "copy.db")
	os.WriteFile(notACopy, []byte("a torn copy, not a database"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "-data", data}, "-to FILE is missing\nhint: "},
		{[]string{"backup", "-data", data, "-to", "x.db", "extra"}, `unexpected argument "extra"`},
		{[]string{"restore", "-data", data}, "-from FILE is missing\nhint: "},
		{[]string{"restore", "-data", data, "-from", notACopy}, "restore: sqlite: "},
		{[]string{"restore", "-data", data, "-from", filepath.Join(data, "missing.db")}, "no such file"},
		{[]string{"backup", "-data", data, "-db", "postgres://kido@127.0.0.1/kido", "-to", "x.db"}, "pg_dump"},
		{[]string{"restore", "-data", data, "-db", "postgres://kido@127.0.0.1/kido", "-from", notACopy}, "pg_dump"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, func(string) string { return "" }, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kido-server %s: %v, want an error with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if b, _ := os.ReadFile(db); string(b) != "the live database" {
		t.Errorf("the database was changed: %q", b)
	}
	if names, _ := filepath.Glob(filepath.Join(data, dbName+".*")); len(names) > 0 {
		t.Errorf("files left beside the database: %v", names)
	}
}
