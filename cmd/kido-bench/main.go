// Command kido-bench runs every performance scenario of kido on loopback in
// one process tree and prints one table: each row with the figure measured,
// the goal, the ratio and whether the goal was met. See docs/benchmarks.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kido-bench:", err)
		os.Exit(1)
	}
}
