package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/text/encoding/japanese"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/cmd/internal/ticketpdf"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kidoctl": func() {
			main()
		},
	})
}

var (
	buildOnce   sync.Once
	serverBin   string
	buildErr    error
	buildTmpDir string
)

// buildServer builds the real kido-server once per test run.
func buildServer() (string, error) {
	buildOnce.Do(func() {
		buildTmpDir, buildErr = os.MkdirTemp("", "kidoctl-test-")
		if buildErr != nil {
			return
		}
		serverBin = filepath.Join(buildTmpDir, "kido-server")
		out, err := exec.Command("go", "build", "-o", serverBin, "kido.dev/kido/cmd/kido-server").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build kido-server: %v\n%s", err, out)
		}
	})
	return serverBin, buildErr
}

// startServer starts kido-server on a free loopback port with its data in
// the script's work directory, and points KIDO_SERVER and KIDO_TOKEN at it.
func startServer(env *testscript.Env) error {
	bin, err := buildServer()
	if err != nil {
		return err
	}
	data := filepath.Join(env.WorkDir, "server-data")
	addrFile := filepath.Join(env.WorkDir, "server.addr")
	logFile, err := os.Create(filepath.Join(env.WorkDir, "server.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-data", data, "-listen", "127.0.0.1:0", "-addr-file", addrFile)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	env.Defer(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		logFile.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			env.Setenv("KIDO_SERVER", strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			return errors.New("kido-server did not start; see server.log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		return err
	}
	env.Setenv("KIDO_TOKEN", strings.TrimSpace(string(tok)))
	env.Setenv("ADMIN", strings.TrimSpace(string(tok)))
	env.Setenv("SERVER_DATA", data)
	return nil
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: startServer,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sjis":        cmdSJIS,
			"checkimages": cmdCheckImages,
			"setenvout":   cmdSetenvOut,
			"gateupload":  cmdGateUpload,
			"checkpdfs":   cmdCheckPDFs,
		},
		Condition: func(cond string) (bool, error) {
			if cond != "font" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			_, err := ticketpdf.LoadFont("")
			return err == nil, nil
		},
	})
}

// checkpdfs DIR MANIFEST COMBINED checks the printable tickets of every row
// of a manifest, each in its own PDF and on its page of COMBINED: pdftotext
// finds the holder and serial, and the page rendered by pdftoppm decodes to
// the row's ticket text.
func cmdCheckPDFs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: checkpdfs DIR MANIFEST COMBINED")
	}
	f, err := os.Open(ts.MkAbs(filepath.Join(args[0], args[1])))
	ts.Check(err)
	defer f.Close()
	rows, err := manifest.Read(f)
	ts.Check(err)
	if len(rows) == 0 {
		ts.Fatalf("manifest has no tickets")
	}
	tmp := ts.MkAbs("pdfcheck")
	ts.Check(os.MkdirAll(tmp, 0o755))
	for i, r := range rows {
		tk, err := ticket.Parse(r.Text)
		ts.Check(err)
		for _, c := range []struct {
			path string
			page int
		}{
			{filepath.Join(args[0], manifest.PDFName(tk.Event, r.Serial)), 1},
			{filepath.Join(args[0], args[2]), i + 1},
		} {
			page := strconv.Itoa(c.page)
			out, err := exec.Command("pdftotext", "-f", page, "-l", page, ts.MkAbs(c.path), "-").CombinedOutput()
			if err != nil {
				ts.Fatalf("pdftotext %s: %v\n%s", c.path, err, out)
			}
			if !strings.Contains(string(out), r.Holder) || !strings.Contains(string(out), fmt.Sprintf("No. %08d", r.Serial)) {
				ts.Fatalf("%s page %s lacks holder %q or serial %d:\n%s", c.path, page, r.Holder, r.Serial, out)
			}
			png := filepath.Join(tmp, "page")
			if out, err := exec.Command("pdftoppm", "-png", "-r", "150", "-singlefile", "-f", page, "-l", page, ts.MkAbs(c.path), png).CombinedOutput(); err != nil {
				ts.Fatalf("pdftoppm %s: %v\n%s", c.path, err, out)
			}
			got, err := qr.DecodeFile(png + ".png")
			if err != nil || got != r.Text {
				ts.Fatalf("%s page %s decodes as %q, %v; manifest says %q", c.path, page, got, err, r.Text)
			}
		}
	}
}

// sjis SRC DST re-encodes a UTF-8 file as Shift_JIS, as a spreadsheet set
// to Japanese would save it.
func cmdSJIS(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sjis SRC DST")
	}
	b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
}

