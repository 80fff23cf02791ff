//go:build ignore

// nnp prints its effective user ID. scripts/critest.sh installs it setuid
// root in its registry.k8s.io/e2e-test-images/nonewprivs image, which
// critest runs as user 1000: it prints 0 unless no_new_privs is set.
// Build: CGO_ENABLED=0 go build -o nnp scripts/critest/nnp.go
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
