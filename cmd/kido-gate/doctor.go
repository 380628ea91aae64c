package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/cmd/internal/plural"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/syncer"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

const doctorUsage = `usage: kido-gate doctor [-data DIR] [-server URL] [-ca FILE] [-insecure-http] [-json]

Checks, in order, what this gate needs before the doors open, and prints
one line per check: OK, WARN, FAIL (with the exact fault and what to do)
or SKIP (not run: a check it needs failed). Exits 1 if any check fails.

	files     data directory and credential, and their modes
	disk      the data directory takes a write; free space
	replica   integrity, size, last sync
	dns       the server's host name resolves
	tcp       the server's port answers
	tls       certificate chain, name and expiry (https only)
	server    the server answers as a kido server, proves the identity
	          this gate enrolled with, and its database works
	auth      the server accepts this gate's credential
	clock     this device's clock against the server's

Example:

	kido-gate doctor -data /var/lib/kido-gate

Flags:
`

// Clock offsets the doctor tolerates: the gate records passages in its
// own time, which the server corrects by the offset it measures; a large
// one makes "already used at 10:02" read wrong to staff and attendees.
const (
	clockWarn = 2 * time.Second
	clockFail = time.Minute
	// staleSync is how old the last sync may be before the replica check
	// warns: an online gate syncs every 30 s.
	staleSync = 5 * time.Minute
	// certWarn is how long before its expiry the server's certificate is
	// a warning.
	certWarn  = 14 * 24 * time.Hour
	dialLimit = 5 * time.Second
)

// doctorEnv is what the checks take from the world; tests replace parts.
type doctorEnv struct {
	now   func() time.Time
	roots *x509.CertPool // nil: the system's
	write func(dir string) error
	free  func(dir string) (int64, error)
}

func runDoctor(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return doctorWith(ctx, doctorEnv{now: time.Now, write: doctor.WriteProbe, free: doctor.FreeSpace}, args, stdout, stderr)
}

func doctorWith(ctx context.Context, env doctorEnv, args []string, stdout, stderr io.Writer) error {
	fl, data := newFlags("doctor", doctorUsage, stderr)
	asJSON := fl.Bool("json", false, "print one JSON object")
	sec := securityFlags(fl)
	serverURL := fl.String("server", "", "check the server at `URL` instead of the one the replica remembers (before moving the gate to it)")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return usageErrorf("unexpected argument %q\nhint: kido-gate doctor takes only flags; kido-gate doctor -h shows them", fl.Arg(0))
	}
	if sec.CAFile != "" {
		tr, err := sec.Transport()
		if err != nil {
			return err
		}
		env.roots = tr.TLSClientConfig.RootCAs
	}
	var r doctor.Report
	d := &gateDoctor{env: env, sec: *sec, dir: *data, r: &r, override: *serverURL}
	d.run(ctx)
	if err := r.Write(stdout, *asJSON); err != nil {
		return err
	}
	if r.Failed() {
		return errRejected // the report says why
	}
	return nil
}

type gateDoctor struct {
	env      doctorEnv
	sec      client.Security // -ca, -insecure-http, as the gate's other commands take them
	override string          // -server
	dir      string
	r        *doctor.Report
	cred     string
	// From the replica.
	url, pinned, cursor string
	pin                 client.Pin
	u                   *url.URL
	addrs               []string
	health              wire.Health
	rtt                 time.Duration
	sent                time.Time
	// hb is the heartbeat the auth check sends, as a syncing gate would:
	// without it the server would refresh the gate's last contact and
	// keep an old pending count, which readiness reads as fresh.
	hb wire.Heartbeat
}

func (d *gateDoctor) run(ctx context.Context) {
	d.files()
	if d.r.Passed("files") {
		d.r.Disk(d.dir, doctor.GateMinFree, d.env.write, d.env.free)
	} else {
		d.r.Add("disk", doctor.Skip, "needs files", "")
	}
	d.replica(ctx)
	steps := []struct {
		name, needs string
		check       func(context.Context)
	}{
		{"dns", "replica", d.dns},
		{"tcp", "dns", d.tcp},
		{"tls", "tcp", d.tls},
		{"server", "tls", d.server},
		{"auth", "server", d.auth},
		{"clock", "server", d.clock},
	}
	for _, s := range steps {
		if !d.r.Passed(s.needs) {
			d.r.Add(s.name, doctor.Skip, "needs "+s.needs, "")
			continue
		}
		s.check(ctx)
	}
}

