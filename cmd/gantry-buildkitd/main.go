// Command gantry-buildkitd embeds BuildKit for gantryd, which starts it on
// the first `docker buildx build` (see package buildkit); it is not run by
// hand.
package main

import (
	"os"

	"github.com/gantry/gantry/buildkit/engine"
)

func main() { os.Exit(engine.Main()) }