// checkimages DIR MANIFEST checks that every image a manifest lists
// decodes to the row's text, and that the text is a canonical ticket.
func cmdCheckImages(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: checkimages DIR MANIFEST")
	}
	f, err := os.Open(ts.MkAbs(filepath.Join(args[0], args[1])))
	ts.Check(err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	ts.Check(err)
	if len(rows) < 2 {
		ts.Fatalf("manifest has no tickets")
	}
	for _, r := range rows[1:] {
		text, image := r[4], r[5]
		got, err := qr.DecodeFile(ts.MkAbs(filepath.Join(args[0], image)))
		ts.Check(err)
		if got != text {
			ts.Fatalf("%s holds %q, manifest says %q", image, got, text)
		}
		if _, err := ticket.Parse(text); err != nil {
			ts.Fatalf("%s: %v", image, err)
		}
	}
}

// setenvout NAME REGEXP sets NAME to the first group of REGEXP's first
// match in the last command's stdout.
func cmdSetenvOut(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: setenvout NAME REGEXP")
	}
	m := regexp.MustCompile(args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("stdout does not match %s", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// gateupload CODE MANIFEST KIND SERIAL... enrols a gate with CODE and
// uploads, as that gate, one admission of KIND (entry, exit, manual) of
// each ticket named by serial in MANIFEST, a minute apart (KIND undo: an
// entry of each, then an undo of the last 30 s after it), with heartbeat
// headers (version "script/1", 2 pending unless $GATE_PENDING says
// otherwise, the device clock off by $GATE_CLOCK_OFFSET, 5 GiB free unless
// $GATE_FREE says otherwise, the replica synced 10 s before): what a
// kido-gate would send.
func cmdGateUpload(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 || neg {
		ts.Fatalf("usage: gateupload CODE MANIFEST KIND SERIAL...")
	}
	ctx := context.Background()
	server := ts.Getenv("KIDO_SERVER")
	anon, err := client.New(server, "", nil)
	ts.Check(err)
	enr, err := anon.Enroll(ctx, args[0], "script")
	ts.Check(err)
	f, err := os.Open(ts.MkAbs(args[1]))
	ts.Check(err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	ts.Check(err)
	texts := map[string][2]string{} // serial → tier, text
	for _, r := range rows[1:] {
		texts[r[0]] = [2]string{r[2], r[4]}
	}
	// Ticket tiers in the manifest are names; the ticket itself carries the id.
	at := time.Date(2027, 8, 1, 10, 0, 0, 0, time.UTC)
	var req wire.UploadRequest
	kind := args[2]
	if kind == kido.KindUndo {
		kind = kido.KindEntry
	}
	for i, serial := range args[3:] {
		row, ok := texts[serial]
		if !ok {
			ts.Fatalf("serial %s not in %s", serial, args[1])
		}
		tk, err := ticket.Parse(row[1])
		ts.Check(err)
		a := kido.Admission{Gate: enr.Gate.ID, Seq: uint64(i + 1), Serial: tk.Serial, Tier: tk.Tier, Kind: kind,
			At: at.Add(time.Duration(i) * time.Minute), Corrected: at.Add(time.Duration(i) * time.Minute), Text: row[1]}
		if a.Kind == kido.KindManual {
			a.Text, a.Reason = "", "phone battery dead"
		}
		a.Hash = wire.AdmissionHash(a)
		req.Admissions = append(req.Admissions, a)
	}
	if args[2] == kido.KindUndo {
		last := req.Admissions[len(req.Admissions)-1]
		u := kido.Undo(last, last.Seq+1, last.At.Add(30*time.Second), last.Corrected.Add(30*time.Second))
		u.Hash = wire.AdmissionHash(u)
		req.Admissions = append(req.Admissions, u)
	}
	body, err := json.Marshal(req)
	ts.Check(err)
	hr, err := http.NewRequest(http.MethodPost, server+"/v1/gate/upload", bytes.NewReader(body))
	ts.Check(err)
	hr.Header.Set("Authorization", "Bearer "+enr.Credential)
	pending, offset := int64(2), time.Duration(0)
	if v := ts.Getenv("GATE_PENDING"); v != "" {
		pending, err = strconv.ParseInt(v, 10, 64)
		ts.Check(err)
	}
	if v := ts.Getenv("GATE_CLOCK_OFFSET"); v != "" {
		offset, err = time.ParseDuration(v)
		ts.Check(err)
	}
	free := int64(5 << 30)
	if v := ts.Getenv("GATE_FREE"); v != "" {
		free, err = strconv.ParseInt(v, 10, 64)
		ts.Check(err)
	}
	sent := time.Now().Add(offset)
	wire.Heartbeat{Version: "script/1", Pending: pending, Time: sent, Free: free, Synced: sent.Add(-10 * time.Second)}.SetHeaders(hr.Header)
	resp, err := http.DefaultClient.Do(hr)
	ts.Check(err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		ts.Fatalf("upload: %s %s", resp.Status, b)
	}
	fmt.Fprintf(ts.Stdout(), "gate %d uploaded: %s", enr.Gate.ID, b)
}