func (d *gateDoctor) files() {
	st, err := os.Stat(d.dir)
	if err != nil {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("data directory: %v", err), "give the gate's -data directory, or enrol this device: kido-gate enroll -server URL -code CODE")
		return
	}
	if !st.IsDir() {
		d.r.Add("files", doctor.Fail, d.dir+" is not a directory", "give the gate's -data directory")
		return
	}
	cst, err := os.Stat(gatedir.Credential(d.dir))
	if errors.Is(err, fs.ErrNotExist) {
		d.r.Add("files", doctor.Fail, "no credential in "+d.dir+" (never enrolled, or the server revoked this gate and it was forgotten)", "enrol the gate: kido-gate enroll -server URL -code CODE")
		return
	}
	if err != nil {
		d.r.Add("files", doctor.Fail, err.Error(), "check the data directory's permissions")
		return
	}
	if m := cst.Mode().Perm(); m&0o077 != 0 {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("credential %s is readable by others (mode %04o)", gatedir.Credential(d.dir), m), "chmod 600 "+gatedir.Credential(d.dir))
		return
	}
	if d.cred, err = gatedir.ReadCredential(d.dir); err != nil {
		d.r.Add("files", doctor.Fail, err.Error(), "check the data directory's permissions")
		return
	}
	detail := fmt.Sprintf("%s: credential mode 0600", d.dir)
	if m := st.Mode().Perm(); m&0o007 != 0 {
		d.r.Add("files", doctor.Warn, fmt.Sprintf("%s, but the directory is open to others (mode %04o)", detail, m), "chmod 700 "+d.dir)
		return
	}
	d.r.Add("files", doctor.OK, detail, "")
}

func (d *gateDoctor) replica(ctx context.Context) {
	if !fileExists(gatedir.Replica(d.dir)) {
		d.r.Add("replica", doctor.Fail, "no replica in "+d.dir, "enrol the gate again into an empty -data directory")
		return
	}
	r, err := openReplica(d.dir, 0)
	if err != nil {
		d.r.Add("replica", doctor.Fail, err.Error(), "enrol the gate again into an empty -data directory")
		return
	}
	defer r.Close()
	if err := r.Check(ctx); err != nil {
		d.r.Add("replica", doctor.Fail, err.Error(), "the replica is damaged: move the data directory aside and enrol again; its pending records are in the old replica")
		return
	}
	st, err := r.Status(ctx)
	if err != nil {
		d.r.Add("replica", doctor.Fail, err.Error(), "enrol the gate again into an empty -data directory")
		return
	}
	d.url, d.pinned, d.cursor = st.ServerURL, st.Server.ID, st.Cursor
	d.pin = client.Pin{Identity: st.Server.ID, Event: st.Event.ID, Gate: st.Gate.ID}
	if d.override != "" {
		d.url = d.override
	}
	if d.u, err = url.Parse(d.url); err != nil || d.u.Host == "" {
		d.r.Add("replica", doctor.Fail, fmt.Sprintf("the replica's server URL %q is not a URL", d.url), "point the gate at its server: kido-gate sync -server URL")
		return
	}
	size := int64(0)
	if fi, err := os.Stat(gatedir.Replica(d.dir)); err == nil {
		size = fi.Size()
	}
	free := func() (int64, error) { return d.env.free(d.dir) }
	if d.env.free == nil {
		free = nil
	}
	d.hb = syncer.Heartbeat(r, version, d.env.now, free)()
	pending := st.Pending + st.AuditsDue
	detail := fmt.Sprintf("integrity ok, event %d %q, %s, %s, %d pending, %d KiB", st.Event.ID, st.Event.Name, plural.Count(st.Roster, "ticket", "tickets"), plural.Count(st.Passages, "passage", "passages"), pending, size>>10)
	status, fix := doctor.OK, ""
	switch {
	case st.LastSync.IsZero():
		status, fix, detail = doctor.Warn, "sync it: kido-gate sync", detail+", never synced"
	case d.env.now().Sub(st.LastSync) > staleSync:
		status, fix = doctor.Warn, "sync it: kido-gate sync (kido-gate run syncs by itself)"
		detail = fmt.Sprintf("%s, last sync %s ago", detail, d.env.now().Sub(st.LastSync).Round(time.Second))
	default:
		detail = fmt.Sprintf("%s, last sync %s ago", detail, d.env.now().Sub(st.LastSync).Round(time.Second))
	}
	// kidoctl readiness holds a gate with records waiting not ready: so
	// does the doctor.
	if pending > 0 {
		detail += "; " + plural.Count(pending, "record", "records") + " not uploaded yet"
		if status == doctor.OK {
			status, fix = doctor.Warn, "upload them: kido-gate sync (kido-gate run uploads by itself)"
		}
	}
	d.r.Add("replica", status, detail, fix)
}

