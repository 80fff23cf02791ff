//go:build ignore

// pause is the sandbox process of the pause images scripts/critest.sh
// builds (registry.k8s.io/pause): it holds its pod's namespaces, reaps the
// processes that end up as its children, and exits on SIGINT or SIGTERM.
// Build: CGO_ENABLED=0 go build -o pause scripts/critest/pause.go
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
