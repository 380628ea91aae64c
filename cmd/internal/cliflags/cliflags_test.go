package cliflags

import (
	"bytes"
	"errors"
	"flag"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		err, out  string
		help, bad bool
	}{
		{args: []string{"-n", "3"}},
		{args: []string{"-h"}, out: "usage: kido-x [flags]\n  -n int\n    \tcount\n", help: true},
		{args: []string{"-bogus"}, err: "flag provided but not defined: -bogus\nhint: kido-x sub -h shows the flags", bad: true},
		{args: []string{"-n", "x"}, err: "invalid value \"x\" for flag -n: parse error\nhint: kido-x sub -h shows the flags", bad: true},
	} {
		var out bytes.Buffer
		fs := flag.NewFlagSet("sub", flag.ContinueOnError)
		fs.SetOutput(&out)
		fs.Usage = func() { out.WriteString("usage: kido-x [flags]\n"); fs.PrintDefaults() }
		fs.Int("n", 0, "count")
		err := Parse(fs, "kido-x sub", tc.args)
		switch {
		case tc.help && !errors.Is(err, flag.ErrHelp), tc.bad && (err == nil || err.Error() != tc.err), !tc.help && !tc.bad && err != nil:
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
		}
		if out.String() != tc.out {
			t.Errorf("%q printed %q, want %q", tc.args, out.String(), tc.out)
		}
	}
}
