// Command gen writes the feed-encoding test vectors to a directory, one
// file per vector, removing files of vectors that no longer exist:
//
//	go run ./sync/wire/internal/feedvectors/gen -dir sync/wire/testdata/feed
package main

import (
	"flag"
	"fmt"
	"os"

	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/sync/wire/internal/feedvectors"
)

func main() {
	dir := flag.String("dir", "", "directory to write the vectors to (required)")
	flag.Parse()
	if *dir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gen -dir DIR\nexample: go run ./sync/wire/internal/feedvectors/gen -dir sync/wire/testdata/feed")
		os.Exit(2)
	}
	files := map[string][]byte{}
	for _, v := range feedvectors.Generate() {
		files[v.Name] = v.Marshal()
	}
	if err := vectorfiles.Write(*dir, files); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("gen: wrote %d vectors to %s\n", len(files), *dir)
}
