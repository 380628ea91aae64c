package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/internal/testcert"
)

// tlsServer serves h over TLS with cert on loopback and returns its URL.
func tlsServer(t *testing.T, h http.Handler, cert tls.Certificate) string {
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL
}

// freePort returns a loopback address where nothing listens.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func plenty(string) (int64, error) { return 50 << 30, nil }

// syncedGate enrols the kido-gate binary as gate "North 1" of ls and
// syncs it once; it returns the gate's data directory.
func syncedGate(t *testing.T, ls *liveServer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gate")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", ls.gateCode(t, "North 1"), "-data", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if out, err := gateCmd(t, "sync", "-data", dir); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	return dir
}

// TestDoctor runs kido-gate doctor on an enrolled, synced gate, healthy
// and then against each fault it names: each fault is named by the check
// that finds it, FAIL, with what to do, and the doctor fails.
func TestDoctor(t *testing.T) {
	ls := startServer(t, 3)
	dir := syncedGate(t, ls)
	now := time.Now()
	good, goodPool := testcert.New(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	goodTLS := tlsServer(t, ls.srv.Core.Handler(), good)
	other, otherPool := testcert.New(t, []string{"kido.example.jp"}, nil, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	wrongName := tlsServer(t, ls.srv.Core.Handler(), other)
	old, oldPool := testcert.New(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)}, now.Add(-90*24*time.Hour), now.Add(-24*time.Hour))
	expired := tlsServer(t, ls.srv.Core.Handler(), old)
	notKido := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notKido.Close)

	badCred := t.TempDir()
	for _, f := range []string{gatedir.ReplicaFile} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(badCred, f), b, 0o600)
	}
	if err := gatedir.WriteCredential(badCred, "kido_NOTAGATECREDENTIAL"); err != nil {
		t.Fatal(err)
	}

	base := doctorEnv{now: time.Now, write: doctor.WriteProbe, free: plenty}
	tests := []struct {
		name   string
		env    func(*doctorEnv)
		args   []string
		check  string
		status doctor.Status
		detail string // in the check's detail
		fix    string // in its fix
	}{
		{name: "healthy over plain HTTP", check: "clock", status: doctor.OK, detail: "this device's clock is"},
		{name: "healthy over TLS", env: func(e *doctorEnv) { e.roots = goodPool }, args: []string{"-server", goodTLS},
			check: "tls", status: doctor.OK, detail: "chain trusted"},
		{name: "server down", args: []string{"-server", "http://" + freePort(t)},
			check: "tcp", status: doctor.Fail, detail: "connection refused", fix: "start kido-server"},
		{name: "wrong port", args: []string{"-server", notKido.URL},
			check: "server", status: doctor.Fail, detail: "404 Not Found to GET /v1/health, not as a kido server", fix: "correct the port"},
		{name: "TLS name mismatch", env: func(e *doctorEnv) { e.roots = otherPool }, args: []string{"-server", wrongName},
			check: "tls", status: doctor.Fail, detail: "not for 127.0.0.1 (it names [kido.example.jp])", fix: "host name the certificate names"},
		{name: "expired certificate", env: func(e *doctorEnv) { e.roots = oldPool }, args: []string{"-server", expired},
			check: "tls", status: doctor.Fail, detail: "certificate expired at " + old.Leaf.NotAfter.UTC().Format(time.RFC3339), fix: "renew the server's certificate"},
		{name: "untrusted authority", env: func(e *doctorEnv) { e.roots = otherPool }, args: []string{"-server", goodTLS},
			check: "tls", status: doctor.Fail, detail: "authority this device does not trust"},
		{name: "bad token", args: []string{"-data", badCred},
			check: "auth", status: doctor.Fail, detail: "refuses this gate's credential", fix: "enrol it again"},
		{name: "clock 10 min ahead", env: func(e *doctorEnv) { e.now = func() time.Time { return time.Now().Add(10 * time.Minute) } },
			check: "clock", status: doctor.Fail, detail: "this device's clock is 10m0", fix: "set this device's clock"},
		{name: "disk full", env: func(e *doctorEnv) {
			e.write = func(string) error { return &os.PathError{Op: "write", Path: ".doctor-1", Err: syscall.ENOSPC} }
		}, check: "disk", status: doctor.Fail, detail: "no space left on device", fix: "the disk is full"},
		{name: "disk nearly full", env: func(e *doctorEnv) { e.free = func(string) (int64, error) { return 10 << 20, nil } },
			check: "disk", status: doctor.Fail, detail: "10 MiB free", fix: "free space"},
		{name: "not enrolled", args: []string{"-data", t.TempDir()},
			check: "files", status: doctor.Fail, detail: "no credential", fix: "kido-gate enroll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := base
			if tt.env != nil {
				tt.env(&env)
			}
			var out, errOut bytes.Buffer
			args := append([]string{"-data", dir, "-json"}, tt.args...)
			err := doctorWith(context.Background(), env, args, &out, &errOut)
			var rep doctor.Report
			if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
				t.Fatalf("doctor -json: %v\n%s", jerr, out.String())
			}
			var got *doctor.Result
			for i := range rep.Results {
				if rep.Results[i].Check == tt.check {
					got = &rep.Results[i]
				}
			}
			if got == nil || got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) || !strings.Contains(got.Fix, tt.fix) {
				t.Errorf("check %s: %+v\nwant %s with %q, fix %q; the report:\n%s", tt.check, got, tt.status, tt.detail, tt.fix, out.String())
			}
			if failed := tt.status == doctor.Fail; (err != nil) != failed || rep.OK == failed {
				t.Errorf("doctor returned %v with ok=%v; want failure %v", err, rep.OK, failed)
			}
			if tt.status == doctor.OK {
				for _, r := range rep.Results {
					if r.Status == doctor.Fail || r.Status == doctor.Skip {
						t.Errorf("healthy gate: %+v", r)
					}
				}
			}
		})
	}
}

