// Package cli implements the gantry command line, one file per verb, on top of
// the Engine API client.
package cli
