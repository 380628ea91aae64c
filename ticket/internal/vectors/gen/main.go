// Command gen writes the ticket test vectors to a directory, one file per
// vector, removing files of vectors that no longer exist:
//
//	go run ./ticket/internal/vectors/gen -dir ticket/testdata/vectors
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/ticket/internal/vectors"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory to write the vectors to (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gen -dir DIR\nexample: go run ./ticket/internal/vectors/gen -dir ticket/testdata/vectors")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("gen: -dir is required and takes no arguments")
	}
	vs := vectors.Generate()
	files := map[string][]byte{}
	for _, v := range vs {
		files[v.Name] = v.Marshal()
	}
	if err := vectorfiles.Write(*dir, files); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	fmt.Fprintf(stdout, "gen: wrote %d vectors to %s\n", len(vs), *dir)
	return nil
}