// TestDoctorReportsPending: a gate holding records it has not uploaded is
// not ready, so the doctor warns of them; and its request to the server
// carries the replica's pending count, so the server does not take its
// old count for fresh (docs/sync-protocol.md §6).
func TestDoctorReportsPending(t *testing.T) {
	ls := startServer(t, 3)
	dir := syncedGate(t, ls)
	if out, err := gateCmd(t, "scan", "-data", dir, ls.tickets[0].Text); err != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := doctorWith(context.Background(), doctorEnv{now: time.Now, write: doctor.WriteProbe, free: plenty}, []string{"-data", dir, "-json"}, &out, &out); err != nil {
		t.Fatalf("doctor: %v\n%s", err, out.String())
	}
	var rep doctor.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("doctor -json: %v\n%s", err, out.String())
	}
	for _, r := range rep.Results {
		if r.Check == "replica" && (r.Status != doctor.Warn || !strings.Contains(r.Detail, "1 record not uploaded yet") || !strings.Contains(r.Fix, "kido-gate sync")) {
			t.Errorf("replica check with a record waiting: %+v", r)
		}
		if r.Check == "auth" && r.Status != doctor.OK {
			t.Errorf("auth: %+v", r)
		}
	}
	sts, err := ls.admin.GateStatuses(context.Background(), ls.event, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Pending != 1 {
		t.Errorf("server's pending count after the doctor's contact: %d, want the replica's 1", sts[0].Pending)
	}
}

// TestDoctorText: one line per check, in order, each starting with its
// status.
func TestDoctorText(t *testing.T) {
	var out bytes.Buffer
	err := doctorWith(context.Background(), doctorEnv{now: time.Now, write: doctor.WriteProbe, free: plenty}, []string{"-data", t.TempDir()}, &out, &out)
	if err != errRejected {
		t.Errorf("doctor of an empty directory returned %v, want errRejected (exit 1)", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var checks []string
	for _, l := range lines {
		f := strings.Fields(l)
		checks = append(checks, f[0]+" "+f[1])
	}
	want := []string{"FAIL files", "SKIP disk", "FAIL replica", "SKIP dns", "SKIP tcp", "SKIP tls", "SKIP server", "SKIP auth", "SKIP clock"}
	if fmt.Sprint(checks) != fmt.Sprint(want) {
		t.Errorf("lines:\n%s\nwant checks %v", out.String(), want)
	}
}
