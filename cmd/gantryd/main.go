// Command gantryd is the Gantry server: it serves the Docker Engine API on
// unix sockets, TCP (with TLS) or sockets passed by systemd, and runs the
// images and containers behind it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gantryd:", err)
		os.Exit(1)
	}
}
