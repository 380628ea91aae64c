// Command kidoctl is the promoter's and operator's CLI of kido: events,
// tiers, signing keys, ticket issuance, revocation, gates and tokens, all
// through the kido server's API. Run kidoctl -h for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	if err != nil {
		var ue usageError
		var quiet exitSilently
		if (!errors.As(err, &ue) || ue.msg != "") && !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "kidoctl:", err)
		}
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
