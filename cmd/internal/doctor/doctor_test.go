package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestReport(t *testing.T) {
	var r Report
	r.Add("files", OK, "/data: mode 0700", "")
	r.Add("tcp", Fail, "connect: connection refused\nhint: start it", "start kido-server")
	r.Add("auth", Skip, "needs tcp", "")
	var text bytes.Buffer
	if err := r.Write(&text, false); err != nil {
		t.Fatal(err)
	}
	want := "OK   files  /data: mode 0700\n" +
		"FAIL tcp    connect: connection refused; hint: start it; do: start kido-server\n" +
		"SKIP auth   needs tcp\n"
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	var js bytes.Buffer
	r.Write(&js, true)
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.OK || len(back.Results) != 3 || back.Results[1].Fix != "start kido-server" {
		t.Errorf("json %s: %+v, %v", js.String(), back, err)
	}
	if err := r.Summary(); err == nil || err.Error() != "doctor: 1 of 3 checks failed" {
		t.Errorf("Summary() = %v", err)
	}
	if !r.Passed("files") || r.Passed("tcp") || r.Passed("auth") || r.Passed("nothing") {
		t.Error("Passed is wrong")
	}
}

func TestDisk(t *testing.T) {
	dir := t.TempDir()
	full := func(string) error { return &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC} }
	for _, c := range []struct {
		name  string
		write func(string) error
		free  func(string) (int64, error)
		want  Status
		fix   string
	}{
		{"room", WriteProbe, func(string) (int64, error) { return 2 << 30, nil }, OK, ""},
		{"under 1 GiB", WriteProbe, func(string) (int64, error) { return 500 << 20, nil }, Warn, "free space"},
		{"under the minimum", WriteProbe, func(string) (int64, error) { return 10 << 20, nil }, Fail, "free space"},
		{"full", full, nil, Fail, "the disk is full"},
		{"statfs fails", WriteProbe, func(string) (int64, error) { return 0, errors.New("statfs: boom") }, Fail, "file system"},
	} {
		var r Report
		r.Disk(dir, 64<<20, c.write, c.free)
		if got := r.Results[0]; got.Status != c.want || !strings.Contains(got.Fix, c.fix) {
			t.Errorf("%s: %+v, want %s with fix %q", c.name, got, c.want, c.fix)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the write probe left %v", left)
	}
	if n, err := FreeSpace(dir); err != nil || n <= 0 {
		t.Errorf("FreeSpace = %d, %v", n, err)
	}
}
