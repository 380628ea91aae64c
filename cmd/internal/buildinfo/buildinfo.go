// Package buildinfo says what a kido binary was built from: the module
// version, the VCS revision and whether the work tree had changes, and the Go
// release, all read from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo). Every binary's -version prints it, and the
// server and gates send Short to each other, so a report of a fault names
// the exact build.
package buildinfo

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Info is what a binary was built from. Fields the build did not record
// (a test binary, a build outside a VCS checkout, -buildvcs=false) are
// empty.
type Info struct {
	Module   string // module version: a tag, a pseudo-version, or "(devel)"
	Revision string // VCS revision (vcs.revision)
	Time     string // commit time of Revision (vcs.time), RFC 3339
	Modified bool   // the work tree had uncommitted changes (vcs.modified)
	Go       string // Go release that built the binary, e.g. go1.26.8
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: "(devel)"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo returns the Info recorded in bi.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Module: bi.Main.Version, Go: bi.GoVersion}
	if i.Module == "" {
		i.Module = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// Short is the version sent on the wire and shown beside a gate: the
// module version, which the Go toolchain derives from the VCS tag or
// revision ("v0.0.0-20261201032921-3fbbbf6a1b2c+dirty"). Built without VCS
// information, it is "(devel)" with the first 12 digits of the revision if
// known. It is always 1 to 64 printable ASCII characters without spaces,
// as docs/sync-protocol.md asks of Kido-Gate-Version.
func (i Info) Short() string {
	s := i.Module
	if s == "(devel)" && i.Revision != "" {
		s += "-" + shortRev(i.Revision)
		if i.Modified {
			s += "+dirty"
		}
	}
	return printable(s, 64)
}

// Write prints i for -version, one line, named after the binary:
//
//	kido-server v0.0.0-20261201032921-3fbbbf6a1b2c revision 3fbbbf6a1b2c… (modified) committed 2026-12-01T03:29:21Z go1.26.8
func (i Info) Write(w io.Writer, binary string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", binary, i.Module)
	if i.Revision != "" {
		fmt.Fprintf(&b, " revision %s", i.Revision)
		if i.Modified {
			b.WriteString(" (modified)")
		}
	}
	if i.Time != "" {
		fmt.Fprintf(&b, " committed %s", i.Time)
	}
	if i.Go != "" {
		fmt.Fprintf(&b, " %s", i.Go)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// printable keeps the printable ASCII bytes of s other than space, at most
// max of them, so a strange build setting cannot make a heartbeat the
// server refuses.
func printable(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "(devel)"
	}
	return b.String()
}
