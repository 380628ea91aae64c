// Package cliflags parses a command's flags the one way every kido binary
// answers them: -h prints the command's whole help and is no error (exit
// 0); a bad flag is one error line and one hint, without the help, which
// would bury the line that says what is wrong (exit 2, the binary's
// usage error).
package cliflags

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Parse parses args into fs. On -h it prints fs's help and returns
// flag.ErrHelp; on a bad flag it prints nothing and returns the problem
// with the hint "cmd -h shows the flags", cmd being the command as the
// user types it (kido-gate sync).
func Parse(fs *flag.FlagSet, cmd string, args []string) error {
	out, help := fs.Output(), fs.Usage
	if help == nil {
		help = func() {
			fmt.Fprintf(fs.Output(), "usage of %s:\n", cmd)
			fs.PrintDefaults()
		}
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = help
	switch {
	case errors.Is(err, flag.ErrHelp):
		help()
		return flag.ErrHelp
	case err != nil:
		return fmt.Errorf("%w\nhint: %s -h shows the flags", err, cmd)
	}
	return nil
}