func (d *gateDoctor) dns(ctx context.Context) {
	host := d.u.Hostname()
	if net.ParseIP(host) != nil {
		d.addrs = []string{host}
		d.r.Add("dns", doctor.OK, host+" is an IP address: nothing to resolve", "")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, dialLimit)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		d.r.Add("dns", doctor.Fail, fmt.Sprintf("%s does not resolve: %v", host, err), "check the server URL and this device's DNS settings (and its network)")
		return
	}
	d.addrs = addrs
	d.r.Add("dns", doctor.OK, fmt.Sprintf("%s is %v", host, addrs), "")
}

func (d *gateDoctor) port() string {
	if p := d.u.Port(); p != "" {
		return p
	}
	if d.u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func (d *gateDoctor) tcp(ctx context.Context) {
	addr := net.JoinHostPort(d.addrs[0], d.port())
	dl := net.Dialer{Timeout: dialLimit}
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		fix := "check the port in the server URL, that kido-server runs there, and firewalls between"
		if errors.Is(err, syscall.ECONNREFUSED) {
			fix = "nothing listens there: start kido-server, or correct the port in the URL (kido-gate sync -server URL)"
		}
		d.r.Add("tcp", doctor.Fail, fmt.Sprintf("connect to %s: %v", addr, err), fix)
		return
	}
	c.Close()
	d.r.Add("tcp", doctor.OK, "connected to "+addr, "")
}

func (d *gateDoctor) tls(ctx context.Context) {
	if d.u.Scheme != "https" {
		if err := d.sec.Check(d.url); err != nil {
			var ce *client.Error
			if errors.As(err, &ce) {
				d.r.Add("tls", doctor.Fail, ce.Message, ce.Hint)
				return
			}
			d.r.Add("tls", doctor.Fail, err.Error(), "")
			return
		}
		d.r.Add("tls", doctor.Warn, "plain HTTP to "+d.u.Host+": credentials and records travel unencrypted", "serve kido-server with -tls-cert and -tls-key and enrol gates with an https URL, unless this network is the venue's own closed one")
		return
	}
	dl := tls.Dialer{NetDialer: &net.Dialer{Timeout: dialLimit}, Config: &tls.Config{ServerName: d.u.Hostname(), RootCAs: d.env.roots, Time: d.env.now}}
	c, err := dl.DialContext(ctx, "tcp", net.JoinHostPort(d.addrs[0], d.port()))
	if err != nil {
		d.r.Add("tls", doctor.Fail, tlsFault(err, d.u.Hostname(), d.env.now()), tlsFix(err))
		return
	}
	defer c.Close()
	leaf := c.(*tls.Conn).ConnectionState().PeerCertificates[0]
	left := leaf.NotAfter.Sub(d.env.now())
	detail := fmt.Sprintf("certificate for %s valid until %s", d.u.Hostname(), leaf.NotAfter.UTC().Format(time.RFC3339))
	if left < certWarn {
		d.r.Add("tls", doctor.Warn, fmt.Sprintf("%s: expires in %s", detail, left.Round(time.Hour)), "renew the server's certificate and restart kido-server before it expires")
		return
	}
	d.r.Add("tls", doctor.OK, detail+", chain trusted", "")
}

// tlsFault names a handshake failure exactly.
func tlsFault(err error, host string, now time.Time) string {
	var hn x509.HostnameError
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &hn):
		return fmt.Sprintf("the server's certificate is not for %s (it names %v): %v", host, append(hn.Certificate.DNSNames, ipStrings(hn.Certificate.IPAddresses)...), err)
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.After(inv.Cert.NotAfter) {
			return fmt.Sprintf("the server's certificate expired at %s: %v", inv.Cert.NotAfter.UTC().Format(time.RFC3339), err)
		}
		return fmt.Sprintf("the server's certificate is not valid before %s, and this device's clock says %s: %v", inv.Cert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), err)
	case errors.As(err, &ua):
		return fmt.Sprintf("the server's certificate is signed by an authority this device does not trust: %v", err)
	}
	return fmt.Sprintf("TLS handshake: %v", err)
}

