// Package container owns container records: their configuration, lifecycle state,
// on-disk layout, logs and the OCI runtime spec built from image and host config.
package container
