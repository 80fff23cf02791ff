// Command gantry-monitor watches over one container for gantryd, which
// starts one per container (see package monitor); it is not run by hand.
package main

import (
	"os"

	"github.com/gantry/gantry/monitor"
)

func main() { os.Exit(monitor.Main()) }
