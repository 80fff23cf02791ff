// Command gantry is the client of gantryd: a drop-in for the docker CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gantry/gantry/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := cli.Run(ctx, cli.NewStreams(), os.Args[1:])
	stop()
	os.Exit(code)
}
