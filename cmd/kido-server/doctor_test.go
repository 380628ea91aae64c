package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/internal/testcert"
)

// writeCert writes a self-signed certificate for kido.example.jp and
// 127.0.0.1 valid until na and its key, and returns their paths.
func writeCert(t *testing.T, na time.Time) (certFile, keyFile string) {
	t.Helper()
	c, _ := testcert.New(t, []string{"kido.example.jp"}, []net.IP{net.IPv4(127, 0, 0, 1)}, na.Add(-90*24*time.Hour), na)
	return testcert.WriteFiles(t, c)
}

// TestDoctor runs kido-server doctor on the data directory of a running
// server, healthy and then against each fault it names.
func TestDoctor(t *testing.T) {
	bin := buildTools(t)
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, bin, data)
	now := time.Now()
	okCert, okKey := writeCert(t, now.Add(90*24*time.Hour))
	oldCert, oldKey := writeCert(t, now.Add(-24*time.Hour))
	otherKey := filepath.Join(t.TempDir(), "other.key")
	os.WriteFile(otherKey, []byte(hex.EncodeToString(make([]byte, 32))+"\n"), 0o600)
	openKey := filepath.Join(t.TempDir(), "open.key")
	b, _ := os.ReadFile(filepath.Join(data, "master.key"))
	os.WriteFile(openKey, b, 0o644)
	os.Chmod(openKey, 0o644)

	base := doctorEnv{now: time.Now, write: doctor.WriteProbe, free: func(string) (int64, error) { return 50 << 30, nil }}
	type want struct {
		check  string
		status doctor.Status
		detail string
		fix    string
	}
	tests := []struct {
		name string
		env  func(*doctorEnv)
		args []string
		want []want
	}{
		{name: "healthy with TLS", args: []string{"-tls-cert", okCert, "-tls-key", okKey}, want: []want{
			{"files", doctor.OK, "master key", ""}, {"tls", doctor.OK, "matches its key", ""}, {"disk", doctor.OK, "writable", ""},
			{"database", doctor.OK, "integrity ok, a write committed", ""}, {"keys", doctor.OK, "opens the identity key", ""},
			{"server", doctor.OK, srv.url + ", version", ""}}},
		{name: "expired certificate", args: []string{"-tls-cert", oldCert, "-tls-key", oldKey}, want: []want{
			{"tls", doctor.Fail, "expired at", "renew the certificate"}}},
		{name: "certificate expires in 10 days", args: []string{"-tls-cert", okCert, "-tls-key", okKey},
			env:  func(e *doctorEnv) { e.now = func() time.Time { return time.Now().Add(80 * 24 * time.Hour) } },
			want: []want{{"tls", doctor.Warn, "expires in 2", "renew"}}},
		{name: "certificate and key do not match", args: []string{"-tls-cert", okCert, "-tls-key", oldKey}, want: []want{
			{"tls", doctor.Fail, "private key does not match public key", "belongs to it"}}},
		{name: "disk full", env: func(e *doctorEnv) {
			e.write = func(string) error { return &os.PathError{Op: "write", Path: ".doctor-1", Err: syscall.ENOSPC} }
		}, want: []want{{"disk", doctor.Fail, "no space left on device", "the disk is full"}}},
		{name: "master key readable by others", args: []string{"-master-key", openKey}, want: []want{
			{"files", doctor.Fail, "readable by others (mode 0644)", "chmod 600"}, {"disk", doctor.Skip, "", ""}, {"keys", doctor.Skip, "", ""}}},
		{name: "another master key", args: []string{"-master-key", otherKey}, want: []want{
			{"keys", doctor.Fail, "does not open the server's keys", "master key this database was made with"}}},
	}
	run := func(t *testing.T, env doctorEnv, args []string) (doctor.Report, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := doctorWith(context.Background(), env, append([]string{"-data", data, "-json"}, args...), func(string) string { return "" }, &out, &errOut)
		var rep doctor.Report
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("doctor -json: %v\n%s%s", jerr, out.String(), errOut.String())
		}
		return rep, err
	}
	check := func(t *testing.T, rep doctor.Report, err error, wants []want) {
		t.Helper()
		failed := false
		for _, w := range wants {
			var got *doctor.Result
			for i := range rep.Results {
				if rep.Results[i].Check == w.check {
					got = &rep.Results[i]
				}
			}
			if got == nil || got.Status != w.status || !strings.Contains(got.Detail, w.detail) || !strings.Contains(got.Fix, w.fix) {
				t.Errorf("check %s: %+v; want %s with %q, fix %q\nreport: %+v", w.check, got, w.status, w.detail, w.fix, rep.Results)
			}
			failed = failed || w.status == doctor.Fail
		}
		if (err != nil) != failed || rep.OK == failed {
			t.Errorf("doctor returned %v, ok=%v; want failure %v", err, rep.OK, failed)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := base
			if tt.env != nil {
				tt.env(&env)
			}
			rep, err := run(t, env, tt.args)
			check(t, rep, err, tt.want)
		})
	}
	t.Run("server down", func(t *testing.T) {
		srv.stop(t, os.Interrupt)
		rep, err := run(t, base, nil)
		check(t, rep, err, []want{{"database", doctor.OK, "", ""}, {"server", doctor.Fail, "no kido-server runs on " + data, "start it"}})
	})
}
