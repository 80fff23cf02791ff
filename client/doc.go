// Package client is the Go client of the Engine API used by the gantry CLI: a thin
// layer over moby's client module.
package client