func tlsFix(err error) string {
	var hn x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &hn):
		return "use the host name the certificate names in the server URL, or give the server a certificate for this name"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "renew the server's certificate and restart kido-server; if it is not expired, set this device's clock"
	}
	return "give the server a certificate from an authority this device trusts, or install that authority on the device"
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func (d *gateDoctor) httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: d.env.roots, Time: d.env.now}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (d *gateDoctor) server(ctx context.Context) {
	c, err := client.New(d.url, "", d.httpClient())
	if err != nil {
		d.r.Add("server", doctor.Fail, err.Error(), "point the gate at its server: kido-gate sync -server URL")
		return
	}
	// Health answers 503 with its body when the database fails: read it
	// whatever the status.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL()+"/v1/health", nil)
	if err != nil {
		d.r.Add("server", doctor.Fail, err.Error(), "point the gate at its server: kido-gate sync -server URL")
		return
	}
	d.sent = d.env.now()
	t0 := time.Now()
	resp, err := d.httpClient().Do(req)
	if err != nil {
		d.r.Add("server", doctor.Fail, fmt.Sprintf("GET /v1/health: %v", err), "check that kido-server runs at this URL")
		return
	}
	d.rtt = time.Since(t0)
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d.health)
	resp.Body.Close()
	if err != nil || d.health.Server.ID == "" || d.health.ServerTime.IsZero() {
		d.r.Add("server", doctor.Fail, fmt.Sprintf("%s answers %s to GET /v1/health, not as a kido server", d.url, resp.Status), "correct the port or path in the server URL (kido-gate sync -server URL)")
		return
	}
	if _, err := c.ProveIdentity(ctx, d.pinned); err != nil {
		d.r.Add("server", doctor.Fail, err.Error(), "check the URL: a gate follows only the server it enrolled with")
		return
	}
	if d.health.Status != "ok" {
		d.r.Add("server", doctor.Fail, fmt.Sprintf("the server's database fails: %s", d.health.Database), "on the server: kido-server doctor, and docs/runbook.md §6")
		return
	}
	detail := fmt.Sprintf("kido-server %s, identity %s (fingerprint %s) as enrolled, database ok", d.health.Server.Version, d.health.Server.ID, d.health.Server.Fingerprint)
	if len(d.health.Warnings) > 0 {
		d.r.Add("server", doctor.Warn, fmt.Sprintf("%s; the server warns: %v", detail, d.health.Warnings), "tell the server's operator")
		return
	}
	d.r.Add("server", doctor.OK, detail, "")
}

func (d *gateDoctor) auth(ctx context.Context) {
	hc := d.httpClient()
	hc.Transport = client.WithHeartbeat(hc.Transport, func() wire.Heartbeat {
		hb := d.hb
		hb.Time = d.env.now()
		return hb
	})
	c, err := client.New(d.url, d.cred, hc)
	if err == nil {
		c, err = c.Pinned(d.pin) // the answer must be signed by the server enrolled with
	}
	if err != nil {
		d.r.Add("auth", doctor.Fail, err.Error(), "")
		return
	}
	_, err = c.Changes(ctx, d.cursor, 0)
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		msg := err.Error()
		var ce *client.Error
		if errors.As(err, &ce) {
			msg = ce.Message // its hint is about admin tokens; the fix below is the gate's
		}
		d.r.Add("auth", doctor.Fail, "the server refuses this gate's credential: "+msg, "the gate was revoked, or the server lost its enrolment (restored from an older backup): enrol it again with a new code (kidoctl gate add)")
	case err != nil:
		d.r.Add("auth", doctor.Fail, err.Error(), "try kido-gate sync for the full error")
	default:
		d.r.Add("auth", doctor.OK, "the server accepts this gate's credential", "")
	}
}

func (d *gateDoctor) clock(ctx context.Context) {
	// The server's time was read about half a round trip after sending.
	offset := d.sent.Add(d.rtt / 2).Sub(d.health.ServerTime)
	abs := max(offset, -offset)
	ahead := "ahead of"
	if offset < 0 {
		ahead = "behind"
	}
	detail := fmt.Sprintf("this device's clock is %s %s the server's (±%s)", abs.Round(time.Millisecond), ahead, (d.rtt / 2).Round(time.Millisecond))
	switch {
	case abs >= clockFail:
		d.r.Add("clock", doctor.Fail, detail, "set this device's clock (turn on automatic time / NTP), then run the doctor again")
	case abs >= clockWarn:
		d.r.Add("clock", doctor.Warn, detail, "turn on automatic time (NTP) on this device")
	default:
		d.r.Add("clock", doctor.OK, detail, "")
	}
}
