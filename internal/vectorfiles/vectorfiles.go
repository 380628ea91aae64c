// Package vectorfiles keeps a directory of generated test-vector files
// equal to what its generator makes: Write makes the directory hold exactly
// the given files, and Diff names every way it does not; Split reads the
// common file form, a header of "name: value" lines, a blank line, and the
// case's bytes. The ticket vectors
// (ticket/testdata/vectors) and the signed-answer vectors
// (sync/wire/testdata/answers) both go through it.
package vectorfiles

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Write makes dir hold exactly files (name → content): it writes each one
// and removes any other file there.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if _, keep := files[e.Name()]; !keep {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Diff returns one line for each file of dir that files lacks or holds
// otherwise, and for each of files that dir lacks; none when they agree.
func Diff(dir string, files map[string][]byte) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var diffs []string
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Name()] = true
		want, ok := files[e.Name()]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s is not made by the generator", e.Name()))
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s differs from the generator's output", e.Name()))
		}
	}
	var missing []string
	for name := range files {
		if !seen[name] {
			missing = append(missing, fmt.Sprintf("%s is missing", name))
		}
	}
	sort.Strings(missing)
	return append(diffs, missing...), nil
}

// A Field is one "name: value" line of a vector file's header.
type Field struct{ Name, Value string }

// Split cuts a vector file into its header fields, in order, and the bytes
// after the first blank line. Only names in repeatable may appear more
// than once.
func Split(data []byte, repeatable ...string) ([]Field, []byte, error) {
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, nil, errors.New("no blank line after the header")
	}
	var fields []Field
	seen := map[string]bool{}
	for _, line := range strings.Split(string(head), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, nil, fmt.Errorf("header line %q is not \"name: value\"", line)
		}
		if seen[name] && !slices.Contains(repeatable, name) {
			return nil, nil, fmt.Errorf("header %q repeated", name)
		}
		seen[name] = true
		fields = append(fields, Field{name, value})
	}
	return fields, body, nil
}
