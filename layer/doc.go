// Package layer stores filesystem snapshots keyed by chain ID: read-only layers
// extracted from tars, and read-write snapshots on overlayfs (or plain copies)
// whose changes can be exported as OCI layer tars.
package layer
