package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name  string
		bi    debug.BuildInfo
		short string
		line  string
	}{
		{
			name: "tagged release",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "3fbbbf6a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.time", Value: "2026-12-01T03:29:21Z"}, {Key: "vcs.modified", Value: "false"}}},
			short: "v1.2.3",
			line:  "kido-server v1.2.3 revision 3fbbbf6a1b2c3d4e5f60718293a4b5c6d7e8f901 committed 2026-12-01T03:29:21Z go1.26.8\n",
		},
		{
			name: "pseudo-version, modified tree",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261201032921-3fbbbf6a1b2c+dirty"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "3fbbbf6a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "true"}}},
			short: "v0.0.0-20261201032921-3fbbbf6a1b2c+dirty",
			line:  "kido-server v0.0.0-20261201032921-3fbbbf6a1b2c+dirty revision 3fbbbf6a1b2c3d4e5f60718293a4b5c6d7e8f901 (modified) go1.26.8\n",
		},
		{
			name:  "devel with revision",
			bi:    debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "3fbbbf6a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "true"}}},
			short: "(devel)-3fbbbf6a1b2c+dirty",
			line:  "kido-server (devel) revision 3fbbbf6a1b2c3d4e5f60718293a4b5c6d7e8f901 (modified) go1.26.8\n",
		},
		{
			name:  "nothing recorded",
			bi:    debug.BuildInfo{},
			short: "(devel)",
			line:  "kido-server (devel)\n",
		},
		{
			name:  "version with spaces and control bytes",
			bi:    debug.BuildInfo{Main: debug.Module{Version: "v1 \x01beta" + strings.Repeat("x", 80)}},
			short: ("v1beta" + strings.Repeat("x", 80))[:64],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := FromBuildInfo(&tt.bi)
			if got := i.Short(); got != tt.short {
				t.Errorf("Short() = %q, want %q", got, tt.short)
			}
			if tt.line == "" {
				return
			}
			var b strings.Builder
			if err := i.Write(&b, "kido-server"); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.line {
				t.Errorf("Write:\ngot  %q\nwant %q", got, tt.line)
			}
		})
	}
}

// TestReadInTest checks that a test binary, which records no VCS
// information, still has a usable Short.
func TestReadInTest(t *testing.T) {
	i := Read()
	if i.Go == "" {
		t.Errorf("Read().Go is empty: %+v", i)
	}
	if s := i.Short(); s == "" || strings.ContainsAny(s, " \t\n") {
		t.Errorf("Short() = %q, want printable without spaces", s)
	}
}
