// Package plural writes a count with its noun in the number the count
// takes ("1 record", "2 records"), for the binaries' messages.
package plural

import "fmt"

// Count writes n and one when n is 1, else n and many.
func Count[N ~int | ~int64 | ~uint64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
